"""SlipEvent: one spotted expression, the contract shared by replay, MQTT and dashboards.

The JSON Schema lives in ``edge/data/event.schema.json``; ``to_json`` output must validate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EMOTIONS: tuple[str, ...] = (
    "happiness",
    "sadness",
    "surprise",
    "fear",
    "anger",
    "disgust",
    "contempt",
)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Name and sha256 of a model that contributed to an event."""

    name: str
    sha256: str


@dataclass(frozen=True, slots=True)
class SlipEvent:
    """One spotted expression interval on one track."""

    id: str
    device: str
    track_id: int
    type: str  # "micro" | "macro"
    emotion: str  # one of EMOTIONS
    confidence: float  # calibrated probability of `emotion`, 0..1
    scores: tuple[tuple[str, float], ...]  # all seven (emotion, probability)
    onset_ns: int
    apex_ns: int
    offset_ns: int
    intensity: float  # 0..1
    action_units: tuple[tuple[str, float], ...]  # (AU name, peak intensity)
    laterality: str  # "both" | "left" | "right"
    partial: bool
    time: str  # ISO-8601 UTC wall clock of the apex
    models: tuple[ModelRef, ...] = field(default_factory=tuple)

    @property
    def duration_ms(self) -> float:
        """Onset to offset in milliseconds."""
        return (self.offset_ns - self.onset_ns) / 1e6
