"""A device whose pipeline is a real Processor emitting a known event stream (for service tests).

``python -m tests.fake_device CONFIG --events N --fps F`` runs the full service (outbox,
publisher, notifier, signals) over a timestamped tick source and prints ``stored <id>`` on
stdout after each event is in the outbox, so a parent test can kill -9 it at a known point.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import load_config
from edge.device.stats import Stats
from edge.device.wiring import serve
from edge.events import SlipEvent
from edge.sources.base import FrameClock, SourceBase
from edge.types import Face, FaceFrame, Frame
from tests.broker import make_event

_IMAGE = np.zeros((8, 8, 3), np.uint8)


@dataclass(frozen=True)
class Step:
    """A StepResult."""

    face_frame: FaceFrame
    events: list[SlipEvent]
    stage_times: dict[str, float] = field(default_factory=dict)


class TickSource(SourceBase):
    """``frames`` tiny frames at ``fps`` with sensor-like timestamps (a FrameSource)."""

    name = "ticks"

    def __init__(self, fps: float, frames: int, skip: frozenset[int] = frozenset()) -> None:
        self._fps = fps
        self._clock = FrameClock(fps)
        self.frames = frames
        self.skip = skip
        self.closed = False

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.frames):
            if i not in self.skip:
                # starts at 1 s, like a sensor clock, so the first event's onset is positive
                t_ns = 10**9 + round(i * 1e9 / self._fps)
                self._clock.observe(t_ns)
                yield Frame(index=i, t_ns=t_ns, image=_IMAGE)

    def close(self) -> None:
        self.closed = True


class SlipEveryFrame:
    """A Processor: one event per frame for the first ``events`` frames; a face after that."""

    def __init__(self, events: int, device: str = "testdev", tail: int = 0) -> None:
        self.events = events
        self.device = device
        self.tail = tail  # events returned by finish(), as a spotter flushing open intervals
        self.emitted: list[SlipEvent] = []
        self.frames = 0

    def _step(self, index: int, t_ns: int) -> Step:
        self.frames += 1
        events = []
        if len(self.emitted) < self.events:
            ev = make_event(len(self.emitted), self.device)
            # offset at this frame: the spotter emits an event once its offset has passed
            delta = t_ns - ev.offset_ns
            ev = SlipEvent(**{**_fields(ev), "onset_ns": ev.onset_ns + delta,
                              "apex_ns": ev.apex_ns + delta, "offset_ns": t_ns})  # fmt: skip
            events.append(ev)
            self.emitted.append(ev)
        face = Face(
            track_id=1, box=(0, 0, 4, 4), landmarks=np.zeros((1, 3), np.float32), presence=1
        )
        return Step(FaceFrame(index, t_ns, (face,)), events, {"fake": 1e-5})

    def process(self, frame: Frame) -> Step:
        return self._step(frame.index, frame.t_ns)

    @property
    def appearance_counts(self) -> dict[str, int]:
        # no pixels are looked at here: its 4-pixel faces are what the real stage calls too small
        return {"too_small": self.frames}

    def process_faces(self, face_frame: FaceFrame) -> Step:
        return self._step(face_frame.index, face_frame.t_ns)

    def finish(self) -> list[SlipEvent]:
        out = [make_event(10**5 + i, self.device) for i in range(self.tail)]
        self.emitted.extend(out)
        return out


def _fields(ev: SlipEvent) -> dict[str, Any]:
    return {name: getattr(ev, name) for name in SlipEvent.__dataclass_fields__}


class SlipEveryNth(SlipEveryFrame):
    """One event every ``n``-th frame (at most ``events``), emitted at its own offset frame."""

    def __init__(self, events: int, n: int, device: str = "bench") -> None:
        super().__init__(events, device)
        self.n = n

    def process(self, frame: Frame) -> Step:
        if frame.index % self.n:
            saved, self.events = self.events, len(self.emitted)  # no event on this frame
            step = super().process(frame)
            self.events = saved
            return step
        return super().process(frame)


class PrintStored:
    """A ServiceListener announcing each stored event id on stdout."""

    def on_event(self, event: SlipEvent) -> None:
        sys.stdout.write(f"stored {event.id}\n")
        sys.stdout.flush()

    def on_stats(self, stats: Stats) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point."""
    ap = argparse.ArgumentParser()
    ap.add_argument("config", type=Path)
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--frames", type=int, default=10**9)
    ap.add_argument("--fps", type=float, default=100.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    cfg = load_config(args.config)
    sys.stdout.write("starting\n")
    sys.stdout.flush()
    serve(
        cfg,
        SlipEveryFrame(args.events, cfg.device.id),
        backoff=(0.1, 0.5),
        listeners=(PrintStored(),),
        open_source=lambda: TickSource(args.fps, args.frames),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
