"""The shared kit of every frame source: the drop-counting clock, the image check, the
closing base class and the Source protocol. Imports no sibling module (no import circles).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from edge.errors import InputError
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
    """``image`` (made contiguous) if it is an RGB uint8 H×W×3 array, else InputError saying why.

    Called once per frame, by the face stage that needs pixels."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must be H x W x 3 (RGB), got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InputError(f"image is too small: shape {image.shape}")
    return np.ascontiguousarray(image)


class SourceBase:
    """What every source shares: its rate, the drop-counting clock, the bad-frame count and
    ``with src:`` closing it on exit. Subclasses set ``_fps`` and ``_clock`` in ``__init__``."""

    _fps: float
    _clock: FrameClock
    _bad: int = 0

    @property
    def fps(self) -> float:
        """Nominal frame rate (frames per second)."""
        return self._fps

    @property
    def dropped(self) -> int:
        """Frames lost so far, from gaps in ``t_ns`` larger than 1.5 periods."""
        return self._clock.dropped

    @property
    def bad_frames(self) -> int:
        """Frames skipped or cleaned: undecodable, time going back, NaN landmarks."""
        return self._bad

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
