"""The MQTT topics of a device, built in one place: ``<prefix>/<device_id>/<leaf>``."""

from __future__ import annotations


def events_topic(base_topic: str) -> str:
    """Slip events: QoS 1 JSON, not retained."""
    return f"{base_topic}/events"


def status_topic(base_topic: str) -> str:
    """Retained ``online``/``offline``; ``offline`` is the last will."""
    return f"{base_topic}/status"


def stats_topic(base_topic: str) -> str:
    """Periodic statistics JSON."""
    return f"{base_topic}/stats"
