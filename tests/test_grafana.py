"""The Grafana dashboard and the Telegraf example, checked against what the device really
exports on /metrics and publishes over MQTT (a real Prometheus runs every dashboard query in
tests/test_prometheus.py)."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from edge.config import parse_config
from edge.device.outbox import Outbox
from edge.device.service import Service
from edge.events import Evidence, event_schema, event_to_dict
from tests.broker import free_port, make_event
from tests.fake_device import SlipEveryFrame, TickSource
from tests.test_metrics import make_cfg, scrape_text_of_a_finished_run

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "examples" / "grafana" / "microslip-dashboard.json"
TELEGRAF = REPO / "examples" / "telegraf" / "microslip.conf"
# Labels Prometheus itself puts on every scraped series.
TARGET_LABELS = {"instance", "job"}


# ---------------------------------------------------------------------------- Grafana
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                 "offset", "and", "or", "unless", "inf", "nan"}  # fmt: skip


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, labels grouped by/matched on) used in one PromQL expression."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", s))
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", s):
        labels |= {w.strip() for w in group.split(",") if w.strip()}
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", s)
    names = set()
    for m in re.finditer(r"(?<![0-9.A-Za-z_:$])[A-Za-z_:][A-Za-z0-9_:]*", s):
        if s[m.end() :].lstrip().startswith("(") or m.group(0) in _PROMQL_WORDS:
            continue  # a function or an aggregation, or a keyword
        names.add(m.group(0))
    return names, labels


def test_promql_names_finds_metrics_and_labels() -> None:
    names, labels = promql_names(
        'histogram_quantile(0.99, sum by (le, stage) (rate(a_bucket{instance=~"$x"}[5m]))) '
        "/ on (instance) b_total * 2^20 + 1e3"
    )
    assert names == {"a_bucket", "b_total"} and labels == {"le", "stage", "instance"}


def test_every_dashboard_expression_names_an_exported_metric(tmp_path: Path) -> None:
    zone = tmp_path / "thermal" / "thermal_zone0"  # so that the temperature family exists
    zone.mkdir(parents=True)
    (zone / "temp").write_text("40000\n")
    exported: dict[str, set[str]] = {}
    for fam in text_string_to_metric_families(scrape_text_of_a_finished_run(tmp_path, zone.parent)):
        for s in fam.samples:
            exported.setdefault(s.name, set()).update(s.labels)
    doc = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ds = {"type": "prometheus", "uid": "${datasource}"}
    used: set[str] = set()
    for panel in doc["panels"]:
        assert panel["datasource"] == ds, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == ds, panel["title"]
            names, labels = promql_names(target["expr"])
            assert names, target["expr"]
            unknown = names - set(exported)
            assert not unknown, f"{panel['title']}: not exported: {unknown}"
            have = set().union(*(exported[n] for n in names)) | TARGET_LABELS
            assert labels <= have, f"{panel['title']}: unknown labels {labels - have}"
            used |= names
    var = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variables["instance"]["query"]["query"])
    assert var and var.group(1) in exported and var.group(2) in TARGET_LABELS
    # the list of what a dashboard user wants to see
    for wanted in ("microslip_fps", "microslip_dropped_frames_total",
                   "microslip_stage_seconds_bucket", "microslip_faces", "microslip_slips_total",
                   "microslip_outbox_depth", "microslip_events_lost_total",
                   "microslip_mqtt_connected", "microslip_cpu_temperature_celsius"):  # fmt: skip
        assert wanted in used, wanted
    grouped = " ".join(t["expr"] for p in doc["panels"] for t in p["targets"])
    assert "by (emotion)" in grouped and "by (type)" in grouped


# ---------------------------------------------------------------------------- Telegraf
def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Telegraf's json parser: nested objects and arrays become ``a_b`` / ``a_0`` keys."""
    out: dict[str, Any] = {}
    for k, v in doc.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "_"))
        elif isinstance(v, list):
            out.update(_flatten({str(i): x for i, x in enumerate(v)}, key + "_"))
        else:
            out[key] = v
    return out


def _kept_as_string(key: str, conf: dict[str, Any]) -> bool:
    """Telegraf keeps a string only as a tag, a json_string_fields glob or the time key."""
    kept = [*conf.get("tag_keys", []), *conf.get("json_string_fields", []), conf["json_time_key"]]
    excluded = conf.get("fieldexclude", [])
    return any(fnmatch.fnmatchcase(key, p) for p in (*kept, *excluded))


def test_telegraf_example_uses_the_real_topics_and_field_names(tmp_path: Path) -> None:
    import tomllib

    inputs = tomllib.loads(TELEGRAF.read_text())["inputs"]["mqtt_consumer"]
    by_topic = {c["topics"][0].rsplit("/", 1)[1]: c for c in inputs}
    assert set(by_topic) == {"events", "stats"}
    cfg = parse_config({"camera": {"source": "synthetic"}, "state": {"dir": str(tmp_path)}}, env={})
    for kind, conf in by_topic.items():
        assert conf["topics"] == [f"{cfg.mqtt.prefix}/+/{kind}"]
        assert f"{cfg.base_topic}/{kind}".startswith(conf["topics"][0].split("+")[0])
        assert conf["data_format"] == "json" and conf["json_time_key"] == "time"
    assert by_topic["events"]["qos"] == 1 and by_topic["events"]["persistent_session"]

    schema = event_schema()["properties"]
    ev = by_topic["events"]
    for key in (*ev["tag_keys"], *ev["json_string_fields"], ev["json_time_key"]):
        assert key.split("_*")[0] in schema, key
    for key in ev["tag_keys"]:
        assert "enum" in schema[key] or key == "device", f"{key}: a tag must be low-cardinality"
    assert schema["time"]["format"] == "date-time"
    # Nothing a user would want is silently dropped: every string in a real payload is a tag,
    # a string field, the time or deliberately excluded (Telegraf's json parser drops others).
    full = make_event(3)
    full = dataclasses.replace(full, evidence=Evidence(("temporal", "au"), "no_pixels"))
    for event in (event_to_dict(make_event(3)), event_to_dict(full)):
        strings = [k for k, v in _flatten(event).items() if isinstance(v, str)]
        assert strings and all(_kept_as_string(k, ev) for k in strings), strings
    assert "evidence_fallback" in _flatten(event_to_dict(full))

    st = by_topic["stats"]
    with Outbox(tmp_path / "o.db") as box:
        svc = Service(make_cfg(tmp_path, free_port()), SlipEveryFrame(1),
                      lambda: TickSource(100, 5), box, None)  # fmt: skip
        svc.run()
        stats = json.loads(json.dumps(svc.stats().to_dict()))
    for key in (*st["tag_keys"], st["json_time_key"]):
        assert key in stats, key
    strings = [k for k, v in _flatten(stats).items() if isinstance(v, str)]
    assert all(_kept_as_string(k, st) for k in strings), strings
    assert {"fps", "dropped_frames", "slips_total", "outbox_depth"} <= set(stats)
