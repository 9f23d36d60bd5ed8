"""SlipEvent: one spotted expression, the contract shared by replay, MQTT and dashboards.

The JSON Schema lives in ``edge/data/event.schema.json``; ``event_to_dict`` output must
validate against it (``validate``), and ``event_from_dict`` reads it back losslessly.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.errors import InputError
from edge.events.motion import Motion, MotionRecorder
from edge.events.schema import validate

EMOTIONS: tuple[str, ...] = (
    "happiness",
    "sadness",
    "surprise",
    "fear",
    "anger",
    "disgust",
    "contempt",
)
EVENT_TYPES: tuple[str, ...] = ("micro", "macro")
LATERALITIES: tuple[str, ...] = ("both", "left", "right")
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Name and sha256 of a model that contributed to an event."""

    name: str
    sha256: str


# What an event's emotion can rest on, and why appearance may be missing (event "evidence").
CHANNELS: tuple[str, ...] = ("temporal", "au", "appearance")
FALLBACKS: tuple[str, ...] = (
    "no_pixels",  # a landmark recording, or the appearance channel is off
    "no_reading",  # no classifier reading fell inside the expression
    "too_small",
    "cut_by_edge",
    "implausible",
    "occluded",
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """The channels an event's emotion rests on; ``fallback`` says why appearance is absent."""

    channels: tuple[str, ...]
    fallback: str | None = None


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
    motion: Motion | None = None  # only with [events] include_motion (edge/events/motion.py)
    evidence: Evidence | None = None  # optional in the payload: older producers lack it

    @property
    def duration_ms(self) -> float:
        """Onset to offset in milliseconds."""
        return (self.offset_ns - self.onset_ns) / 1e6


def event_to_dict(ev: SlipEvent) -> dict[str, Any]:
    """The JSON-ready payload of one event (keys and order as in the schema)."""
    scores = dict(ev.scores)
    d: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "id": ev.id,
        "device": ev.device,
        "track_id": int(ev.track_id),
        "type": ev.type,
        "emotion": ev.emotion,
        "confidence": float(ev.confidence),
        # Fixed emotion order so that payloads diff cleanly; a missing score is a bug upstream
        # and is caught by validate() rather than silently filled in here.
        "scores": {e: float(scores[e]) for e in EMOTIONS if e in scores},
        "onset_ns": int(ev.onset_ns),
        "apex_ns": int(ev.apex_ns),
        "offset_ns": int(ev.offset_ns),
        "duration_ms": ev.duration_ms,
        "intensity": float(ev.intensity),
        "action_units": {name: float(v) for name, v in ev.action_units},
        "laterality": ev.laterality,
        "partial": bool(ev.partial),
        "time": ev.time,
        "model": [{"name": m.name, "sha256": m.sha256} for m in ev.models],
    }
    if ev.evidence is not None:
        d["evidence"] = {"channels": list(ev.evidence.channels)}
        if ev.evidence.fallback is not None:
            d["evidence"]["fallback"] = ev.evidence.fallback
    if ev.motion is not None:
        d["motion"] = ev.motion.to_dict()
    return d


def event_to_json(ev: SlipEvent) -> str:
    """One compact JSON line (no NaN/Infinity: they are not JSON)."""
    return json.dumps(event_to_dict(ev), separators=(",", ":"), allow_nan=False)


def event_from_dict(d: dict[str, Any]) -> SlipEvent:
    """Validate a payload and build the SlipEvent it describes."""
    validate(d)
    return SlipEvent(
        id=d["id"],
        device=d["device"],
        track_id=int(d["track_id"]),
        type=d["type"],
        emotion=d["emotion"],
        confidence=float(d["confidence"]),
        scores=tuple((e, float(d["scores"][e])) for e in EMOTIONS),
        onset_ns=int(d["onset_ns"]),
        apex_ns=int(d["apex_ns"]),
        offset_ns=int(d["offset_ns"]),
        intensity=float(d["intensity"]),
        action_units=tuple((k, float(v)) for k, v in d["action_units"].items()),
        laterality=d["laterality"],
        partial=bool(d["partial"]),
        time=d["time"],
        models=tuple(ModelRef(m["name"], m["sha256"]) for m in d["model"]),
        motion=Motion.from_dict(d["motion"]) if "motion" in d else None,
        evidence=(
            Evidence(tuple(d["evidence"]["channels"]), d["evidence"].get("fallback"))
            if "evidence" in d
            else None
        ),
    )


def event_from_json(line: str) -> SlipEvent:
    """Parse and validate one JSON line."""
    try:
        d = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"event: not JSON: {exc}") from exc
    if not isinstance(d, dict):
        raise InputError("event: payload must be a JSON object")
    return event_from_dict(d)


def with_motion(events: Sequence[SlipEvent], recorder: MotionRecorder) -> list[SlipEvent]:
    """The events with their ``motion`` filled in where ``recorder`` kept it."""
    out = []
    for ev in events:
        if ev.motion is None:
            m = recorder.motion_for(ev.track_id, ev.onset_ns, ev.offset_ns)
            if m is not None:
                ev = dataclasses.replace(ev, motion=m)
        out.append(ev)
    return out
