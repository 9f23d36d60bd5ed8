"""Frame sources: one protocol for clips, synthetic frames, the Pi camera and recordings.

Every source counts dropped frames from timestamp gaps with the same :class:`FrameClock`
and counts-and-skips frames it cannot decode (``bad_frames``); opening a source that cannot
work at all raises :class:`~edge.errors.SourceError` naming what failed.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from edge.errors import InputError, SourceError
from edge.types import FaceFrame, Frame

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

# A gap larger than this many frame periods means the frames in between never arrived.
DROP_GAP_PERIODS = 1.5
CAMERA_SPECS = ("picamera2", "camera")


class FrameClock:
    """Counts dropped frames from ``t_ns`` gaps and rejects timestamps that go backwards."""

    def __init__(self, fps: float) -> None:
        self.period_ns = 1e9 / fps if fps > 0 else 0.0
        self.dropped = 0
        self.last_t_ns: int | None = None

    def observe(self, t_ns: int) -> bool:
        """Account for one frame; False means it is out of order (not after the last one)."""
        last = self.last_t_ns
        if last is not None and t_ns <= last:
            return False
        if last is not None and self.period_ns > 0:
            gap = t_ns - last
            if gap > DROP_GAP_PERIODS * self.period_ns:
                # round() so that a jittery gap of ~2 periods counts as exactly one lost frame
                self.dropped += max(1, round(gap / self.period_ns) - 1)
        self.last_t_ns = t_ns
        return True


def check_image(image: Any) -> npt.NDArray[np.uint8]:
    """Return ``image`` if it is an RGB uint8 H×W×3 array, else raise InputError saying why."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must be H x W x 3 (RGB), got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InputError(f"image is too small: {image.shape}")
    return image


class _Closing:
    """Context-manager plumbing shared by every source: ``with src:`` closes it on exit."""

    def close(self) -> None:
        """Release the underlying device or file (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


ItemT = TypeVar("ItemT", covariant=True)


class Source(Protocol[ItemT]):
    """A context-managed stream of frames (or recorded face frames) with loss counters."""

    name: str

    @property
    def fps(self) -> float:
        """Nominal frame rate (frames per second)."""
        ...

    @property
    def dropped(self) -> int:
        """Frames lost so far, from gaps in ``t_ns`` larger than 1.5 periods."""
        ...

    @property
    def bad_frames(self) -> int:
        """Frames skipped or cleaned: undecodable, time going back, NaN landmarks."""
        ...

    def __iter__(self) -> Iterator[ItemT]: ...

    def close(self) -> None:
        """Release the source."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# A clip, the camera or the synthetic generator: RGB frames.
FrameSource = Source[Frame]
# A landmark recording: FaceFrames without pixels.
FaceSource = Source[FaceFrame]


class VideoFileSource(_Closing):
    """A video file decoded with OpenCV; RGB frames, clip time from 0 in ``t_ns``."""

    # Consecutive failed grabs tolerated before deciding the clip has ended: FFmpeg fails one
    # grab per corrupt packet and then recovers at the next keyframe; the end of the file
    # fails every grab (and is not retried once the container's frame count is reached).
    _RETRIES = 64

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        """Open ``path``; ``fps`` is used only when the container states no frame rate."""
        import cv2

        self.path = Path(path)
        self.name = self.path.name
        if self.path.is_dir():
            raise SourceError(f"{self.path}: is a directory, not a video file")
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        self._cap: Any = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            if not os.access(self.path, os.R_OK):  # OpenCV says nothing about permissions
                raise SourceError(f"{self.path}: cannot read (permission denied)")
            raise SourceError(f"{self.path}: cannot open as a video (corrupt or unsupported)")
        container_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if math.isfinite(container_fps) and container_fps > 0:
            self._fps = container_fps
        else:
            self._fps = fps if fps else 30.0
            log.warning("%s states no frame rate; assuming %.3g fps", self.path, self._fps)
        count = float(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        # raw streams (e.g. .mjpeg) report garbage such as a huge negative count
        self._frame_count = int(count) if math.isfinite(count) and 0 < count < 1e9 else 0
        self._clock = FrameClock(self._fps)
        self._bad = 0
        self._pos = 0  # container frames grabbed so far, good or bad
        self._first_ms: float | None = None
        self._index_time = False  # True when the container carries no timestamps
        self._closed = False
        first = self._next()
        if first is None:
            self.close()
            raise SourceError(f"{self.path}: no decodable video frames (corrupt or empty clip)")
        self._pending: Frame | None = first
        self.height, self.width = first.image.shape[:2]

    @property
    def fps(self) -> float:
        """Container frame rate."""
        return self._fps

    @property
    def frame_count(self) -> int:
        """Frames the container claims to hold (an estimate; 0 when unknown)."""
        return self._frame_count

    @property
    def dropped(self) -> int:
        """Frames missing from the container's timestamps."""
        return self._clock.dropped

    @property
    def bad_frames(self) -> int:
        """Frames that failed to decode or went back in time, skipped."""
        return self._bad

    def _timestamp_ns(self, pos: int) -> int:
        import cv2

        ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))
        if self._first_ms is None:
            self._first_ms = ms
        elif pos == 1 and ms <= self._first_ms:
            # Two frames at the same time: this container/backend reports no timestamps.
            self._index_time = True
            log.info("%s: container has no timestamps; using index / fps", self.path)
        if self._index_time or not math.isfinite(ms):
            return round(pos * 1e9 / self._fps)
        return round((ms - self._first_ms) * 1e6)

    def _grab(self) -> bool:
        failed = 0
        while not self._cap.grab():
            failed += 1
            # unknown frame count (0) or past it: the clip has ended, do not retry
            if failed > self._RETRIES or self._pos + failed >= self._frame_count:
                return False
        if failed:
            self._bad += failed
            log.warning(
                "%s: %d frame(s) at %d failed to decode, skipped", self.path, failed, self._pos
            )
            self._pos += failed
        return True

    def _next(self) -> Frame | None:
        import cv2

        while not self._closed:
            if not self._grab():
                return None
            pos = self._pos
            self._pos += 1
            ok, bgr = self._cap.retrieve()
            if not ok or bgr is None or bgr.size == 0:
                self._bad += 1
                log.warning("%s: frame %d failed to decode, skipped", self.path, pos)
                continue
            t_ns = self._timestamp_ns(pos)
            if not self._clock.observe(t_ns):
                self._bad += 1
                log.warning(
                    "%s: frame %d goes back in time (t=%d ns), skipped", self.path, pos, t_ns
                )
                continue
            if bgr.ndim == 2:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
            elif bgr.shape[2] == 4:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB)
            else:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            return Frame(index=pos, t_ns=t_ns, image=rgb)
        return None

    def __iter__(self) -> Iterator[Frame]:
        if self._pending is not None:
            first, self._pending = self._pending, None
            yield first
        while (frame := self._next()) is not None:
            yield frame
        if not self._closed and self._pos < self._frame_count:
            # the container's count is often an estimate (duration x fps): only a large
            # shortfall points at a truncated file
            level = logging.WARNING if self._pos < 0.9 * self._frame_count else logging.INFO
            log.log(
                level,
                "%s: stream ended after %d of the %d frames the container announced",
                self.path,
                self._pos,
                self._frame_count,
            )

    def close(self) -> None:
        """Release the decoder."""
        if not self._closed:
            self._closed = True
            self._cap.release()


class SyntheticSource(_Closing):
    """Seeded cartoon-face frames at a fixed rate: cheap input for tests and demos."""

    def __init__(
        self,
        fps: float = 30.0,
        frames: int | None = 90,
        width: int = 320,
        height: int = 240,
        seed: int = 0,
        drop: tuple[int, ...] | frozenset[int] = (),
        face: bool = True,
    ) -> None:
        """``frames=None`` never ends; ``drop`` lists indices never delivered (a ``t_ns`` gap)."""
        if fps <= 0 or (frames is not None and frames < 0) or width < 16 or height < 16:
            raise InputError(
                f"synthetic source needs fps > 0, frames >= 0 and size >= 16 px "
                f"(got fps={fps}, frames={frames}, {width}x{height})"
            )
        self.name = f"synthetic(seed={seed})"
        self._fps = float(fps)
        self.frames = frames
        self.width = width
        self.height = height
        self.seed = seed
        self.drop = frozenset(drop)
        self.face = face
        self._clock = FrameClock(self._fps)

    @property
    def fps(self) -> float:
        """Configured frame rate."""
        return self._fps

    @property
    def frame_count(self) -> int:
        """Frames this source will yield (0 when endless)."""
        if self.frames is None:
            return 0
        return self.frames - len({i for i in self.drop if 0 <= i < self.frames})

    @property
    def dropped(self) -> int:
        """Frames skipped via ``drop``, as seen from the timestamps."""
        return self._clock.dropped

    @property
    def bad_frames(self) -> int:
        """Always 0: every generated frame is valid."""
        return 0

    def __iter__(self) -> Iterator[Frame]:
        rng = np.random.default_rng(self.seed)
        w, h = self.width, self.height
        yy, xx = np.mgrid[0:h, 0:w]
        background = (40 + 60 * xx / w + 30 * yy / h).astype(np.uint8)
        base = np.dstack([background, background, background // 2 + 40])
        cx, cy = w / 2, h / 2
        for i in itertools.count() if self.frames is None else range(self.frames):
            # a slow random walk so that trackers see motion, bounded to stay in view
            cx = float(np.clip(cx + rng.normal(0, w / 200), w * 0.35, w * 0.65))
            cy = float(np.clip(cy + rng.normal(0, h / 200), h * 0.4, h * 0.6))
            if i in self.drop:
                continue
            image = base.copy()
            if self.face:
                _draw_face(image, cx, cy, min(w, h) * 0.28, smile=0.5 + 0.5 * math.sin(i / 9))
            t_ns = round(i * 1e9 / self._fps)
            self._clock.observe(t_ns)
            yield Frame(index=i, t_ns=t_ns, image=image)


def _draw_face(image: npt.NDArray[np.uint8], cx: float, cy: float, r: float, smile: float) -> None:
    """Draw a simple frontal face (skin oval, brows, eyes, nose, mouth) in place."""
    import cv2

    def p(dx: float, dy: float) -> tuple[int, int]:
        return int(cx + dx * r), int(cy + dy * r)

    cv2.ellipse(image, p(0, 0), (int(0.78 * r), int(r)), 0, 0, 360, (224, 172, 140), -1)
    for side in (-1, 1):
        cv2.ellipse(image, p(side * 0.33, -0.22), (int(0.16 * r), int(0.08 * r)), 0, 0, 360,
                    (250, 250, 250), -1)  # fmt: skip
        cv2.circle(image, p(side * 0.33, -0.22), max(1, int(0.06 * r)), (60, 40, 30), -1)
        cv2.line(image, p(side * 0.48, -0.42), p(side * 0.18, -0.40), (90, 60, 40), 3)
    cv2.line(image, p(0, -0.15), p(-0.06, 0.18), (180, 120, 100), 2)
    cv2.ellipse(image, p(0, 0.45), (int(0.3 * r), int((0.05 + 0.12 * smile) * r)), 0, 0, 180,
                (150, 60, 60), 3)  # fmt: skip


def open_source(spec: str | Path, fps: float | None = None) -> FrameSource | FaceSource:
    """Open ``spec``: ``picamera2``/``camera``, ``synthetic``, a ``.npz`` recording or a clip.

    ``fps`` sets the camera/synthetic rate; for a clip it is only the fallback when the
    container states none (a file always plays at its own rate).
    """
    text = str(spec)
    if text in CAMERA_SPECS:
        from edge.camera import PiCameraSource

        return PiCameraSource(fps=fps or 30.0)
    if text == "synthetic":
        return SyntheticSource(fps=fps or 30.0)
    if text.lower().endswith(".npz"):
        from edge.recording import LandmarkFileSource

        return LandmarkFileSource(text)
    return VideoFileSource(text, fps=fps)
