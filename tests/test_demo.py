"""``microslip demo``, ``tail`` and ``check`` end to end: real clip, real pipeline, real broker."""

from __future__ import annotations

import contextlib
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.cli import main
from edge.commands.broker import EmbeddedBroker
from edge.commands.tail import format_message
from edge.events import event_to_json
from edge.runtime.downloads import pyfeat_data_dir
from tests.broker import Mosquitto, Subscriber, make_event

pytestmark = pytest.mark.broker


@pytest.fixture(autouse=True)
def _no_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never notify a systemd that happens to run the test suite (children inherit this)."""
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        monkeypatch.delenv(name, raising=False)


REPO = Path(__file__).resolve().parents[1]


def _microslip(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def _summary_numbers(stdout: str) -> tuple[int, int]:
    line = next(ln for ln in stdout.splitlines() if ln.strip().startswith("slips"))
    words = line.split()
    return int(words[1]), int(words[3])  # "slips N stored, M received by the subscriber"


def test_demo_with_embedded_broker_delivers_every_event() -> None:
    clip = pyfeat_data_dir() / "single_face.mp4"
    out = _microslip("demo", "--clip", str(clip))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "broker: embedded" in out.stdout and "summary" in out.stdout
    stored, received = _summary_numbers(out.stdout)
    assert received == stored
    assert out.stdout.count("received  ") >= stored  # each event printed as it arrives
    assert "72 frames played" in out.stdout  # the whole clip, at its own rate


def test_demo_with_given_broker(mosquitto: Mosquitto) -> None:
    clip = pyfeat_data_dir() / "single_face.mp4"
    sub = Subscriber(mosquitto.port, ["microslip/demo/#"])
    out = _microslip("demo", "--clip", str(clip), "--host", "127.0.0.1",
                     "--port", str(mosquitto.port), "--fast")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    stored, received = _summary_numbers(out.stdout)
    assert received == stored
    assert sub.wait_for(lambda m: m.get("microslip/demo/status", [])[-1][0] == b"offline")
    assert len(sub.payloads("microslip/demo/events")) >= stored
    sub.close()


def test_demo_refuses_unreachable_given_broker() -> None:
    out = _microslip("demo", "--host", "127.0.0.1", "--port", "1", timeout=60)
    assert out.returncode != 0 and "no MQTT broker answers at 127.0.0.1:1" in out.stderr


# amqtt 0.12 does not close the server side of a client connection it has seen disconnect.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_embedded_amqtt_fallback_carries_messages() -> None:
    pytest.importorskip("amqtt")
    with EmbeddedBroker(prefer="amqtt") as broker:
        assert broker.kind == "amqtt" and broker.protocol == "3.1.1"
        sub = Subscriber(broker.port, ["x/#"])
        sub.client.publish("x/y", "hello", qos=1).wait_for_publish(5)
        assert sub.wait_for(lambda m: m.get("x/y") == [(b"hello", False)])
        sub.close()
    gc.collect()  # let amqtt's leftovers warn here, inside the filter, not in a later test


def test_demo_clip_that_is_missing_or_a_directory_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--clip", str(tmp_path / "nope.mp4")]) == 4
    assert "--clip: file not found" in capsys.readouterr().err
    assert main(["demo", "--clip", str(tmp_path)]) == 4
    assert "--clip: is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "-5", "70000"])
def test_tail_rejects_a_port_out_of_range(port: str) -> None:
    out = _microslip("tail", "--host", "127.0.0.1", "--port", port, "--timeout", "1")
    assert out.returncode == 2
    assert f"--port must be between 1 and 65535, got {port}" in out.stderr


def test_tail_prints_events_and_status(mosquitto: Mosquitto) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge",
            "tail",
            "--host",
            "127.0.0.1",
            "--port",
            str(mosquitto.port),
            "--count",
            "2",
            "--timeout",
            "30",
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    pub = Subscriber(mosquitto.port, ["unused/#"])  # a plain client to publish with
    events = [make_event(i, "kitchen") for i in range(2)]
    deadline = time.monotonic() + 30
    # tail subscribes asynchronously: retained status tells us nothing, so keep offering
    # the events until tail has counted two of them and exits.
    while proc.poll() is None and time.monotonic() < deadline:
        for ev in events:
            pub.client.publish("microslip/kitchen/events", event_to_json(ev), qos=1)
        pub.client.publish("microslip/kitchen/status", "online", qos=1).wait_for_publish(5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.5)
    out, err = proc.communicate(timeout=10)
    pub.close()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert any("kitchen micro happiness" in ln and events[0].id in ln for ln in lines), out


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("events", {"confidence": "high"}),
        ("events", {"duration_ms": None}),
        ("events", {"action_units": 5}),
        ("events", {"action_units": {"AU12": "strong"}}),
        ("stats", {"cpu_temperature_c": "hot"}),
    ],
)
def test_format_message_survives_foreign_payloads(kind: str, payload: dict[str, object]) -> None:
    line = format_message(f"microslip/pi/{kind}", json.dumps(payload).encode())
    assert f"pi {kind} (unexpected fields) {{" in line


def test_format_message_stats_and_garbage() -> None:
    stats = {"fps": 29.9, "faces": 1, "dropped_frames": 3, "slips_last_hour": 2,
             "outbox_depth": 0, "cpu_temperature_c": 51.2}  # fmt: skip
    line = format_message("microslip/pi/stats", json.dumps(stats).encode())
    assert "pi stats fps 29.9 faces 1 dropped 3" in line and "51.2°C" in line
    assert "(not JSON)" in format_message("microslip/pi/events", b"{oops")


def test_check_reports_each_item_and_fails_on_missing_broker(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[device]\nid = "chk"\n[camera]\nsource = "synthetic"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = 1\n[state]\ndir = "{tmp_path / "state"}"\n'
    )
    out = _microslip("check", "--config", str(cfg), "--timeout", "2", timeout=60)
    assert out.returncode == 1
    assert "ok    config" in out.stdout and "ok    camera" in out.stdout
    assert "ok    state" in out.stdout
    assert "FAIL  broker  127.0.0.1:1: ConnectionRefusedError" in out.stdout


def test_check_passes_with_broker(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[device]\nid = "chk"\n[camera]\nsource = "{pyfeat_data_dir() / "single_face.mp4"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n'
    )
    out = _microslip("check", "--config", str(cfg), timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok    models" in out.stdout and "sha256 verified" in out.stdout
    assert "first frame 640x360" in out.stdout and "all checks passed" in out.stdout


def test_run_plays_a_clip_through_the_service_and_exits_after_flushing(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[device]\nid = "cli"\n[camera]\nsource = "{pyfeat_data_dir() / "single_face.mp4"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nstats_interval = 1\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n'
    )
    sub = Subscriber(mosquitto.port, ["microslip/cli/#"])
    out = _microslip("run", "--config", str(cfg), timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sub.wait_for(lambda m: m.get("microslip/cli/status", [])[-1][0] == b"offline")
    stats = [json.loads(p) for p in sub.payloads("microslip/cli/stats")]
    last = stats[-1]
    assert last["frames"] + last["dropped_frames"] + last["idle_skipped"] == 72
    assert last["outbox_depth"] == 0 and last["faces"] >= 1
    events = [json.loads(p) for p in sub.payloads("microslip/cli/events")]
    assert len({e["id"] for e in events}) == last["slips_total"]
    sub.close()
