"""The event contract: serialisation round-trips and the JSON Schema rejects bad payloads."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from edge.errors import InputError
from edge.events import (
    EMOTIONS,
    ModelRef,
    SlipEvent,
    event_from_dict,
    event_from_json,
    event_schema,
    event_to_dict,
    event_to_json,
    validate,
)
from edge.events.schema import _mini_validate

SHA = "0123456789abcdef" * 4


def make_event(**over: Any) -> SlipEvent:
    """A plausible micro happiness slip; keyword arguments override fields."""
    fields: dict[str, Any] = dict(
        id="dev-1-000042",
        device="kitchen-pi",
        track_id=3,
        type="micro",
        emotion="happiness",
        confidence=0.81,
        scores=tuple(zip(EMOTIONS, (0.81, 0.02, 0.05, 0.01, 0.01, 0.02, 0.08), strict=True)),
        onset_ns=1_000_000_000,
        apex_ns=1_150_000_000,
        offset_ns=1_333_333_333,
        intensity=0.35,
        action_units=(("AU6", 0.21), ("AU12_L", 0.4), ("AU12_R", 0.38)),
        laterality="both",
        partial=False,
        time="2026-11-25T22:40:01.150000Z",
        models=(ModelRef("face_landmark", SHA), ModelRef("microslip-tcn-int8", SHA[::-1])),
    )
    fields.update(over)
    return SlipEvent(**fields)


def test_round_trip_through_json_is_lossless() -> None:
    ev = make_event()
    line = event_to_json(ev)
    assert "\n" not in line
    back = event_from_json(line)
    assert back == ev
    d = json.loads(line)
    assert d["duration_ms"] == pytest.approx(333.333333)
    assert list(d["scores"]) == list(EMOTIONS)
    assert d["model"][1] == {"name": "microslip-tcn-int8", "sha256": SHA[::-1]}
    assert d["action_units"] == {"AU6": 0.21, "AU12_L": 0.4, "AU12_R": 0.38}


def test_schema_is_valid_draft_2020_12_and_forbids_extra_keys() -> None:
    schema = event_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    # Every key the issue lists is required.
    listed = {"id", "device", "track_id", "type", "emotion", "confidence", "scores", "onset_ns",
              "apex_ns", "offset_ns", "duration_ms", "intensity", "action_units", "laterality",
              "partial", "time", "model"}  # fmt: skip
    assert listed <= set(schema["required"])
    # "motion" (only with [events] include_motion) and "evidence" (absent from older producers)
    # are the optional keys.
    assert set(event_to_dict(make_event())) == set(schema["properties"]) - {"motion", "evidence"}


BAD: list[tuple[str, Any, str]] = [
    ("emotion", "joy", "emotion"),
    ("type", "mini", "type"),
    ("confidence", 1.5, "confidence"),
    ("track_id", -1, "track_id"),
    ("track_id", 2.5, "track_id"),
    ("laterality", "up", "laterality"),
    ("partial", "no", "partial"),
    ("time", "yesterday", "time"),
    ("time", "2026-11-25T22:40:01+02:00", "time"),
    ("device", "a/b", "device"),
    ("model", [{"name": "x", "sha256": "abc"}], "model.0.sha256"),
    ("action_units", {"AU12": "high"}, "action_units.AU12"),
]


@pytest.mark.parametrize(("key", "value", "named"), BAD)
def test_bad_payload_fails_naming_the_field(key: str, value: Any, named: str) -> None:
    d = event_to_dict(make_event())
    d[key] = value
    with pytest.raises(InputError, match=f"field '{named}'"):
        validate(d)
    # The built-in fallback (used where jsonschema is not installed) agrees.
    errs = _mini_validate(d, event_schema(), event_schema(), "")
    assert errs and errs[0][0] == named


def test_missing_score_and_extra_key_are_rejected() -> None:
    d = event_to_dict(make_event())
    bad = copy.deepcopy(d)
    del bad["scores"]["contempt"]
    with pytest.raises(InputError, match="contempt"):
        validate(bad)
    bad = copy.deepcopy(d)
    bad["face_image"] = "..."
    with pytest.raises(InputError, match="face_image"):
        validate(bad)
    assert _mini_validate(bad, event_schema(), event_schema(), "")


def test_cross_field_rules() -> None:
    with pytest.raises(InputError, match="apex_ns"):
        validate(event_to_dict(make_event(apex_ns=2_000_000_000)))
    with pytest.raises(InputError, match="'type'"):
        validate(event_to_dict(make_event(offset_ns=1_600_000_000)))  # 600 ms is macro
    d = event_to_dict(make_event())
    d["duration_ms"] = 100.0
    with pytest.raises(InputError, match="duration_ms"):
        validate(d)
    macro = make_event(type="macro", offset_ns=3_000_000_000)
    assert event_from_dict(event_to_dict(macro)) == macro


def test_non_finite_values_never_reach_json() -> None:
    with pytest.raises(ValueError):
        event_to_json(make_event(intensity=float("nan")))
    with pytest.raises(InputError, match="not JSON"):
        event_from_json("{")


def test_fallback_validator_checks_array_lengths() -> None:
    schema = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "integer"}}
    assert _mini_validate([1, 2], schema, schema, "") == []
    assert _mini_validate([1], schema, schema, "x")[0][0] == "x"
    assert _mini_validate([1, 2, 3, 4], schema, schema, "")
    assert _mini_validate([1, "a"], schema, schema, "")[0][0] == "1"
