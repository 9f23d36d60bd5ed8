"""Score a spotter on generated (or recorded) feature streams with known truth."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from edge.evaluation.annotations import Segment
from edge.evaluation.metrics import IOU_HIT, EvalReport, Stream, evaluate
from edge.events import SlipEvent
from edge.types import AUFrame


class StreamSpotter(Protocol):
    """What run_generated needs from ``edge.brain.spotting.Spotter``."""

    def push(self, au_frame: AUFrame) -> list[SlipEvent]:
        """Events whose offset has passed."""
        ...

    def flush(self) -> list[SlipEvent]:
        """End of stream: close open tracks."""
        ...


def run_generated(
    items: Iterable[tuple[str, float, Sequence[AUFrame], Sequence[Segment]]],
    spotter: StreamSpotter,
    iou_min: float = IOU_HIT,
) -> tuple[EvalReport, list[Stream]]:
    """Push each (name, fps, AU frames, truth) stream through ``spotter`` and score them all.

    Times are on the stream's clock from 0 (as on a replay); the spotter is flushed after
    every stream, so streams do not leak into each other.
    """
    streams: list[Stream] = []
    for name, fps, frames, truths in items:
        events: list[SlipEvent] = []
        for f in frames:
            events += spotter.push(f)
        events += spotter.flush()
        end = frames[-1].t_ns + round(1e9 / fps) if frames and fps > 0 else 0
        streams.append(Stream(name, fps, end, tuple(truths), tuple(events)))
    return evaluate(streams, iou_min), streams
