"""Frame sources: one protocol for clips, synthetic frames, the Pi camera and recordings.

Every source counts dropped frames from timestamp gaps with the same
:class:`~edge.sources.base.FrameClock` and counts-and-skips frames it cannot decode
(``bad_frames``); opening a source that cannot work at all raises
:class:`~edge.errors.SourceError` naming what failed. :func:`open_source` is the one factory.
"""

from __future__ import annotations

from pathlib import Path

from edge.sources.base import (
    CAMERA_SPECS,
    DROP_GAP_PERIODS,
    FaceSource,
    FrameClock,
    FrameSource,
    Source,
    check_image,
)
from edge.sources.synthetic import SyntheticSource
from edge.sources.video import VideoFileSource

__all__ = [
    "CAMERA_SPECS",
    "DROP_GAP_PERIODS",
    "FaceSource",
    "FrameClock",
    "FrameSource",
    "Source",
    "SyntheticSource",
    "VideoFileSource",
    "check_image",
    "open_source",
]


def open_source(
    spec: str | Path, fps: float | None = None, size: tuple[int, int] | None = None
) -> FrameSource | FaceSource:
    """Open ``spec``: ``picamera2``/``camera``, ``synthetic``, a ``.npz`` recording or a clip.

    ``fps`` sets the camera/synthetic rate; for a clip it is only the fallback when the
    container states none (a file always plays at its own rate); ``size`` is the camera's
    (width, height), its default when None. The one factory of sources, the camera's included.
    """
    text = str(spec)
    if text in CAMERA_SPECS:
        from edge.sources.camera import PiCameraSource

        if size is None:
            return PiCameraSource(fps=fps or 30.0)
        return PiCameraSource(fps=fps or 30.0, size=size)
    if text == "synthetic":
        return SyntheticSource(fps=fps or 30.0)
    if text.lower().endswith(".npz"):
        from edge.sources.recording import LandmarkFileSource

        return LandmarkFileSource(text)
    return VideoFileSource(text, fps=fps)
