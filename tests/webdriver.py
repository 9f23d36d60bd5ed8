"""A minimal W3C WebDriver client for Debian's chromium + chromedriver (no Selenium needed).

Only what the browser test uses: start chromedriver, open a headless session, navigate,
run a script, screenshot an element. The protocol is plain JSON over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.broker import free_port

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ELEMENT_KEY = "element-6066-11e4-a061-623e5f2d5ec2"  # fixed by the W3C spec


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = next((p for p in CHROMIUM if Path(p).exists()), None)
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    return (browser, driver) if browser and driver else None


class WebDriverError(RuntimeError):
    """A WebDriver command failed (the message is the driver's)."""


class Browser:
    """One headless chromium session driven through chromedriver."""

    def __init__(self, browser: str, driver: str, log_path: Path, size: str = "1200,900") -> None:
        self.port = free_port()
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [driver, f"--port={self.port}"], stdout=self._log, stderr=subprocess.STDOUT
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = ""
        try:
            self._wait_ready()
            args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
            caps = {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": browser, "args": [*args, f"--window-size={size}"]},
            }
            value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
            self.session = value["sessionId"]
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if self._call("GET", "/status").get("ready"):
                    return
            except (OSError, WebDriverError):
                pass
            time.sleep(0.1)
        raise WebDriverError("chromedriver did not become ready")

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read())["value"]
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("value", {})
            exc.close()
            raise WebDriverError(f"{method} {path}: {detail.get('message', exc)}") from None

    def get(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run a synchronous script in the page and return its value."""
        return self._call(
            "POST", f"/session/{self.session}/execute/sync", {"script": script, "args": list(args)}
        )

    def wait(self, script: str, timeout: float = 30.0, step: float = 0.2) -> Any:
        """Poll a script until it returns a truthy value; raise on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.run(script)
            if value:
                return value
            time.sleep(step)
        raise WebDriverError(f"timed out waiting for: {script}")

    def element_png(self, css: str) -> bytes:
        """PNG screenshot of the first element matching a CSS selector."""
        el = self._call(
            "POST", f"/session/{self.session}/element", {"using": "css selector", "value": css}
        )
        # W3C drivers key the reference by ELEMENT_KEY; older JSON-wire ones by "ELEMENT".
        ref = el.get(ELEMENT_KEY) or el.get("ELEMENT") or next(iter(el.values()))
        shot = self._call("GET", f"/session/{self.session}/element/{ref}/screenshot")
        return base64.b64decode(shot)

    def press(self, key: str) -> None:
        """Press and release one key in the focused page (W3C key actions)."""
        acts = [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
        self._call(
            "POST",
            f"/session/{self.session}/actions",
            {"actions": [{"type": "key", "id": "keyboard", "actions": acts}]},
        )

    def close(self) -> None:
        """End the session and chromedriver."""
        if self.session:
            with contextlib.suppress(OSError, WebDriverError):
                self._call("DELETE", f"/session/{self.session}", timeout=10)
            self.session = ""
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._log.close()


def open_browser(tmp_path: Path) -> Iterator[Browser]:
    """A pytest fixture body: a headless Browser, skipped when Debian's chromium is missing."""
    import pytest

    found = find_browser()
    if found is None:
        pytest.skip("chromium/chromedriver not installed (.ci/run installs Debian's)")
    b = Browser(*found, log_path=tmp_path / "chromedriver.log")
    try:
        yield b
    finally:
        b.close()
