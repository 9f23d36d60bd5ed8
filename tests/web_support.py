"""Helpers shared by the live-page tests: a slip factory, an SSE reader and a poll loop."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from edge.events import EMOTIONS, SlipEvent
from edge.events.motion import Motion


def make_slip(n: int, emotion: str = "happiness", motion: Motion | None = None) -> SlipEvent:
    """A plausible micro slip number n of the given emotion."""
    onset = 1_000_000_000 + n * 50_000_000
    return SlipEvent(
        id=f"dev-1-{n:06d}",
        device="bench-pi",
        track_id=1,
        type="micro",
        emotion=emotion,
        confidence=0.7,
        scores=tuple((e, 0.7 if e == emotion else 0.05) for e in EMOTIONS),
        onset_ns=onset,
        apex_ns=onset + 120_000_000,
        offset_ns=onset + 300_000_000,
        intensity=0.3,
        action_units=(("AU6", 0.2), ("AU12_L", 0.4)),
        laterality="both",
        partial=True,
        time="2026-11-25T22:40:01.150000Z",
        motion=motion,
    )


def sse_events(resp: http.client.HTTPResponse) -> Iterator[tuple[str, Any]]:
    """Yield (event name, parsed data) from a text/event-stream response."""
    name, data = "message", ""
    while True:
        line = resp.readline()
        if not line:
            return
        text = line.decode().rstrip("\n")
        if text == "":
            if data:
                yield name, json.loads(data)
            name, data = "message", ""
        elif text.startswith("event: "):
            name = text[7:]
        elif text.startswith("data: "):
            data += text[6:]


def wait_for(pred: Callable[[], bool], timeout: float = 5.0, step: float = 0.02) -> bool:
    """Poll pred() until it is true or timeout passes; return its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()
