"""Clip helpers for evaluation: frame times as replay stamps them, and running a clip."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import SourceError
from edge.events import SlipEvent

if TYPE_CHECKING:
    from edge.pipeline import PipelineResult

log = logging.getLogger(__name__)


def frame_times_ms(path: Path | str) -> list[float]:
    """Per decoded frame, its time in ms exactly as edge.sources.VideoFileSource stamps it."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SourceError(f"{path}: cannot open video")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0)
    pos: list[float] = []
    while cap.read()[0]:
        pos.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)))
    cap.release()
    if len(pos) > 1 and pos[1] <= pos[0]:  # no container timestamps: index / fps
        return [i * 1000.0 / fps for i in range(len(pos))]
    return [p - pos[0] for p in pos]


def spot_clip(
    path: Path | str,
    device_id: str = "eval",
    mesh: str = "468",
    model_path: str | None = None,
    on_result: Callable[[PipelineResult], None] | None = None,
) -> tuple[list[SlipEvent], float, int]:
    """Run the whole pipeline over a clip or recording: (events, fps, frames)."""
    from edge.pipeline import Pipeline
    from edge.replay import replay
    from edge.sources import open_source

    events: list[SlipEvent] = []
    pipe = Pipeline(device_id=device_id, mesh=mesh, spot=True, model_path=model_path)
    with open_source(str(path)) as src:
        summary = replay(src, pipe, on_result, on_events=events.extend)
        fps = float(src.fps)
    log.info("%s: %d frames, %d events", path, summary.frames, len(events))
    return events, fps, summary.frames
