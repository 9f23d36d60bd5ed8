"""Clips decoded with OpenCV: RGB frames, clip time from 0 in ``t_ns``."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.errors import SourceError
from edge.sources.base import FrameClock, SourceBase
from edge.types import Frame

log = logging.getLogger(__name__)


class VideoFileSource(SourceBase):
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
    def frame_count(self) -> int:
        """Frames the container claims to hold (an estimate; 0 when unknown)."""
        return self._frame_count

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
