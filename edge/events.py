"""SlipEvent: one spotted expression, the contract shared by replay, MQTT and dashboards.

The JSON Schema lives in ``edge/data/event.schema.json``; ``event_to_dict`` output must
validate against it (``validate``), and ``event_from_dict`` reads it back losslessly.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from edge.errors import InputError
from edge.motion import Motion

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
# Micro-expressions last at most half a second from onset to offset (issue 3, item 4).
MICRO_MAX_MS = 500.0
SCHEMA_VERSION = 1


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
    motion: Motion | None = None  # only with [events] include_motion (edge/motion.py)

    @property
    def duration_ms(self) -> float:
        """Onset to offset in milliseconds."""
        return (self.offset_ns - self.onset_ns) / 1e6


@cache
def event_schema() -> dict[str, Any]:
    """The event JSON Schema (draft 2020-12) shipped inside the package."""
    text = resources.files("edge").joinpath("data/event.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


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


def validate(d: Any) -> None:
    """Raise InputError naming the offending field if ``d`` is not a valid event payload."""
    errors = _schema_errors(d, event_schema())
    if errors:
        path, msg = errors[0]
        raise InputError(f"event: field {path or '<root>'!r}: {msg}")
    _check_semantics(d)


def _check_semantics(d: dict[str, Any]) -> None:
    """Cross-field rules a JSON Schema cannot express."""
    if not d["onset_ns"] <= d["apex_ns"] <= d["offset_ns"]:
        raise InputError("event: field 'apex_ns': must satisfy onset_ns <= apex_ns <= offset_ns")
    duration = (d["offset_ns"] - d["onset_ns"]) / 1e6
    if not math.isclose(d["duration_ms"], duration, rel_tol=1e-9, abs_tol=1e-3):
        raise InputError(
            f"event: field 'duration_ms': {d['duration_ms']} != (offset_ns - onset_ns) / 1e6"
            f" = {duration}"
        )
    want = "micro" if duration <= MICRO_MAX_MS else "macro"
    if d["type"] != want:
        raise InputError(
            f"event: field 'type': {d['type']!r} but duration {duration:.1f} ms means {want!r}"
        )
    try:
        datetime.fromisoformat(d["time"].replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"event: field 'time': {exc}") from exc
    for name, value in d["action_units"].items():
        if not math.isfinite(value):
            raise InputError(f"event: field 'action_units.{name}': must be finite")


def _schema_errors(d: Any, schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted path, message) of every schema violation, most relevant first."""
    try:
        import jsonschema
    except ImportError:  # the device need not carry jsonschema: use the built-in subset
        return _mini_validate(d, schema, schema, "")
    validator = jsonschema.Draft202012Validator(schema)
    errs = sorted(validator.iter_errors(d), key=jsonschema.exceptions.relevance)
    return [(".".join(str(p) for p in e.absolute_path), e.message) for e in errs]


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _mini_validate(
    d: Any, s: dict[str, Any], root: dict[str, Any], path: str
) -> list[tuple[str, str]]:
    """Check the schema keywords event.schema.json uses; enough when jsonschema is absent."""
    if "$ref" in s:  # only local "#/$defs/x" references occur in our schema
        s = root["$defs"][s["$ref"].rsplit("/", 1)[-1]]
    errs: list[tuple[str, str]] = []
    if "const" in s and d != s["const"]:
        return [(path, f"{d!r} was expected to be {s['const']!r}")]
    if "enum" in s and d not in s["enum"]:
        return [(path, f"{d!r} is not one of {s['enum']!r}")]
    if "type" in s:
        ok = isinstance(d, _JSON_TYPES[s["type"]]) and not (
            isinstance(d, bool) and s["type"] in ("integer", "number")
        )
        if not ok:
            return [(path, f"{d!r} is not of type {s['type']!r}")]
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        if "minimum" in s and d < s["minimum"]:
            errs.append((path, f"{d!r} is less than the minimum of {s['minimum']}"))
        if "maximum" in s and d > s["maximum"]:
            errs.append((path, f"{d!r} is greater than the maximum of {s['maximum']}"))
    if isinstance(d, str):
        if len(d) < s.get("minLength", 0) or len(d) > s.get("maxLength", len(d)):
            errs.append((path, f"{d!r} has a bad length"))
        if "pattern" in s and not re.search(s["pattern"], d):
            errs.append((path, f"{d!r} does not match {s['pattern']!r}"))
    if isinstance(d, dict):
        props = s.get("properties", {})
        for key in s.get("required", []):
            if key not in d:
                errs.append((path, f"{key!r} is a required property"))
        for key, value in d.items():
            sub = f"{path}.{key}" if path else str(key)
            if "propertyNames" in s:
                errs += _mini_validate(key, s["propertyNames"], root, sub)
            if key in props:
                errs += _mini_validate(value, props[key], root, sub)
            elif s.get("additionalProperties") is False:
                errs.append((path, f"additional property {key!r} is not allowed"))
            elif isinstance(s.get("additionalProperties"), dict):
                errs += _mini_validate(value, s["additionalProperties"], root, sub)
    if isinstance(d, list):
        if len(d) < s.get("minItems", 0) or len(d) > s.get("maxItems", len(d)):
            errs.append((path, f"array of {len(d)} items has a bad length"))
        for i, item in enumerate(d if "items" in s else ()):
            errs += _mini_validate(item, s["items"], root, f"{path}.{i}" if path else str(i))
    return errs
