"""A real Prometheus (Debian's ``prometheus``) scraping a running ``microslip run`` on a real clip.

What Prometheus stored is checked against what the device published on its MQTT ``stats`` and
``events`` topics at about the same moments, and every query of the Grafana dashboard is run
against it. Skipped only when the prometheus binary is missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Mosquitto, free_port

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "examples" / "grafana" / "microslip-dashboard.json"
SCRAPE_S = 1.0
SLACK_S = 1.5  # > scrape timeout (1 s) + MQTT delivery on loopback
pytestmark = [pytest.mark.broker, pytest.mark.slow]


def find_prometheus() -> str | None:
    """Path of the prometheus server binary, or None."""
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )


class Prometheus:
    """One Prometheus server on a free loopback port scraping ``targets`` every second."""

    def __init__(self, workdir: Path, targets: list[str]) -> None:
        binary = find_prometheus()
        if binary is None:
            pytest.skip(
                "prometheus not installed (Debian package `prometheus`; .ci/run installs it)"
            )
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        conf = workdir / "prometheus.yml"
        conf.write_text(
            "global:\n"
            f"  scrape_interval: {SCRAPE_S:g}s\n"
            f"  scrape_timeout: {SCRAPE_S:g}s\n"
            "scrape_configs:\n"
            "  - job_name: microslip\n"
            "    static_configs:\n"
            f"      - targets: {json.dumps(targets)}\n"
        )
        self.log = workdir / "prometheus.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={conf}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(30.0)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"prometheus not ready: {self.log.read_text()[-2000:]}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query through the HTTP API; the ``result`` list."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                doc = json.load(resp)
        except urllib.error.HTTPError as exc:  # 400: the expression does not parse
            raise AssertionError(f"{expr!r}: {exc.read().decode()}") from exc
        assert doc["status"] == "success", doc
        result: list[dict[str, Any]] = doc["data"]["result"]
        return result

    def samples(self, metric: str, window_s: int) -> dict[str, list[tuple[float, float]]]:
        """Raw samples of every series of ``metric`` over the last ``window_s`` seconds."""
        out = {}
        for series in self.query(f"{metric}[{window_s}s]"):
            key = json.dumps(series["metric"], sort_keys=True)
            out[key] = [(float(t), float(v)) for t, v in series["values"]]
        return out

    def stop(self) -> None:
        """Terminate and wait."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Heard:
    """MQTT messages with the wall time (time.time(), like Prometheus's clock) they arrived."""

    stats: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def listen(port: int, base: str) -> tuple[Any, Heard]:
    """A paho subscriber on ``base/stats`` and ``base/events`` stamping each arrival."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    heard = Heard()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"prom-{uuid.uuid4().hex[:8]}")

    def on_connect(c: Any, u: Any, f: Any, rc: Any, p: Any) -> None:
        c.subscribe([(f"{base}/stats", 0), (f"{base}/events", 1)])

    def on_message(c: Any, u: Any, msg: Any) -> None:
        now = time.time()
        doc = json.loads(msg.payload)
        with heard.lock:
            (heard.stats if msg.topic.endswith("/stats") else heard.events).append((now, doc))

    client.on_connect = on_connect
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.wait(10)
    return client, heard


@pytest.fixture
def device(
    tmp_path: Path, mosquitto: Mosquitto, face_models: Path, pyfeat_dir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``microslip run`` on single_face.mp4 in a loop, /metrics on a free port."""
    metrics_port = free_port()
    cfg = tmp_path / "device.toml"
    cfg.write_text(
        '[device]\nid = "promdev"\n'
        f'[camera]\nsource = "{pyfeat_dir / "single_face.mp4"}"\nloop = true\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nstats_interval = 1\n'
        "discovery = false\n"
        f'[state]\ndir = "{tmp_path / "state"}"\n'
        f"[metrics]\nenabled = true\nport = {metrics_port}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    log = tmp_path / "device.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(cfg)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc, metrics_port, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def dashboard_exprs() -> list[str]:
    """Every PromQL expression in the dashboard, panels and template variables."""
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", []) if "expr" in t]
    assert exprs
    return exprs


def wait_until(predicate: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; device log:\n{log.read_text()[-3000:]}")


def bracket(t: float, stats: list[tuple[float, dict[str, Any]]], key: str) -> tuple[float, float]:
    """(value of the last stats received before ``t``, of the first received after ``t + SLACK_S``).

    Prometheus stamps a sample with the scrape's start ``t``; the device reads its counters a
    moment later. Counters only grow, so the sample lies between the two: a message that arrived
    before ``t`` was computed before the read, and one arriving ``SLACK_S`` later (more than a
    scrape plus a loopback delivery take) was computed after it.
    """
    before = [float(doc[key]) for at, doc in stats if at < t]
    after = [float(doc[key]) for at, doc in stats if at > t + SLACK_S]
    return (before[-1] if before else 0.0), (after[0] if after else float("inf"))


def test_prometheus_scrapes_what_the_device_publishes(
    tmp_path: Path, mosquitto: Mosquitto, device: tuple[subprocess.Popen[bytes], int, Path]
) -> None:
    proc, metrics_port, log = device
    client, heard = listen(mosquitto.port, "microslip/promdev")
    prom = Prometheus(tmp_path, [f"127.0.0.1:{metrics_port}"])
    try:
        wait_until(
            lambda: prom.query('sum(microslip_slips_total{job="microslip"}) > 0'),
            120,
            "a slip in Prometheus",
            log,
        )
        # a few more scrapes and stats messages around them
        time.sleep(4 * SCRAPE_S)
        assert proc.poll() is None, log.read_text()[-3000:]
        up = prom.query('up{job="microslip"}')
        assert [float(s["value"][1]) for s in up] == [1.0]
        slips = prom.samples("microslip_slips_total", 600)
        frames = prom.samples("microslip_frames_total", 600).popitem()[1]
        fps = prom.samples("microslip_fps", 600).popitem()[1]
        # whatever the device counted before the last sample has reached us a moment later
        time.sleep(2.0)
        with heard.lock:
            stats = [(at, doc) for at, doc in heard.stats]
            events = [(at, doc) for at, doc in heard.events]
        assert stats and events

        # slips_total summed over emotion/type vs the stats topic's slips_total
        assert len(slips) == 14  # every emotion x {micro, macro}, from the first scrape
        by_time: dict[float, float] = {}
        for values in slips.values():
            for t, v in values:
                by_time[t] = by_time.get(t, 0.0) + v
        checked = 0
        for t, total in sorted(by_time.items()):
            lo, hi = bracket(t, stats, "slips_total")
            assert lo <= total <= hi, (t, total, lo, hi)
            checked += hi < float("inf")
        assert checked >= 3
        # per emotion and type: at least the events delivered before, at most all delivered
        for labels, values in slips.items():
            lab = json.loads(labels)
            mine = [(at, d["id"]) for at, d in events
                    if (d["emotion"], d["type"]) == (lab["emotion"], lab["type"])]  # fmt: skip
            for t, v in values:
                delivered = len({i for at, i in mine if at < t})
                assert delivered <= v <= len({i for _, i in mine}), (lab, t, v, delivered)

        # frames_total brackets the same way; fps equals one of the neighbouring stats' fps
        for t, v in frames:
            lo, hi = bracket(t, stats, "frames")
            assert lo <= v <= hi, (t, v, lo, hi)
        fps_checked = 0
        for t, v in fps:
            near = {float(d["fps"]) for at, d in stats if t - 2.5 < at < t + SLACK_S}
            if v > 0 and near:
                assert v in near, (t, v, near)
                fps_checked += 1
        assert fps_checked >= 3
        assert 5 < float(stats[-1][1]["fps"]) < 40  # single_face.mp4 plays at 30 fps

        # every dashboard query answers with data from this device (temperature: where readable)
        instance = f"127.0.0.1:{metrics_port}"
        temperature = stats[-1][1]["cpu_temperature_c"] is not None
        for expr in dashboard_exprs():
            q = expr.replace("$__rate_interval", "5s").replace("$instance", instance)
            result = prom.query(q)
            if "cpu_temperature" in expr and not temperature:
                assert result == [], expr  # absent where unreadable, never a made-up 0
            else:
                assert result, f"no data for dashboard query {q!r}"

        # the live exposition of the real pipeline (its own stage names) passes promtool's lint
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            live = resp.read().decode()
        assert 'microslip_stage_seconds_count{stage="mesh"}' in live
        promtool_lint(live)

        # SIGTERM: the device exits cleanly and its endpoint is gone; Prometheus says so
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", metrics_port), timeout=2).close()
        wait_until(lambda: prom.query('up{job="microslip"} == 0'), 30, "up == 0", log)
    finally:
        client.disconnect()
        client.loop_stop()
        prom.stop()


def promtool_lint(text: str) -> None:
    """``promtool check metrics``: Prometheus's own lint of names, units, types and help."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`; .ci/run installs it)")
    out = subprocess.run(
        [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30
    )
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def test_promtool_accepts_the_exposition(tmp_path: Path) -> None:
    """Every family, the temperature and the MQTT state included, passes promtool's lint."""
    from tests.test_metrics import scrape_text_of_a_finished_run

    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("45000\n")
    text = scrape_text_of_a_finished_run(tmp_path, zone.parent)
    assert "microslip_cpu_temperature_celsius 45.0" in text
    assert "microslip_mqtt_connected 0.0" in text
    promtool_lint(text)
