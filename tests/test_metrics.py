"""Prometheus /metrics: config, what a scrape says against the service and its MQTT stats,
histogram semantics, temperature, a busy port, and zero cost when off (the Grafana and Telegraf
examples: tests/test_grafana.py; a real Prometheus: tests/test_prometheus.py)."""

from __future__ import annotations

import collections
import json
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import edge
from edge.config import Config, parse_config
from edge.device.metrics import (
    BUCKETS,
    DeviceCollector,
    LoopMetrics,
    MetricsServer,
    attach_metrics,
    build_info,
    make_registry,
)
from edge.device.outbox import Outbox
from edge.device.publisher import Publisher
from edge.device.service import Service
from edge.device.wiring import serve
from edge.errors import ConfigError
from edge.events import EMOTIONS
from edge.runtime.manifest import spec
from tests.broker import Mosquitto, Subscriber, free_port
from tests.fake_device import SlipEveryFrame, TickSource

REPO = Path(__file__).resolve().parents[1]


def make_cfg(tmp_path: Path, mqtt_port: int, metrics_port: int = 0, **metrics: Any) -> Config:
    doc = {
        "device": {"id": "metricsdev"},
        "camera": {"source": "synthetic", "fps": 100},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "stats_interval": 0.2},
        "state": {"dir": str(tmp_path / "state")},
        "metrics": {"enabled": True, "port": metrics_port, **metrics},
    }
    return parse_config(doc, env={})


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], name: str, **labels: str) -> float:
    """The one sample called ``name`` (sample name, e.g. ``x_total``) with these labels."""
    found = [
        s.value
        for f in fams.values()
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, found)
    return float(found[0])


def get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return str(resp.read().decode())


def scrape_text_of_a_finished_run(tmp_path: Path, thermal_root: Path | None = None) -> str:
    """The exposition after 60 frames with 12 slips, no broker (the publisher never started)."""
    cfg = make_cfg(tmp_path, free_port())
    (tmp_path / "state").mkdir(exist_ok=True)
    with Outbox(tmp_path / "state" / "outbox.db") as box:
        publisher = Publisher(cfg, box)
        svc = Service(cfg, SlipEveryFrame(12), lambda: TickSource(100, 60), box, None)
        loop = LoopMetrics()
        svc.metrics = loop
        svc.add_listener(loop)
        svc.run()
        kw = {"thermal_root": thermal_root} if thermal_root is not None else {}
        collector = DeviceCollector(loop, svc, publisher, build_info(cfg), **kw)
        return generate_latest(make_registry(collector)).decode()


# ---------------------------------------------------------------------------- config
def test_metrics_config_defaults_off_and_errors_name_the_key(tmp_path: Path) -> None:
    base = {"camera": {"source": "synthetic"}, "state": {"dir": str(tmp_path)}}
    cfg = parse_config(base, env={})
    assert (cfg.metrics.enabled, cfg.metrics.bind, cfg.metrics.port) == (False, "127.0.0.1", 9108)
    on = parse_config(
        {**base, "metrics": {"enabled": True, "bind": "0.0.0.0", "port": 9200}}, env={}
    )
    assert (on.metrics.enabled, on.metrics.bind, on.metrics.port) == (True, "0.0.0.0", 9200)
    for bad, key in (
        ({"enabled": "yes"}, "metrics.enabled"),
        ({"port": 70000}, "metrics.port"),
        ({"bind": "a b"}, "metrics.bind"),
        ({"path": "/metrics"}, "metrics.path"),
    ):
        with pytest.raises(ConfigError, match=re.escape(key)):
            parse_config({**base, "metrics": bad}, env={})


# ---------------------------------------------------------------------------- the scrape
@pytest.mark.broker
def test_scrape_matches_the_service_and_its_mqtt_stats(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = make_cfg(tmp_path, mosquitto.port)
    (tmp_path / "state").mkdir()
    sub = Subscriber(mosquitto.port, [f"{cfg.base_topic}/stats"])
    proc = SlipEveryFrame(40, tail=2)
    with Outbox(tmp_path / "state" / "outbox.db") as box:
        publisher = Publisher(cfg, box, backoff=(0.05, 0.3))
        svc = Service(cfg, proc, lambda: TickSource(100, 150), box, publisher)
        server = attach_metrics(cfg, svc, publisher)
        assert server is not None and server.port > 0
        try:
            publisher.start()
            assert publisher.wait_connected(10)
            run = threading.Thread(target=svc.run)
            run.start()
            assert sub.wait_for(lambda m: len(m.get(f"{cfg.base_topic}/stats", [])) >= 2)
            live = families(get(server.port))
            run.join(30)
            assert not run.is_alive()
            final = families(get(server.port))
        finally:
            server.stop()
    assert value(live, "microslip_mqtt_connected") == 1.0
    assert value(final, "microslip_mqtt_connected") == 0.0  # the service disconnected at stop
    topic = f"{cfg.base_topic}/stats"
    assert sub.wait_for(lambda m: json.loads(m[topic][-1][0])["frames"] == svc.frames)
    last = json.loads(sub.payloads(f"{cfg.base_topic}/stats")[-1])
    sub.close()
    assert value(final, "microslip_frames_total") == last["frames"] == svc.frames
    assert value(final, "microslip_dropped_frames_total") == last["dropped_frames"]
    assert last["frames"] + last["dropped_frames"] == 150
    assert value(final, "microslip_fps") == last["fps"] > 0
    assert value(final, "microslip_faces") == last["faces"] == 1
    assert value(final, "microslip_outbox_depth") == last["outbox_depth"] == 0
    assert value(final, "microslip_outbox_dropped_total") == last["outbox_dropped"] == 0
    want = collections.Counter((e.emotion, e.type) for e in proc.emitted)
    assert sum(want.values()) == last["slips_total"] == 42
    for emotion in EMOTIONS:
        for kind in ("micro", "macro"):
            got = value(final, "microslip_slips_total", emotion=emotion, type=kind)
            assert got == want[(emotion, kind)], (emotion, kind)
    for reason in ("store_error", "outbox_full", "rejected"):
        assert value(final, "microslip_events_lost_total", reason=reason) == 0
    # the appearance channel: readings and skipped faces, as on the stats topic
    assert value(final, "microslip_appearance_faces_total", result="ok") == 0
    assert last["appearance_readings"] == 0
    skipped = value(final, "microslip_appearance_faces_total", result="too_small")
    assert skipped == last["appearance_skipped"] == proc.frames > 0
    # every processed frame timed once, as a whole and per stage (the fake has one stage)
    assert value(final, "microslip_frame_seconds_count") == svc.frames
    assert value(final, "microslip_stage_seconds_count", stage="fake") == svc.frames
    stage_sum = value(final, "microslip_stage_seconds_sum", stage="fake")
    assert stage_sum == pytest.approx(svc.frames * 1e-5)
    assert value(final, "microslip_build_info") == 1.0
    info = final["microslip_build_info"].samples[0].labels
    assert info["version"] == edge.__version__ and info["device"] == "metricsdev"
    assert info["detector_sha256"] == spec("face_detection_short_range").sha256
    assert info["mesh"] == "468" and info["mesh_sha256"] == spec("face_landmark").sha256
    assert re.fullmatch(r"[0-9a-f]{64}", info["spotter_sha256"])
    assert value(final, "process_cpu_seconds_total") > 0
    assert "microslip_cpu_temperature_celsius" not in final or "cpu_temperature_c" in last


def test_histogram_buckets_are_cumulative_and_a_bound_is_inclusive(tmp_path: Path) -> None:
    loop = LoopMetrics()
    values = [BUCKETS[0], BUCKETS[3], BUCKETS[3] * 1.001, 0.0, 7.5, 0.003, 0.003, 0.04]
    for v in values:
        loop.observe(v, {"mesh": v, "detect": v / 2})
    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, SlipEveryFrame(0), lambda: TickSource(100, 1), box, None)
        text = generate_latest(make_registry(DeviceCollector(loop, svc, None, {}))).decode()
    fams = families(text)
    for stage, scale in (("mesh", 1.0), ("detect", 0.5)):
        seen = [v * scale for v in values]
        for le in (*BUCKETS, float("inf")):
            got = value(fams, "microslip_stage_seconds_bucket", stage=stage, le=_le(le))
            assert got == sum(1 for v in seen if v <= le), (stage, le)
        assert value(fams, "microslip_stage_seconds_sum", stage=stage) == pytest.approx(sum(seen))
    assert value(fams, "microslip_frame_seconds_count") == len(values)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def test_temperature_is_read_at_scrape_time_and_absent_where_unreadable(tmp_path: Path) -> None:
    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("48312\n")
    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, SlipEveryFrame(0), lambda: TickSource(100, 1), box, None)
        collector = DeviceCollector(LoopMetrics(), svc, None, {}, thermal_root=zone.parent)
        registry = make_registry(collector)
        assert value(families(generate_latest(registry).decode()),
                     "microslip_cpu_temperature_celsius") == 48.312  # fmt: skip
        (zone / "temp").write_text("51000\n")  # a later scrape reads the new value
        fams = families(generate_latest(registry).decode())
        assert value(fams, "microslip_cpu_temperature_celsius") == 51.0
        (zone / "temp").unlink()
        fams = families(generate_latest(registry).decode())
    assert "microslip_cpu_temperature_celsius" not in fams
    assert "microslip_mqtt_connected" not in fams  # no publisher, no made-up connection state


@pytest.mark.broker
def test_a_busy_port_is_logged_once_and_the_device_runs_on(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = make_cfg(tmp_path, mosquitto.port, port)
        sub = Subscriber(mosquitto.port, [f"{cfg.base_topic}/events"])
        proc = SlipEveryFrame(5)
        svc = serve(cfg, proc, open_source=lambda: TickSource(100, 60), backoff=(0.05, 0.3))
    assert svc.metrics is None  # never hooked into the loop
    assert sub.wait_for(lambda m: len(m.get(f"{cfg.base_topic}/events", [])) >= 5)
    sub.close()
    errors = [r for r in caplog.records if r.name == "edge.device.metrics"]
    assert len(errors) == 1 and errors[0].levelname == "ERROR"
    assert f"127.0.0.1:{port}" in errors[0].getMessage()
    assert "without /metrics" in errors[0].getMessage()


def test_server_stops_and_frees_its_port(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, free_port())
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(cfg, SlipEveryFrame(0), lambda: TickSource(100, 1), box, None)
        server = MetricsServer(make_registry(DeviceCollector(LoopMetrics(), svc, None, {})),
                               "127.0.0.1", 0)  # fmt: skip
        assert server.start()
        assert "microslip_frames_total 0.0" in get(server.port)
        server.stop()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        with socket.socket() as s:  # and a new listener may take it (as a restart would)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", server.port))
            s.listen()


def test_disabled_metrics_import_nothing_and_hook_nothing(tmp_path: Path) -> None:
    script = f"""
import sys
from edge.config import parse_config
from edge.device.wiring import serve
from tests.broker import free_port
from tests.fake_device import SlipEveryFrame, TickSource
cfg = parse_config({{"device": {{"id": "off"}}, "camera": {{"source": "synthetic"}},
    "mqtt": {{"host": "127.0.0.1", "port": free_port()}}, "state": {{"dir": {str(tmp_path)!r}}}}},
    env={{}})
svc = serve(cfg, SlipEveryFrame(2), open_source=lambda: TickSource(100, 20), backoff=(0.05, 0.1),
            realtime=False)  # lossless hand-off: a loaded machine must not drop frames here
assert svc.frames == 20 and svc.metrics is None
assert "prometheus_client" not in sys.modules, "imported with [metrics] off"
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-3000:]
