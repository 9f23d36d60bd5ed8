"""Validation of event payloads against ``edge/data/event.schema.json`` plus cross-field rules.

Uses jsonschema when installed (tests, dev); the device may run without it, so a built-in
subset of the keywords our schema uses stands in.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from edge.errors import InputError

# Micro-expressions last at most half a second from onset to offset.
MICRO_MAX_MS = 500.0


@cache
def event_schema() -> dict[str, Any]:
    """The event JSON Schema (draft 2020-12) shipped inside the package."""
    text = resources.files("edge").joinpath("data/event.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


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
