"""Pipeline: FaceTracker → FeatureExtractor → Spotter, shared by replay, record, demo and run.

The face stage, features and spotter are imported lazily: a recording replays without any
TFLite runtime, and ``spot=False`` runs landmarks only.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from edge.errors import MicroslipError
from edge.events import MotionRecorder, with_motion
from edge.types import Appearance, AUFrame, FaceFrame, Frame

if TYPE_CHECKING:
    from edge.events import SlipEvent

log = logging.getLogger(__name__)


class FaceStage(Protocol):
    """What the pipeline needs from the face stage (``edge.face.tracker.FaceTracker``)."""

    stage_times: dict[str, float]

    def process(self, frame: Frame) -> FaceFrame:
        """All faces in one frame."""
        ...


class AppearanceStep(Protocol):
    """What the pipeline needs from ``edge.brain.appearance.AppearanceStage``."""

    counts: dict[str, int]  # readings taken ("ok") and faces skipped, per quality verdict

    def observe(
        self, frame: Frame, face_frame: FaceFrame, moving: Collection[int] | None = None
    ) -> tuple[Appearance, ...]:
        """Readings of the faces due for one this frame (``moving`` tracks at full rate)."""
        ...

    def end_track(self, track_id: int) -> None:
        """Forget a lost track."""
        ...


class FlowStep(Protocol):
    """What the pipeline needs from ``edge.brain.flow.FlowStage``."""

    def observe(self, frame: Frame, face_frame: FaceFrame) -> Mapping[int, npt.NDArray[np.float32]]:
        """Region-flow channels per tracked face with a usable crop."""
        ...

    def end_track(self, track_id: int) -> None:
        """Forget a lost track."""
        ...


class FeatureStage(Protocol):
    """What the pipeline needs from ``edge.brain.features.FeatureExtractor``."""

    def update(
        self,
        face_frame: FaceFrame,
        appearance: Sequence[Appearance] = (),
        flow: Mapping[int, npt.NDArray[np.float32]] | None = None,
    ) -> list[AUFrame]:
        """One AUFrame per tracked face."""
        ...

    def end_track(self, track_id: int) -> None:
        """Forget a lost track's baseline."""
        ...


class SpotStage(Protocol):
    """What the pipeline needs from ``edge.brain.spotting.Spotter``."""

    def push(self, au_frame: AUFrame) -> list[SlipEvent]:
        """Events whose offset has passed."""
        ...

    def end_track(self, track_id: int) -> list[SlipEvent]:
        """A track was lost: cut or drop its open expression."""
        ...

    def flush(self) -> list[SlipEvent]:
        """End of stream: everything still open."""
        ...


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """Everything one frame produced, plus how long each stage took (seconds)."""

    face_frame: FaceFrame
    au_frames: tuple[AUFrame, ...]
    events: tuple[SlipEvent, ...]
    stage_times: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StageSummary:
    """How long one stage took over the recent frames (milliseconds)."""

    median_ms: float
    p99_ms: float
    mean_ms: float
    n: int


class StageTimings:
    """Per-stage durations of the most recent frames, for medians and p99s in summaries."""

    def __init__(self, keep: int = 20_000) -> None:
        # bounded: the service runs for months, a summary needs only recent frames
        self._keep = keep
        self._times: dict[str, deque[float]] = {}

    def add(self, times: dict[str, float]) -> None:
        """Record one frame's stage durations (seconds)."""
        for stage, seconds in times.items():
            self._times.setdefault(stage, deque(maxlen=self._keep)).append(seconds)

    def summary(self) -> dict[str, StageSummary]:
        """Per stage, median/p99/mean milliseconds over the kept frames."""
        out: dict[str, StageSummary] = {}
        for stage, values in self._times.items():
            a = np.fromiter(values, dtype=np.float64) * 1e3
            out[stage] = StageSummary(
                median_ms=float(np.median(a)),
                p99_ms=float(np.percentile(a, 99)),
                mean_ms=float(a.mean()),
                n=int(a.size),
            )
        return out


def _load_spotting(device_id: str, model_path: str | None) -> tuple[FeatureStage, SpotStage]:
    from edge.brain.features import FeatureExtractor
    from edge.brain.spotting import Spotter

    features: Any = FeatureExtractor()
    spotter: Any = Spotter(device_id=device_id, model_path=model_path)
    return features, spotter


class Pipeline:
    """Frame (or recorded FaceFrame) in, faces + action features + finished events out."""

    def __init__(
        self,
        device_id: str = "dev",
        mesh: str = "468",
        spot: bool = True,
        *,
        max_faces: int = 4,
        detect_every: int = 10,
        num_threads: int = 1,
        model_path: str | None = None,
        tracker: FaceStage | None = None,
        features: FeatureStage | None = None,
        spotter: SpotStage | None = None,
        include_motion: bool = False,
        appearance: bool | AppearanceStep = True,
        flow: bool | FlowStep = True,
    ) -> None:
        """Build the stages; ``tracker``/``features``/``spotter``/``appearance``/``flow`` may be
        given ready-made (``appearance=False``: no appearance readings, the events say so;
        ``flow=False``: no image-motion channels, the model sees zeros there)."""
        if str(mesh) not in ("468", "478"):
            raise MicroslipError(f"mesh must be 468 or 478, got {mesh!r}")
        self.device_id = device_id
        self.mesh = str(mesh)
        self.spot = spot
        self._tracker_args: dict[str, Any] = {
            "mesh": self.mesh,
            "max_faces": max_faces,
            "detect_every": detect_every,
            "num_threads": num_threads,
        }
        self._tracker = tracker
        self._appearance: AppearanceStep | None = (
            None if isinstance(appearance, bool) else appearance
        )
        self._want_appearance = spot and appearance is not False
        self._flow: FlowStep | None = None if isinstance(flow, bool) else flow
        self._features: FeatureStage | None = features
        self._spotter: SpotStage | None = spotter
        if spot and (features is None or spotter is None):
            f, s = _load_spotting(device_id, model_path)
            self._features = features or f
            self._spotter = spotter or s
        # the flow stage costs a crop and a dense flow per face and frame: only for a model
        # that reads it (a spotter that does not say is assumed not to)
        self._want_flow = (
            spot and flow is not False and bool(getattr(self._spotter, "uses_flow", False))
        )
        self._tracks: set[int] = set()
        # [events] include_motion: keep a few seconds of landmarks to attach each slip's motion.
        self._motion = MotionRecorder() if include_motion else None
        self.timings = StageTimings()
        self.frames = 0

    @property
    def tracker(self) -> FaceStage:
        """The face stage, built (models verified and loaded) on first use."""
        if self._tracker is None:
            from edge.face.tracker import FaceTracker

            self._tracker = FaceTracker(**self._tracker_args)
        if self._want_appearance and self._appearance is None:  # verified with the face models
            from edge.brain.appearance import AppearanceStage

            self._appearance = AppearanceStage()
        if self._want_flow and self._flow is None:
            from edge.brain.flow import FlowStage

            self._flow = FlowStage()
        return self._tracker

    @property
    def appearance_counts(self) -> dict[str, int]:
        """Appearance readings taken (``ok``) and faces skipped per reason; {} when off."""
        return dict(self._appearance.counts) if self._appearance is not None else {}

    @property
    def not_reported(self) -> dict[str, int]:
        """Spotted intervals the spotter did not report as expressions, per reason."""
        return dict(getattr(self._spotter, "rejected", {}))

    def process(self, frame: Frame) -> PipelineResult:
        """Run one camera/clip frame through every stage; a bad image raises InputError."""
        tracker = self.tracker
        t0 = time.perf_counter()
        face_frame = tracker.process(frame)
        total = time.perf_counter() - t0
        times = {k: float(v) for k, v in tracker.stage_times.items()}
        times["faces"] = total
        readings: tuple[Appearance, ...] = ()
        if self._appearance is not None and face_frame.faces:
            t1 = time.perf_counter()
            # the feature stage knows which faces move (as of the previous frame): those are
            # read at the full rate, faces at rest at a lower one
            moving = getattr(self._features, "moving_tracks", None)
            readings = self._appearance.observe(
                frame, face_frame, moving() if callable(moving) else None
            )
            times["appearance"] = time.perf_counter() - t1
        flows: Mapping[int, npt.NDArray[np.float32]] | None = None
        if self._flow is not None and face_frame.faces:
            t1 = time.perf_counter()
            flows = self._flow.observe(frame, face_frame)
            times["flow"] = time.perf_counter() - t1
        return self._downstream(face_frame, times, readings, flows)

    def process_faces(self, face_frame: FaceFrame) -> PipelineResult:
        """Run a recorded FaceFrame through features and spotter (the face stage is skipped)."""
        return self._downstream(face_frame, {})

    def _downstream(
        self,
        face_frame: FaceFrame,
        times: dict[str, float],
        readings: tuple[Appearance, ...] = (),
        flows: Mapping[int, npt.NDArray[np.float32]] | None = None,
    ) -> PipelineResult:
        self.frames += 1
        events: list[SlipEvent] = []
        au_frames: Sequence[AUFrame] = ()
        current = {face.track_id for face in face_frame.faces}
        lost = sorted(self._tracks - current)
        self._tracks = current
        if self._features is not None and self._spotter is not None:
            t0 = time.perf_counter()
            for track_id in lost:
                self._features.end_track(track_id)
                if self._appearance is not None:
                    self._appearance.end_track(track_id)
                if self._flow is not None:
                    self._flow.end_track(track_id)
            # without readings or flow call as before: feature stages written for geometry
            # keep working
            if flows:
                au_frames = self._features.update(face_frame, readings, flows)
            elif readings:
                au_frames = self._features.update(face_frame, readings)
            else:
                au_frames = self._features.update(face_frame)
            t1 = time.perf_counter()
            for track_id in lost:
                events += self._spotter.end_track(track_id)
            for au in au_frames:
                events += self._spotter.push(au)
            times["features"] = t1 - t0
            times["spot"] = time.perf_counter() - t1
        if self._motion is not None:
            self._motion.observe(face_frame)
            events = with_motion(events, self._motion)
        for track_id in lost:
            log.debug("track %d ended at frame %d", track_id, face_frame.index)
        self.timings.add(times)
        return PipelineResult(face_frame, tuple(au_frames), tuple(events), times)

    def finish(self) -> list[SlipEvent]:
        """End of stream: flush the spotter (it closes every open track) and forget tracks."""
        events: list[SlipEvent] = []
        if self._features is not None and self._spotter is not None:
            events = list(self._spotter.flush())
            if self._motion is not None:
                events = with_motion(events, self._motion)
            for track_id in sorted(self._tracks):
                self._features.end_track(track_id)
        self._tracks = set()
        return events
