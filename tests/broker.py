"""A real mosquitto on a free loopback port, for tests (never the system one on 1883)."""

from __future__ import annotations

import os
import pwd
import subprocess
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.commands.broker import find_mosquitto, free_port, stop_process, wait_listening
from edge.errors import BrokerError
from edge.events import EMOTIONS, SlipEvent

__all__ = ["Mosquitto", "Subscriber", "find_mosquitto", "free_port", "make_event"]


class Mosquitto:
    """One broker process: start, stop (SIGTERM), kill (-9), restart on the same port."""

    def __init__(
        self, workdir: Path, *, port: int | None = None, extra: str = "", persistence: bool = False
    ) -> None:
        binary = find_mosquitto()
        if binary is None:
            import pytest

            pytest.skip("mosquitto not installed (.ci/run installs it)")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        """Start and wait until the port accepts connections."""
        conf = self.workdir / "mosquitto.conf"
        extra = self.extra or "allow_anonymous true\n"
        persist = (
            f"persistence true\npersistence_location {self.workdir}/\nmax_queued_messages 100000\n"
            if self.persistence
            else "persistence false\n"
        )
        # Started as root, mosquitto would switch to user "mosquitto" and fail to write here.
        user = f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        conf.write_text(f"listener {self.port} 127.0.0.1\n{user}{persist}{extra}")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT
            )
        proc = self.proc
        try:
            wait_listening(self.port, timeout, lambda: proc.poll() is None)
        except BrokerError as exc:
            raise RuntimeError(f"{exc}: {self.log.read_text()[-2000:]}") from exc
        return self

    def stop(self) -> None:
        """Terminate and wait."""
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without a goodbye."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


def make_event(i: int, device: str = "testdev", t0_ns: int = 0) -> SlipEvent:
    """A valid SlipEvent number ``i`` (unique id), as the spotter would emit it."""
    emotion = EMOTIONS[i % len(EMOTIONS)]
    onset = t0_ns + i * 1_000_000_000
    scores = tuple((e, 0.7 if e == emotion else 0.05) for e in EMOTIONS)
    return SlipEvent(
        id=f"{device}-{i:06d}-{uuid.uuid4().hex[:8]}",
        device=device,
        track_id=1,
        type="micro",
        emotion=emotion,
        confidence=0.7,
        scores=scores,
        onset_ns=onset,
        apex_ns=onset + 150_000_000,
        offset_ns=onset + 350_000_000,
        intensity=0.4,
        action_units=(("AU12", 0.4), ("AU6", 0.2)),
        laterality="both",
        partial=False,
        time=datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


class Subscriber:
    """A paho client collecting messages on topics into per-topic lists, thread-safe."""

    def __init__(self, port: int, topics: list[str], *, host: str = "127.0.0.1") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: dict[str, list[tuple[bytes, bool]]] = {}
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}"
        )

        def on_connect(c: Any, u: Any, f: Any, rc: Any, p: Any) -> None:
            c.subscribe([(t, 1) for t in topics])

        def on_subscribe(c: Any, u: Any, mid: Any, rcs: Any, p: Any) -> None:
            self._subscribed.set()

        def on_message(c: Any, u: Any, msg: Any) -> None:
            with self._cond:
                self.messages.setdefault(msg.topic, []).append((msg.payload, bool(msg.retain)))
                self._cond.notify_all()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(host, port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("subscriber did not subscribe")

    def wait_for(
        self,
        predicate: Callable[[dict[str, list[tuple[bytes, bool]]]], bool],
        timeout: float = 10.0,
    ) -> bool:
        """Block until predicate(messages) holds (re-checked on every message)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.messages), timeout)

    def payloads(self, topic: str) -> list[bytes]:
        """Payloads received on one topic, in order."""
        with self._cond:
            return [p for p, _ in self.messages.get(topic, [])]

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
