"""The device service end to end against a real mosquitto: events, status, outages, kill -9."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config, parse_config
from edge.device.handoff import LatestFrame
from edge.device.notify import Notifier
from edge.device.outbox import Outbox
from edge.device.publisher import Publisher
from edge.device.service import Service
from edge.device.stats import Stats
from edge.device.wiring import serve
from edge.errors import ConfigError, InputError, ModelError, SourceError
from edge.events import validate
from edge.types import FaceFrame
from tests.broker import Mosquitto, Subscriber, free_port
from tests.fake_device import SlipEveryFrame, TickSource

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.broker


@pytest.fixture(autouse=True)
def _no_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never notify a systemd that happens to run the test suite (children inherit this)."""
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


def make_cfg(tmp_path: Path, port: int, device: str = "testdev", **mqtt: Any) -> Config:
    doc = {
        "device": {"id": device},
        "camera": {"source": "synthetic", "fps": 100},
        "mqtt": {"host": "127.0.0.1", "port": port, "stats_interval": 0.2, **mqtt},
        "state": {"dir": str(tmp_path / "state")},
    }
    return parse_config(doc, env={})


def write_toml(path: Path, cfg_port: int, state: Path, device: str = "testdev") -> Path:
    path.write_text(
        f'[device]\nid = "{device}"\n[camera]\nsource = "synthetic"\nfps = 100\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {cfg_port}\nstats_interval = 0.5\n'
        f'[state]\ndir = "{state}"\n'
    )
    return path


def ids_in(sub: Subscriber, topic: str) -> set[str]:
    return {json.loads(p)["id"] for p in sub.payloads(topic)}


def run_in_thread(
    cfg: Config, proc: SlipEveryFrame, src: TickSource, **kw: Any
) -> threading.Thread:
    t = threading.Thread(
        target=serve,
        args=(cfg, proc),
        kwargs={"open_source": lambda: src, "backoff": (0.05, 0.3), **kw},
    )
    t.start()
    return t


def test_events_are_schema_valid_status_retained_online_then_offline(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = make_cfg(tmp_path, mosquitto.port)
    base = cfg.base_topic
    sub = Subscriber(mosquitto.port, [f"{base}/#", "homeassistant/device/#"])
    proc = SlipEveryFrame(40, tail=2)
    thread = run_in_thread(cfg, proc, TickSource(100, 120))
    assert sub.wait_for(lambda m: len(m.get(f"{base}/events", [])) >= 5)
    # A subscriber arriving mid-run finds the retained "online".
    late = Subscriber(mosquitto.port, [f"{base}/status"])
    assert late.wait_for(lambda m: (b"online", True) in m.get(f"{base}/status", []))
    late.close()
    thread.join(30)
    assert not thread.is_alive()
    assert sub.wait_for(lambda m: len(ids_in(sub, f"{base}/events")) >= 42)
    payloads = [json.loads(p) for p in sub.payloads(f"{base}/events")]
    for d in payloads:
        validate(d)
    assert ids_in(sub, f"{base}/events") == {e.id for e in proc.emitted}
    assert sub.wait_for(lambda m: m.get(f"{base}/status", [])[-1][0] == b"offline")
    stats = [json.loads(p) for p in sub.payloads(f"{base}/stats")]
    last = stats[-1]
    # Paced at 100 fps on a busy machine a frame may be dropped in the handoff: it is counted.
    assert last["frames"] + last["dropped_frames"] == 120 and last["slips_total"] == 42
    assert last["faces"] == 1 and last["outbox_depth"] == 0
    assert {"fps", "dropped_frames", "stage_ms", "cpu_temperature_c", "slips_last_hour"} <= set(
        stats[-1]
    )
    disco = sub.payloads("homeassistant/device/testdev/config")
    assert disco and json.loads(disco[0])["cmps"]["slip"]["p"] == "event"
    sub.close()
    after = Subscriber(mosquitto.port, [f"{base}/status"])
    assert after.wait_for(lambda m: m.get(f"{base}/status") == [(b"offline", True)])
    after.close()


def test_broker_restart_during_600_events_loses_no_id(tmp_path: Path) -> None:
    # The broker keeps sessions on disk (as a production broker does) so that the test
    # subscriber's own queue survives; what is under test is that the device re-sends
    # everything the broker had not acknowledged and everything produced during the outage.
    broker = Mosquitto(tmp_path / "b", persistence=True)
    broker.workdir.mkdir()
    broker.start()
    cfg = make_cfg(tmp_path, broker.port)
    sub = PersistentSubscriber(broker.port, f"{cfg.base_topic}/events")
    proc = SlipEveryFrame(600)
    box = Outbox(tmp_path / "o.db")
    pub = Publisher(cfg, box, backoff=(0.05, 0.3))
    # Paced at 200 fps; however many frames a busy machine drops, the stream goes on until
    # the 600th event, and the broker is away for events ~100 to >= 300.
    svc = Service(cfg, proc, lambda: TickSource(200, 10**6), box, pub)
    pub.start()
    thread = threading.Thread(target=svc.run)
    thread.start()
    try:
        assert sub.wait_count(100)
        broker.stop()
        assert _wait_until(lambda: len(proc.emitted) >= 300, 30)
        assert not pub.connected.is_set()
        broker.start()
        assert _wait_until(lambda: len(proc.emitted) >= 600, 30)
        svc.stop()
        thread.join(30)
        assert sub.wait_count(600, timeout=30), f"got {len(sub.ids)} of 600"
        assert sub.ids == {e.id for e in proc.emitted}
        assert box.depth == 0 and pub.connects >= 2
    finally:
        svc.stop()
        thread.join(30)
        box.close()
        sub.close()
        broker.stop()


def _wait_until(predicate: Any, timeout: float) -> bool:
    # Polls a counter of our own fake processor, which has no event to wait on.
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class PersistentSubscriber:
    """A QoS 1 subscriber with a persistent session that reconnects by itself."""

    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.ids: set[str] = set()
        self.cond = threading.Condition()
        ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="persist-sub", clean_session=False)
        c.reconnect_delay_set(0.05, 0.2)
        c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
        c.on_subscribe = lambda c, u, mid, rcs, p: ready.set()

        def on_message(c: Any, u: Any, msg: Any) -> None:
            with self.cond:
                self.ids.add(json.loads(msg.payload)["id"])
                self.cond.notify_all()

        c.on_message = on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert ready.wait(10)
        self.client = c

    def wait_count(self, n: int, timeout: float = 15) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.ids) >= n, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextlib.contextmanager
def _child(config: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_device", str(config), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def _read_stored(proc: subprocess.Popen[str], n: int) -> list[str]:
    assert proc.stdout is not None
    ids: list[str] = []
    for line in proc.stdout:
        if line.startswith("stored "):
            ids.append(line.split()[1])
            if len(ids) >= n:
                break
    return ids


def test_last_will_offline_on_kill_9(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = write_toml(tmp_path / "c.toml", mosquitto.port, tmp_path / "state")
    status = "microslip/testdev/status"
    sub = Subscriber(mosquitto.port, [status])
    with _child(config, "--events", "1000", "--fps", "50") as child:
        assert len(_read_stored(child, 3)) == 3
        assert sub.wait_for(lambda m: any(p == b"online" for p, _ in m.get(status, [])))
        child.kill()
        child.wait(10)
        assert sub.wait_for(lambda m: m.get(status, [])[-1][0] == b"offline")
    sub.close()
    after = Subscriber(mosquitto.port, [status])
    assert after.wait_for(lambda m: m.get(status) == [(b"offline", True)])
    after.close()


def test_device_kill_9_then_restart_delivers_queued_events(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)  # not started: the device stores while the broker is away
    config = write_toml(tmp_path / "c.toml", broker.port, tmp_path / "state")
    with _child(config, "--events", "10000", "--fps", "200") as child:
        stored = _read_stored(child, 50)
        child.kill()
    assert len(stored) == 50
    broker.start()
    try:
        sub = Subscriber(broker.port, ["microslip/testdev/events"])
        with _child(config, "--events", "0", "--frames", "20") as again:
            assert again.wait(30) == 0
        assert sub.wait_for(lambda m: set(stored) <= ids_in(sub, "microslip/testdev/events"))
        sub.close()
        with Outbox(tmp_path / "state" / "outbox.db") as box:
            assert box.depth == 0
    finally:
        broker.stop()


def test_sigterm_finishes_flushes_and_publishes_offline(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    config = write_toml(tmp_path / "c.toml", mosquitto.port, tmp_path / "state")
    sub = Subscriber(mosquitto.port, ["microslip/testdev/#"])
    with _child(config, "--events", "100000", "--fps", "100") as child:
        stored = _read_stored(child, 20)
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0
        assert child.stdout is not None
        stored += [ln.split()[1] for ln in child.stdout if ln.startswith("stored ")]
    assert sub.wait_for(lambda m: set(stored) <= ids_in(sub, "microslip/testdev/events"))
    assert sub.wait_for(lambda m: m.get("microslip/testdev/status", [])[-1][0] == b"offline")
    sub.close()


def test_handoff_drops_and_counts_when_processing_is_slow(tmp_path: Path) -> None:
    class Slow(SlipEveryFrame):
        def process(self, frame: Any) -> Any:
            time.sleep(0.03)  # 30 ms per frame against a 5 ms frame period
            return super().process(frame)

    cfg = make_cfg(tmp_path, free_port())
    proc = Slow(0)
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, proc, lambda: TickSource(200, 200), box, None)
        assert svc.run() == 0
    assert svc.captured == 200
    assert proc.frames + svc.dropped_frames == 200  # every frame processed or counted
    assert svc.dropped_frames > 100 and svc.overruns == proc.frames


def test_latest_frame_slot_keeps_only_newest() -> None:
    slot = LatestFrame()
    src = list(TickSource(30, 3))
    for f in src:
        slot.put(f)
    assert slot.take(0.1) is src[2] and slot.dropped == 2
    assert slot.take(0.01) is None
    slot.close()
    assert slot.closed and slot.take(1.0) is None


def test_file_source_loops_when_asked(tmp_path: Path) -> None:
    doc = {"device": {"id": "d"}, "camera": {"source": "synthetic", "loop": True},
           "state": {"dir": str(tmp_path)}}  # fmt: skip
    cfg = parse_config(doc, env={})
    proc = SlipEveryFrame(0)
    opened: list[TickSource] = []

    def opener() -> TickSource:
        opened.append(TickSource(500, 50))
        if len(opened) == 3:
            svc.stop()
        return opened[-1]

    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, proc, opener, box, None, realtime=False)
        svc.run()
    assert len(opened) == 3 and all(s.closed for s in opened)
    assert proc.frames >= 100  # two full passes, timestamps kept increasing across passes


def test_systemd_notify_ready_watchdog_status(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(5)
    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, SlipEveryFrame(0), lambda: TickSource(100, 30), box, None,
                      notifier=Notifier(str(sock_path)))  # fmt: skip
        svc.run()
    messages = []
    server.setblocking(False)
    while True:
        try:
            messages.append(server.recv(4096).decode())
        except BlockingIOError:
            break
    server.close()
    assert messages[0].startswith("READY=1")
    assert "WATCHDOG=1" in messages
    assert any(m.startswith("STATUS=") and "fps" in m for m in messages)
    assert messages[-1].startswith("STATUS=") or messages[-1] == "STOPPING=1"


def test_listener_hook_sees_events_and_stats(tmp_path: Path) -> None:
    seen: dict[str, list[Any]] = {"events": [], "stats": []}

    class Recorder:
        def on_event(self, event: Any) -> None:
            seen["events"].append(event.id)

        def on_stats(self, stats: Stats) -> None:
            seen["stats"].append(stats)

    cfg = make_cfg(tmp_path, free_port())
    proc = SlipEveryFrame(5)
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, proc, lambda: TickSource(100, 10), box, None)
        svc.add_listener(Recorder())
        svc.run()
        assert box.depth == 5  # no publisher: everything waits, durably
    assert seen["events"] == [e.id for e in proc.emitted]
    assert seen["stats"][-1].slips_total == 5


def test_idle_duty_cycle_when_nobody_is_in_view(tmp_path: Path) -> None:
    class Empty(SlipEveryFrame):
        """No face for frames 100-399, a face before and after."""

        def process(self, frame: Any) -> Any:
            step = super().process(frame)
            if 100 <= frame.index < 400:
                return dataclasses.replace(step, face_frame=FaceFrame(frame.index, frame.t_ns, ()))
            return step

    doc = {"device": {"id": "d"}, "camera": {"source": "synthetic"}, "pipeline": {"idle_every": 4},
           "state": {"dir": str(tmp_path)}}  # fmt: skip
    cfg = parse_config(doc, env={})
    proc = Empty(0)
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, proc, lambda: TickSource(100, 500), box, None, realtime=False)
        svc.run()
    # From frame 199 (1 s after the last face, frame 99) every 4th frame is processed: 151 of
    # frames 199-399 are skipped; the face back at 400 is found at 402 (2 more skipped).
    assert svc.idle_skipped == 153 and proc.frames == 500 - 153
    assert svc.faces == 1 and svc.dropped_frames == 0


def test_camera_that_vanishes_ends_the_run_with_its_error_and_keeps_events(
    tmp_path: Path,
) -> None:
    class Vanishing(TickSource):
        def __iter__(self) -> Iterator[Any]:
            for i, frame in enumerate(super().__iter__()):
                if i == 20:
                    raise SourceError("camera: stopped delivering frames")
                yield frame

    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, SlipEveryFrame(5), lambda: Vanishing(100, 100), box, None)
        with pytest.raises(SourceError, match="stopped delivering"):
            svc.run()
        assert box.depth == 5  # stored before the camera went away: kept for the next start


def test_stalled_camera_stops_the_watchdog_but_not_status(tmp_path: Path) -> None:
    release = threading.Event()

    class Stalling(TickSource):
        def __iter__(self) -> Iterator[Any]:
            for i, frame in enumerate(super().__iter__()):
                if i == 10:
                    release.wait(10)  # the camera hangs without an error
                yield frame

    sock_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(0.2)
    received: list[tuple[float, str]] = []

    def collect() -> None:
        while not release.is_set() or len(received) < 1000:
            try:
                received.append((time.monotonic(), server.recv(4096).decode()))
            except TimeoutError:
                if release.is_set():
                    return

    collector = threading.Thread(target=collect)
    collector.start()
    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, SlipEveryFrame(0), lambda: Stalling(100, 20), box, None,
                      notifier=Notifier(str(sock_path)))  # fmt: skip
        runner = threading.Thread(target=svc.run)
        runner.start()
        # wait until the stall began (10 frames in), then watch 2.5 s of silence
        assert _wait_until(lambda: any(m == "WATCHDOG=1" for _, m in received), 10)
        stall_start = time.monotonic()
        time.sleep(2.5)  # the behaviour under test is the absence of messages over time
        release.set()
        runner.join(10)
    collector.join(10)
    server.close()
    during = [m for t, m in received if stall_start + 0.1 < t < stall_start + 2.3]
    assert not any(m == "WATCHDOG=1" for m in during)
    assert sum(m.startswith("STATUS=") for m in during) >= 3  # the loop itself is alive


def test_full_disk_is_logged_counted_and_survived(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_cfg(tmp_path, free_port())
    proc = SlipEveryFrame(30)
    with Outbox(tmp_path / "o.db") as box:
        box.put("old", "t", b"kept")
        # SQLite's page limit raises the same SQLITE_FULL as a full disk under the state dir.
        pages = box._db.execute("PRAGMA page_count").fetchone()[0]
        box._db.execute(f"PRAGMA max_page_count = {pages}")
        svc = Service(cfg, proc, lambda: TickSource(100, 40), box, None, realtime=False)
        assert svc.run() == 0  # the loop keeps going
        assert svc.frames == 40 and svc.slips == 30
        # nothing lost: what the disk refused was held in memory, and the shutdown's last
        # try (a fresh connection, without the page limit) stored it
        assert svc.store_errors > 20 and box.in_memory == 0 and box.depth == 31
        assert box.pending(1)[0].id == "old" and box.lost == 0
    assert "cannot store event" in caplog.text and "full" in caplog.text
    assert svc.stats().store_errors == svc.store_errors


def test_a_corrupt_model_stops_the_run_at_the_first_frame(tmp_path: Path) -> None:
    class NoModel(SlipEveryFrame):
        def process(self, frame: Any) -> Any:
            raise ModelError("model face_landmark.tflite failed verification (truncated)")

    cfg = make_cfg(tmp_path, free_port())
    proc = NoModel(0)
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, proc, lambda: TickSource(100, 50), box, None, realtime=False)
        with pytest.raises(ModelError, match="face_landmark.tflite"):
            svc.run()
    assert svc.failed_frames == 0


def test_second_service_on_the_same_state_dir_refuses_to_start(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, free_port())
    first = run_in_thread(cfg, SlipEveryFrame(0), TickSource(100, 300))  # 3 s, paced
    lock = cfg.state.dir / "microslip.lock"
    assert _wait_until(lambda: lock.is_file() and lock.read_text().strip(), 10)
    second = SlipEveryFrame(3)
    with pytest.raises(ConfigError, match=r"in use by another running microslip \(pid \d+"):
        serve(cfg, second, open_source=lambda: TickSource(100, 5))
    assert second.frames == 0
    first.join(30)
    assert not first.is_alive()
    # the lock goes with the service that held it
    serve(cfg, second, open_source=lambda: TickSource(100, 5), realtime=False)
    assert second.frames == 5


def test_unusable_state_dir_is_a_config_error_before_anything_runs(tmp_path: Path) -> None:
    # (a junk outbox.db is set aside and replaced: tests/test_faults.py)
    cfg = make_cfg(tmp_path, free_port())
    cfg.state.dir.write_text("a file where the state dir should be")
    proc = SlipEveryFrame(3)
    with pytest.raises(ConfigError, match=r"state\.dir: cannot create .*microslip\.lock"):
        serve(cfg, proc, open_source=lambda: TickSource(100, 5))
    assert proc.frames == 0


def test_bad_frames_are_counted_and_skipped_a_broken_pipeline_is_fatal(tmp_path: Path) -> None:
    class Picky(SlipEveryFrame):
        def __init__(self, bad: set[int]) -> None:
            super().__init__(0)
            self.bad = bad

        def process(self, frame: Any) -> Any:
            if frame.index in self.bad:
                raise InputError(f"image must be uint8 RGB (frame {frame.index})")
            return super().process(frame)

    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, Picky({3, 7, 8}), lambda: TickSource(100, 20), box, None,
                      realtime=False)  # fmt: skip
        assert svc.run() == 0
        assert svc.failed_frames == 3 and svc.frames == 17
        broken = Service(cfg, Picky(set(range(1000))), lambda: TickSource(100, 500), box, None,
                         realtime=False)  # fmt: skip
        with pytest.raises(InputError):
            broken.run()
        assert broken.failed_frames == 100


def test_stats_count_appearance_readings_of_the_real_pipeline(
    tmp_path: Path, pyfeat_dir: Path, face_models: Path
) -> None:
    from edge.pipeline import Pipeline
    from edge.sources import open_source

    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(
            cfg,
            Pipeline(device_id="testdev"),
            lambda: open_source(pyfeat_dir / "single_face.mp4"),
            box,
            None,
            realtime=False,
        )
        svc.run()
        stats = svc.stats()
    # 72 frames at 30 fps, one face read at 2.5-10 Hz (at rest / moving): 6-25 readings, the face
    # never skipped
    assert 6 <= stats.appearance_readings <= 25, stats
    assert stats.appearance_skipped == 0
    assert stats.to_dict()["appearance_readings"] == stats.appearance_readings
    # the fake processor looks at no pixels: nothing counted
    with Outbox(tmp_path / "o2.db") as box:
        fake = Service(cfg, SlipEveryFrame(1), lambda: TickSource(100, 10), box, None)
        fake.run()
        assert fake.stats().appearance_readings == 0
