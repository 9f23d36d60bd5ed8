"""Events: the SlipEvent contract (``slip``), its schema validation (``schema``) and the
landmark motion an event may carry (``motion``)."""

from edge.events.motion import Motion, MotionRecorder
from edge.events.schema import MICRO_MAX_MS, event_schema, validate
from edge.events.slip import (
    CHANNELS,
    EMOTIONS,
    EVENT_TYPES,
    FALLBACKS,
    LATERALITIES,
    SCHEMA_VERSION,
    Evidence,
    ModelRef,
    SlipEvent,
    event_from_dict,
    event_from_json,
    event_to_dict,
    event_to_json,
    with_motion,
)

__all__ = [
    "CHANNELS",
    "EMOTIONS",
    "FALLBACKS",
    "Evidence",
    "EVENT_TYPES",
    "LATERALITIES",
    "MICRO_MAX_MS",
    "SCHEMA_VERSION",
    "ModelRef",
    "Motion",
    "MotionRecorder",
    "SlipEvent",
    "event_from_dict",
    "event_from_json",
    "event_schema",
    "event_to_dict",
    "event_to_json",
    "validate",
    "with_motion",
]
