"""The live page in a real headless Chromium while `microslip run` replays a real clip.

Real service process, real mosquitto, real models on single_face.mp4 (a smile), web and
motion enabled. The page must list the slips the broker carried, with the same emotion,
keep receiving new ones live, and animate the slip's wireframe (screenshot checked).
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.broker import Mosquitto, Subscriber, free_port
from tests.web_support import wait_for
from tests.webdriver import Browser, open_browser

REPO = Path(__file__).resolve().parents[1]
DEVICE = "browser-pi"
pytestmark = [pytest.mark.slow, pytest.mark.broker]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    yield from open_browser(tmp_path)


@pytest.fixture
def service(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[tuple[int, Subscriber]]:
    """`microslip run` looping single_face.mp4 in real time with [web] and motion enabled."""
    from edge.runtime.downloads import pyfeat_data_dir

    web_port = free_port()
    clip = pyfeat_data_dir() / "single_face.mp4"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nid = "{DEVICE}"\nname = "Browser Pi"\n'
        f'[camera]\nsource = "{clip}"\nloop = true\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nstats_interval = 0.5\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n'
        f"[events]\ninclude_motion = true\n"
        f"[web]\nenabled = true\nport = {web_port}\n"
    )
    sub = Subscriber(mosquitto.port, [f"microslip/{DEVICE}/events"])
    log = open(tmp_path / "service.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "-v", "run", "--config", str(config)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        up = wait_for(lambda: _status(web_port) is not None, timeout=60, step=0.2)
        assert up, (tmp_path / "service.log").read_text()[-3000:]
        yield web_port, sub
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
        sub.close()


def _status(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
            data: dict[str, object] = json.loads(r.read())
            return data
    except OSError:
        return None


def _mqtt_events(sub: Subscriber) -> dict[str, dict[str, object]]:
    return {e["id"]: e for e in (json.loads(p) for p in sub.payloads(f"microslip/{DEVICE}/events"))}


ROWS_JS = """return Array.from(document.querySelectorAll('#slips tbody tr')).map(
  (tr) => ({id: tr.dataset.id, emotion: tr.dataset.emotion,
            shown: tr.querySelector('.emotion').textContent}));"""


def test_live_page_shows_broker_slips_and_animates_motion(
    service: tuple[int, Subscriber], browser: Browser
) -> None:
    from PIL import Image

    port, sub = service
    assert sub.wait_for(lambda m: bool(m), timeout=60), "no slip reached the broker"
    browser.get(f"http://127.0.0.1:{port}/")
    rows = browser.wait(ROWS_JS.replace("return ", "const r = ") + "return r.length && r;", 30)
    # The clip loops: a slip spotted after the page opened must arrive live over SSE.
    seen = {r["id"] for r in rows}
    later = browser.wait(
        ROWS_JS.replace("return ", "const r = ")
        + f"return r.filter((x) => !{json.dumps(sorted(seen))}.includes(x.id)).length && r;",
        60,
    )
    # The page may show a slip a moment before the broker delivers it: wait for all of them.
    ids = {r["id"] for r in later}
    topic = f"microslip/{DEVICE}/events"
    sub.wait_for(lambda m: ids <= {json.loads(p)["id"] for p, _ in m.get(topic, [])}, 15)
    mqtt = _mqtt_events(sub)
    for row in later:
        assert row["id"] in mqtt, "the page shows a slip the broker never carried"
        assert row["emotion"] == row["shown"] == mqtt[row["id"]]["emotion"]
    assert "happiness" in {r["emotion"] for r in later}  # the clip is a smile
    assert browser.run("return document.getElementById('status').textContent") == "online"
    assert browser.wait("return document.querySelectorAll('#stats dt').length > 3")

    # Click a smile with recorded motion: it is replayed on the canvas at 1/10 speed. (The
    # loop seam of the clip can add other slips; the newest one is not necessarily a smile.)
    clicked = browser.run(
        "const tr = document.querySelector("
        "'#slips tbody tr[data-emotion=happiness]:not(.nomotion)');"
        "if (!tr) return null; tr.click(); return tr.dataset.id;"
    )
    assert clicked in mqtt and "motion" in mqtt[clicked]
    caption = browser.wait(
        "const c = document.getElementById('replay-caption').textContent;"
        "return c.startsWith('happiness') && c;"
    )
    assert "mouth" in caption  # the smile moves the mouth, and the page says so
    drawn = browser.run("return Number(document.getElementById('wireframe').dataset.framesDrawn)")
    assert browser.wait(
        f"return Number(document.getElementById('wireframe').dataset.framesDrawn) > {drawn + 20}"
    )
    aus = browser.run(
        "return Array.from(document.querySelectorAll('#replay-aus li'), (li) => li.textContent)"
    )
    assert any("lip corner puller" in a or "cheek raiser" in a for a in aus)  # FACS names shown
    png = browser.element_png("#wireframe")
    px = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    assert px.shape[0] > 100 and px.shape[1] > 100
    background = np.abs(px - np.array([250, 250, 248])).max(axis=2) <= 3
    assert (~background).mean() > 0.01  # strokes were drawn
    red = (px[..., 0] > 170) & (px[..., 1] < 110) & (px[..., 2] < 110)
    assert red.sum() > 50  # the moving region (mouth) is highlighted
    assert "pixels" not in json.dumps(_status(port))  # the API never carries images
