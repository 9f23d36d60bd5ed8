"""The device's periodic statistics: a frozen typed object; JSON only at the MQTT and web edges."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Stats:
    """One stats tick, as published on ``<prefix>/<id>/stats`` (README "Topics")."""

    time: str  # ISO 8601, UTC, seconds
    device: str
    uptime_s: float
    fps: float  # frames processed per second over the last interval
    capture_fps: float  # frames delivered by the source per second
    frames: int
    dropped_frames: int
    dropped_handoff: int
    bad_frames: int
    overruns: int
    idle_skipped: int
    failed_frames: int
    process_ms: float
    faces: int
    slips_total: int
    slips_last_hour: int
    outbox_depth: int
    outbox_dropped: int
    store_errors: int
    cpu_temperature_c: float | None
    rss_mb: float
    stage_ms: dict[str, float] = field(default_factory=dict)  # mean ms per processed frame
    outbox_memory: int = 0  # events held in memory only: the disk refused them (full, failing)
    events_lost: int = 0  # events forgotten unacknowledged (memory full, or held at shutdown)
    appearance_readings: int = 0  # face crops classified since start
    appearance_skipped: int = (
        0  # faces too small, cut by the edge, turned or covered: geometry only
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload (keys and types as documented)."""
        return dataclasses.asdict(self)
