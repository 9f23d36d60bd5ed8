"""The replay loop shared by ``microslip replay``, ``record``, ``demo`` and the arm64 check.

``replay(source, pipeline, on_result=..., realtime=False)`` drives any frame or face source
through a :class:`~edge.pipeline.Pipeline` and returns a :class:`ReplaySummary`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.errors import InputError
from edge.pipeline import Pipeline, PipelineResult, StageSummary, StageTimings
from edge.types import FaceFrame, Frame

if TYPE_CHECKING:
    from edge.commands.progress import Progress
    from edge.events import SlipEvent
    from edge.sources import FaceSource, FrameSource

log = logging.getLogger(__name__)

# Order in which stage timings are printed; unknown stages follow alphabetically.
STAGE_ORDER = (
    "decode",
    "detect",
    "crop",
    "mesh",
    "track",
    "faces",
    "appearance",
    "features",
    "spot",
)


@dataclass
class ReplaySummary:
    """What a replay saw: frames, faces per track, losses, events and stage timings."""

    source: str
    fps: float
    frames: int = 0
    faces_per_track: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    bad_frames: int = 0
    events: int = 0
    stage_timings: dict[str, StageSummary] = field(default_factory=dict)
    # appearance readings taken ("ok") and faces the classifier skipped, per reason
    appearance: dict[str, int] = field(default_factory=dict)
    # intervals the model flagged but the spotter did not report (no facial action moved, ...)
    not_reported: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    clip_s: float = 0.0
    stopped: bool = False

    @property
    def processing_fps(self) -> float:
        """Frames processed per wall-clock second."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def lines(self) -> list[str]:
        """The human-readable summary the CLI prints."""
        out = [
            f"{self.source}: {self.frames} frames ({self.clip_s:.2f} s of video at "
            f"{self.fps:.3g} fps) in {self.wall_s:.2f} s, {self.processing_fps:.1f} frames/s"
            + (" (stopped early)" if self.stopped else ""),
            f"dropped frames: {self.dropped}, bad frames: {self.bad_frames}",
        ]
        if self.faces_per_track:
            tracks = ", ".join(f"#{t}: {n}" for t, n in sorted(self.faces_per_track.items()))
            out.append(f"tracks: {len(self.faces_per_track)} (frames per track: {tracks})")
        else:
            out.append("tracks: 0 (no face found)")
        out.append(f"events: {self.events}")
        if self.appearance:
            skipped = {k: n for k, n in sorted(self.appearance.items()) if k != "ok" and n}
            why = ", ".join(f"{k} {n}" for k, n in skipped.items()) or "none"
            out.append(f"appearance: {self.appearance.get('ok', 0)} readings; skipped: {why}")
        if self.not_reported:
            why = ", ".join(f"{k} {n}" for k, n in sorted(self.not_reported.items()))
            out.append(f"not reported as expressions: {why}")
        if self.stage_timings:
            # the mean shows amortised cost of stages that run only on some frames (detect)
            out.append("stage timings (ms per frame):")
            out.append(f"  {'stage':<9}{'median':>10} {'p99':>8} {'mean':>8}")
            for stage in sorted(self.stage_timings, key=_stage_key):
                t = self.stage_timings[stage]
                out.append(f"  {stage:<9}{t.median_ms:10.3f} {t.p99_ms:8.3f} {t.mean_ms:8.3f}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the service's stats and for tests)."""
        return {
            "source": self.source,
            "fps": self.fps,
            "frames": self.frames,
            "faces_per_track": {str(k): v for k, v in sorted(self.faces_per_track.items())},
            "dropped": self.dropped,
            "bad_frames": self.bad_frames,
            "events": self.events,
            "stage_timings": {k: dataclasses.asdict(v) for k, v in self.stage_timings.items()},
            "appearance": dict(self.appearance),
            "not_reported": dict(self.not_reported),
            "wall_s": self.wall_s,
            "clip_s": self.clip_s,
            "stopped": self.stopped,
        }


def _stage_key(stage: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), stage)


def face_frame_to_dict(face_frame: FaceFrame, decimals: int = 3) -> dict[str, Any]:
    """One ``--frames-out`` line: index, t_ns and every face (landmarks in image pixels)."""
    return {
        "index": face_frame.index,
        "t_ns": face_frame.t_ns,
        "faces": [
            {
                "track_id": face.track_id,
                "box": [round(float(v), decimals) for v in face.box],
                "score": round(float(face.presence), 4),
                # float64 first so that rounding gives short decimals, not float32 noise
                "landmarks": np.round(face.landmarks.astype(np.float64), decimals).tolist(),
            }
            for face in face_frame.faces
        ],
    }


def replay(
    source: FrameSource | FaceSource,
    pipeline: Pipeline,
    on_result: Callable[[PipelineResult], None] | None = None,
    realtime: bool = False,
    *,
    on_events: Callable[[list[SlipEvent]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_frames: int | None = None,
    progress: Progress | None = None,
) -> ReplaySummary:
    """Drive ``source`` through ``pipeline`` until it ends, ``should_stop()`` or ``max_frames``.

    ``realtime=True`` paces frames at their timestamps (the clip's own rate); otherwise as
    fast as possible. Images of the wrong shape/dtype are counted as bad frames and skipped.
    ``on_events`` receives every non-empty batch of events, including the end-of-stream flush.
    """
    summary = ReplaySummary(source=getattr(source, "name", "source"), fps=source.fps)
    decode = StageTimings()
    tracks: Counter[int] = Counter()
    rejected = 0
    first_t: int | None = None
    last_t = 0
    start = time.perf_counter()
    items: Iterator[Frame | FaceFrame] = iter(source)
    while max_frames is None or summary.frames < max_frames:
        if should_stop is not None and should_stop():
            summary.stopped = True
            break
        t0 = time.perf_counter()
        item = next(items, None)
        if item is None:
            break
        decode.add({"decode": time.perf_counter() - t0})
        if first_t is None:
            first_t = item.t_ns
        last_t = item.t_ns
        if realtime:
            delay = start + (item.t_ns - first_t) / 1e9 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        if isinstance(item, FaceFrame):
            result = pipeline.process_faces(item)
        else:
            try:
                result = pipeline.process(item)
            except InputError as exc:
                rejected += 1
                log.warning("frame %d skipped: %s", item.index, exc)
                continue
        summary.frames += 1
        tracks.update(face.track_id for face in result.face_frame.faces)
        if on_result is not None:
            on_result(result)
        if result.events:
            summary.events += len(result.events)
            if on_events is not None:
                on_events(list(result.events))
        if progress is not None:
            progress.update(summary.frames, f"faces {len(result.face_frame.faces)}")
    tail = pipeline.finish()
    if tail:
        summary.events += len(tail)
        if on_events is not None:
            on_events(tail)
    if progress is not None:
        progress.close()
    summary.wall_s = time.perf_counter() - start
    period = 1.0 / source.fps if source.fps > 0 else 0.0
    summary.clip_s = (last_t - (first_t or 0)) / 1e9 + (period if summary.frames else 0.0)
    summary.faces_per_track = dict(tracks)
    summary.dropped = source.dropped
    summary.bad_frames = source.bad_frames + rejected
    summary.stage_timings = {**decode.summary(), **pipeline.timings.summary()}
    summary.appearance = pipeline.appearance_counts
    summary.not_reported = pipeline.not_reported
    return summary
