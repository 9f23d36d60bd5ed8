"""Home Assistant MQTT device-based discovery: one payload with ``dev``, ``o`` and ``cmps``.

Published (not retained) to ``<discovery_prefix>/device/<device_id>/config`` on every
connect and again whenever Home Assistant announces ``online`` on its birth topic, so a
restarted Home Assistant rediscovers the device without stale retained configs.
"""

from __future__ import annotations

from typing import Any

from edge import __version__
from edge.device.topics import events_topic, stats_topic, status_topic
from edge.events import EMOTIONS

# HA event entities need a JSON object with "event_type"; the rest become attributes.
_EVENT_TEMPLATE = (
    '{"event_type": "{{ value_json.emotion }}", '
    '"slip": "{{ value_json.type }}", '
    '"event_id": "{{ value_json.id }}", '
    '"track_id": {{ value_json.track_id | default(0) }}, '
    '"confidence": {{ value_json.confidence | default(0) }}, '
    '"intensity": {{ value_json.intensity | default(0) }}, '
    '"duration_ms": {{ value_json.duration_ms | default(0) }}}'
)


def discovery_topic(discovery_prefix: str, device_id: str) -> str:
    """Where the device config goes."""
    return f"{discovery_prefix}/device/{device_id}/config"


def discovery_payload(
    *, device_id: str, device_name: str, base_topic: str, with_temperature: bool
) -> dict[str, Any]:
    """The device-discovery document: an event entity plus fps/slips/face/temperature."""
    uid = f"microslip_{device_id}"
    stats = stats_topic(base_topic)
    cmps: dict[str, dict[str, Any]] = {
        "slip": {
            "p": "event",
            "name": "Emotion slip",
            "unique_id": f"{uid}_slip",
            "state_topic": events_topic(base_topic),
            "event_types": list(EMOTIONS),
            "value_template": _EVENT_TEMPLATE,
            "icon": "mdi:emoticon-outline",
            "qos": 1,
        },
        "fps": {
            "p": "sensor",
            "name": "Frame rate",
            "unique_id": f"{uid}_fps",
            "state_topic": stats,
            # frames delivered per second: the idle duty cycle lowers processed fps, not this
            "value_template": "{{ value_json.capture_fps }}",
            "unit_of_measurement": "fps",
            "state_class": "measurement",
            "entity_category": "diagnostic",
        },
        "slips_last_hour": {
            "p": "sensor",
            "name": "Slips in the last hour",
            "unique_id": f"{uid}_slips_last_hour",
            "state_topic": stats,
            "value_template": "{{ value_json.slips_last_hour }}",
            "state_class": "measurement",
            "icon": "mdi:counter",
        },
        "face": {
            "p": "binary_sensor",
            "name": "Face present",
            "unique_id": f"{uid}_face",
            "state_topic": stats,
            "value_template": "{{ 'ON' if value_json.faces > 0 else 'OFF' }}",
            "device_class": "occupancy",
        },
        "dropped": {
            "p": "sensor",
            "name": "Dropped frames",
            "unique_id": f"{uid}_dropped",
            "state_topic": stats,
            "value_template": "{{ value_json.dropped_frames }}",
            "state_class": "total_increasing",
            "entity_category": "diagnostic",
        },
    }
    if with_temperature:
        cmps["cpu_temperature"] = {
            "p": "sensor",
            "name": "CPU temperature",
            "unique_id": f"{uid}_cpu_temperature",
            "state_topic": stats,
            "value_template": "{{ value_json.cpu_temperature_c }}",
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "state_class": "measurement",
            "entity_category": "diagnostic",
        }
    return {
        "dev": {
            "ids": [uid],
            "name": device_name,
            "mf": "microslip",
            "mdl": "microslip micro-expression detector",
            "sw": __version__,
        },
        "o": {"name": "microslip", "sw": __version__},
        "availability_topic": status_topic(base_topic),
        "payload_available": "online",
        "payload_not_available": "offline",
        "cmps": cmps,
    }
