"""A throwaway MQTT broker on 127.0.0.1 for ``microslip demo``: mosquitto if installed, else amqtt.

mosquitto is preferred because it speaks MQTT 5 like a production broker; amqtt (pure
Python, MQTT 3.1.1 only, the ``demo`` extra) is the fallback that needs no system package.
Never for production: anonymous, no persistence, loopback only.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge.errors import BrokerError

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary (PATH or Debian's /usr/sbin), or None."""
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait up to 5 s, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_listening(port: int, timeout: float, alive: Any) -> None:
    """Return once 127.0.0.1:port accepts TCP; BrokerError when ``alive()`` fails or time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise BrokerError("embedded broker exited during start-up")
        if reachable("127.0.0.1", port, timeout=0.2):
            return
        time.sleep(0.05)
    raise BrokerError(f"embedded broker did not listen on 127.0.0.1:{port} within {timeout:g} s")


class EmbeddedBroker:
    """Start with :meth:`start`, stop with :meth:`stop` (also a context manager)."""

    def __init__(self, prefer: str = "mosquitto") -> None:
        self.prefer = prefer
        self.port = 0
        self.kind = ""
        self.protocol = "5"
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._amqtt: Any = None

    def start(self) -> EmbeddedBroker:
        """Start a broker on a free loopback port; raises BrokerError if none is available."""
        binary = find_mosquitto()
        order = ["mosquitto", "amqtt"] if self.prefer == "mosquitto" else ["amqtt", "mosquitto"]
        errors: list[str] = []
        for kind in order:
            try:
                if kind == "mosquitto" and binary:
                    self._start_mosquitto(binary)
                    return self
                if kind == "amqtt":
                    self._start_amqtt()
                    return self
            except (BrokerError, ImportError, OSError) as exc:
                errors.append(f"{kind}: {exc}")
                self.stop()
        raise BrokerError(
            "cannot start an embedded MQTT broker ("
            + ("; ".join(errors) or "mosquitto not installed")
            + "); install mosquitto or `pip install microslip[demo]`, or pass --host"
        )

    def _start_mosquitto(self, binary: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="microslip-broker-")
        self.port = free_port()
        conf = Path(self._tmp.name) / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self._proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        proc = self._proc
        wait_listening(self.port, 10.0, lambda: proc.poll() is None)
        self.kind, self.protocol = "mosquitto", "5"
        log.info("embedded mosquitto on 127.0.0.1:%d", self.port)

    def _start_amqtt(self) -> None:
        from amqtt.broker import Broker

        self.port = free_port()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._amqtt = Broker(config, loop=loop)
                loop.run_until_complete(self._amqtt.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        self._thread = threading.Thread(target=main, name="amqtt", daemon=True)
        self._thread.start()
        started.wait(15)
        if failure:
            raise BrokerError(f"amqtt failed to start: {failure[0]}")
        wait_listening(
            self.port, 10.0, lambda: self._thread is not None and self._thread.is_alive()
        )
        self.kind, self.protocol = "amqtt", "3.1.1"
        log.info("embedded amqtt on 127.0.0.1:%d", self.port)

    def stop(self) -> None:
        """Stop whichever broker runs."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._loop is not None and self._amqtt is not None:
            fut = asyncio.run_coroutine_threadsafe(self._amqtt.shutdown(), self._loop)
            try:
                fut.result(10)
            except Exception as exc:  # shutting down a demo broker: log, do not fail the demo
                log.debug("amqtt shutdown: %s", exc)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)
            # amqtt leaves per-connection tasks behind: cancel them before closing the loop.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()
        self._loop = None
        self._amqtt = None
        self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
