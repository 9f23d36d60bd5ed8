"""PiCameraSource: the Raspberry Pi camera through picamera2, the only module importing it.

picamera2 is imported lazily (it only exists on a Pi: ``apt install python3-picamera2``).
The lores stream is YUV420 (what a Pi 4 and earlier can produce) and converted to RGB with
OpenCV; a fixed frame rate is set with equal min/max ``FrameDurationLimits``; each frame's
``t_ns`` is the request's ``SensorTimestamp``; every request is released in ``finally``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from edge.errors import SourceError
from edge.sources.base import FrameClock, SourceBase
from edge.types import Frame

log = logging.getLogger(__name__)

PI_INSTALL_HINT = (
    "on a Raspberry Pi: `sudo apt install python3-picamera2` and a venv made with "
    "`python3 -m venv --system-site-packages`"
)
# A request that takes this many frame periods (at least 2 s) means the camera has stalled.
STALL_PERIODS = 30


class PiCameraSource(SourceBase):
    """Fixed-rate frames from the Pi camera's lores YUV420 stream, sensor-timestamped."""

    def __init__(
        self, fps: float = 30.0, size: tuple[int, int] = (640, 480), camera_num: int = 0
    ) -> None:
        """Start camera ``camera_num`` at ``fps``, lores stream of ``size`` (width, height)."""
        if not 1 <= fps <= 240:
            raise SourceError(f"camera fps must be between 1 and 240, got {fps}")
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(
                f"camera: picamera2 is not available ({exc}); {PI_INSTALL_HINT}"
            ) from exc
        try:
            cameras = Picamera2.global_camera_info()
        except Exception as exc:  # libcamera raises assorted types when the stack is broken
            raise SourceError(f"camera: cannot list cameras: {exc}") from exc
        if len(cameras) <= camera_num:
            raise SourceError(
                f"camera: no camera {camera_num} found ({len(cameras)} detected); check the "
                "ribbon cable and `rpicam-hello --list-cameras`"
            )
        self._fps = float(fps)
        self.name = f"picamera2:{camera_num}"
        self._clock = FrameClock(self._fps)
        self._bad = 0
        self._delivered = 0
        self._closed = False
        frame_us = round(1e6 / self._fps)
        self._cam: Any = None
        try:
            self._cam = Picamera2(camera_num)
            w, h = size
            config = self._cam.create_video_configuration(
                # main is never read; same aspect as lores so the ISP does not distort it
                main={"size": (w * 2, h * 2), "format": "YUV420"},
                lores={"size": (w, h), "format": "YUV420"},
                controls={"FrameDurationLimits": (frame_us, frame_us)},
            )
            self._cam.align_configuration(config)
            self._cam.configure(config)
            self.width, self.height = self._cam.camera_config["lores"]["size"]
            self._cam.start()
        except Exception as exc:
            self.close()
            raise SourceError(f"camera {camera_num}: failed to start: {exc}") from exc
        log.info(
            "camera %d started: lores %dx%d YUV420 at %.3g fps (frame duration %d us)",
            camera_num,
            self.width,
            self.height,
            self._fps,
            frame_us,
        )

    def _capture(self) -> tuple[Any, dict[str, Any]]:
        """One request's lores array and metadata; the request is always released."""
        timeout = max(2.0, STALL_PERIODS / self._fps)
        try:
            job = self._cam.capture_request(wait=False)
            request = self._cam.wait(job, timeout=timeout)
        except Exception as exc:
            raise SourceError(f"{self.name}: camera stopped delivering frames: {exc!r}") from exc
        try:
            return request.make_array("lores"), request.get_metadata()
        except Exception as exc:
            raise SourceError(f"{self.name}: cannot read a camera frame: {exc!r}") from exc
        finally:
            request.release()

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        while not self._closed:
            yuv, metadata = self._capture()
            t_ns = metadata.get("SensorTimestamp")
            if not isinstance(t_ns, int) or yuv is None or yuv.shape[0] != self.height * 3 // 2:
                self._bad += 1
                log.warning("%s: request without image or SensorTimestamp, skipped", self.name)
                continue
            if not self._clock.observe(t_ns):
                self._bad += 1
                log.warning("%s: SensorTimestamp went backwards, frame skipped", self.name)
                continue
            # rows carry stride padding on the right: convert the padded image, then crop
            rgb = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
            if rgb.shape[1] != self.width:
                rgb = np.ascontiguousarray(rgb[:, : self.width])
            index = self._delivered + self._clock.dropped  # sensor frame number since start
            self._delivered += 1
            yield Frame(index=index, t_ns=t_ns, image=rgb)

    def close(self) -> None:
        """Stop and close the camera so another process can open it."""
        self._closed = True
        cam, self._cam = self._cam, None
        if cam is None:
            return
        try:
            cam.stop()
        finally:
            cam.close()
