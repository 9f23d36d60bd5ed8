"""Home Assistant and Node-RED examples: they parse, and every topic, entity and field exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config import Config, parse_config
from edge.device.discovery import _EVENT_TEMPLATE, discovery_payload
from edge.events import event_schema, event_to_json
from tests.web_support import make_slip

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HA = EXAMPLES / "homeassistant"
FLOW = EXAMPLES / "node-red" / "microslip-flow.json"
DEVICE_NAME = "Kitchen Pi"  # the name the examples are written for


def _cfg() -> Config:
    return parse_config({"device": {"id": "kitchen-pi", "name": DEVICE_NAME}}, base=Path("."))


def _slug(text: str) -> str:
    """Home Assistant's entity-id slug: lower case, runs of other characters become _."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _discovered_entities() -> dict[str, dict[str, Any]]:
    """entity_id -> discovery component, as Home Assistant names them for DEVICE_NAME."""
    cfg = _cfg()
    doc = discovery_payload(
        device_id=cfg.device.id,
        device_name=cfg.device.name,
        base_topic=cfg.base_topic,
        with_temperature=True,
    )
    dev = _slug(doc["dev"]["name"])
    return {f"{c['p']}.{dev}_{_slug(c['name'])}": c for c in doc["cmps"].values()}


def _event_attributes() -> set[str]:
    """Attributes of the HA event entity: the keys its value_template emits."""
    return set(re.findall(r'"(\w+)":', _EVENT_TEMPLATE))


def test_event_template_reads_only_schema_fields() -> None:
    fields = set(re.findall(r"value_json\.(\w+)", _EVENT_TEMPLATE))
    assert fields and fields <= set(event_schema()["properties"])


@pytest.mark.parametrize("name", ["dashboard-card.yaml", "automation.yaml"])
def test_home_assistant_yaml_uses_discovered_entities_and_attributes(name: str) -> None:
    text = (HA / name).read_text()
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    entities = _discovered_entities()
    used = set(re.findall(r"\b(?:event|sensor|binary_sensor)\.[a-z0-9_]+", text))
    assert used and used <= set(entities), used - set(entities)
    assert "event.kitchen_pi_emotion_slip" in used
    assert entities["event.kitchen_pi_emotion_slip"]["state_topic"] == "microslip/kitchen-pi/events"
    attrs = set(re.findall(r"state_attr\(\s*\w+\s*,\s*'(\w+)'\)", text))
    attrs |= set(re.findall(r"attributes\.(\w+)", text))
    assert attrs and attrs <= _event_attributes() | {"event_type"}, attrs - _event_attributes()


def test_dashboard_card_shape() -> None:
    card = yaml.safe_load((HA / "dashboard-card.yaml").read_text())
    assert card["type"] == "vertical-stack"
    types = [c["type"] for c in card["cards"]]
    assert types == ["markdown", "logbook", "entities"]


def test_automation_shape() -> None:
    auto = yaml.safe_load((HA / "automation.yaml").read_text())
    (trigger,) = auto["triggers"]
    assert trigger["trigger"] == "state" and trigger["entity_id"].startswith("event.")
    assert "unavailable" in trigger["not_from"]
    assert auto["actions"][0]["action"].startswith("notify.")
    emotions = set(re.findall(r"'(\w+)'", auto["conditions"][0]["value_template"]))
    assert {"anger", "contempt"} <= emotions
    assert emotions - {"micro"} <= set(event_schema()["properties"]["emotion"]["enum"])


def _flow() -> dict[str, dict[str, Any]]:
    nodes = json.loads(FLOW.read_text())
    assert isinstance(nodes, list)
    return {n["id"]: n for n in nodes}


def test_node_red_flow_is_wired_and_reads_the_events_topic() -> None:
    nodes = _flow()
    for n in nodes.values():
        for outs in n.get("wires", []):
            assert all(w in nodes for w in outs), n["id"]
        assert n.get("z") in (None, *nodes)
    (mqtt_in,) = [n for n in nodes.values() if n["type"] == "mqtt in"]
    assert nodes[mqtt_in["broker"]]["type"] == "mqtt-broker"
    assert mqtt_in["datatype"] == "json" and mqtt_in["qos"] == "1"
    cfg = _cfg()
    # microslip/+/events matches this device's event topic (service publishes base/events).
    pattern = mqtt_in["topic"].replace("+", "[^/]+")
    assert re.fullmatch(pattern, f"{cfg.base_topic}/events")
    assert not re.fullmatch(pattern, f"{cfg.base_topic}/stats")


def test_node_red_function_reads_only_schema_fields() -> None:
    (fn,) = [n for n in _flow().values() if n["type"] == "function"]
    fields = set(re.findall(r"\bev\.(\w+)", fn["func"]))
    assert {"id", "emotion", "type", "duration_ms"} <= fields
    assert fields <= set(event_schema()["properties"]), fields - set(event_schema()["properties"])


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_node_red_function_runs_and_drops_redeliveries(tmp_path: Path) -> None:
    (fn,) = [n for n in _flow().values() if n["type"] == "function"]
    (switch,) = [n for n in _flow().values() if n["type"] == "switch"]
    payloads = [json.loads(event_to_json(make_slip(n, "fear"))) for n in (1, 1, 2)]
    # Node-RED runs the body as a function of (msg) with node/context in scope; do the same.
    harness = (
        "const store = {};\n"
        "const context = {get: (k) => store[k], set: (k, v) => { store[k] = v; }};\n"
        "const node = {warn: () => {}, status: () => {}};\n"
        f"const fn = new Function('msg', 'node', 'context', {json.dumps(fn['func'])});\n"
        f"const out = {json.dumps(payloads)}.map((p) => fn({{payload: p}}, node, context));\n"
        "console.log(JSON.stringify(out));\n"
    )
    script = tmp_path / "run.js"
    script.write_text(harness)
    res = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out[1] is None  # the re-delivered id is dropped
    first, third = out[0], out[2]
    assert first["topic"] == "fear" and first["payload"]["id"] == payloads[0]["id"]
    assert third["payload"]["id"] == payloads[2]["id"]
    assert first["payload"]["action_units"] == ["AU12_L", "AU6"]  # strongest first
    # The switch routes on msg.payload.type, which the function keeps.
    assert switch["property"] == "payload.type" and first["payload"]["type"] == "micro"
