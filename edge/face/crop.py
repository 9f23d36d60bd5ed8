"""Rotated ROI crops into a model's float input, pixel for pixel what a 3-channel
``cv2.warpAffine`` gives, but cheaper.

Two costs dominate a 192x192 crop of a 640x360 frame on one x86 core. OpenCV 5's
warpAffine has a SIMD path for 4-channel uint8 images and not for 3-channel ones (about
100 us against 200 us), and a rotated crop walks the frame in an order the hardware
prefetcher cannot follow, so a frame that is not in cache costs 0.45 ms instead of 0.2.
:class:`RoiCrop` therefore first converts only the part of the frame the crop samples to
RGBA, row by row (30-60 us), warps that, and drops the alpha on the small crop. OpenCV 4.x has
no 4-channel advantage (its 3-channel warp is as fast): there the plain warp is kept.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

# Measured on OpenCV 4.11 and 5.0 (benchmarks/pipeline.py, docs/benchmarks.md): only 5+
# warps 4 channels faster than 3.
RGBA_WARP_FASTER = int(cv2.__version__.split(".")[0]) >= 5
_FLAGS = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


def _span(lo: float, hi: float, size: int) -> tuple[int, int]:
    # Samples outside the image read its first or last line (BORDER_REPLICATE).
    start = min(max(math.floor(lo) - 1, 0), size - 1)
    return start, max(min(math.ceil(hi) + 2, size), start + 1)


def sampled_box(
    m: npt.NDArray[np.float64], width: int, height: int, image_w: int, image_h: int
) -> tuple[slice, slice]:
    """Image (rows, columns) a ``width`` x ``height`` crop by ``m`` can read.

    A crop pixel (u, v) samples image point m . (u, v, 1) and its right and lower
    neighbours (bilinear); the extremes lie at the crop's corners. One pixel of margin on
    each side absorbs rounding.
    """
    (a, b, c), (d, e, f) = m.tolist()  # Python floats: numpy scalars cost ~5 us here
    xs = (c, a * width + c, b * height + c, a * width + b * height + c)
    ys = (f, d * width + f, e * height + f, d * width + e * height + f)
    y0, y1 = _span(min(ys), max(ys), image_h)
    x0, x1 = _span(min(xs), max(xs), image_w)
    return slice(y0, y1), slice(x0, x1)


class RoiCrop:
    """Crops rotated ROIs of RGB frames to n x n, reusing its buffers across calls."""

    def __init__(self, size: int, *, rgba: bool = RGBA_WARP_FASTER) -> None:
        self.size = size
        self.rgba = rgba
        self._rgb = np.empty((size, size, 3), dtype=np.uint8)
        self._crop4 = np.empty((size, size, 4), dtype=np.uint8)
        self._frame4 = np.empty((0, 0, 4), dtype=np.uint8)

    def crop(
        self, image: npt.NDArray[np.uint8], m: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.uint8]:
        """The n x n x 3 uint8 crop (``m`` maps crop pixels to image pixels); a reused buffer.

        Borders replicate, as MediaPipe's landmark crop does: a face at the image edge keeps
        plausible pixels instead of black, which would lower the presence score.
        """
        n = self.size
        if not self.rgba:
            cv2.warpAffine(
                image, m, (n, n), dst=self._rgb, flags=_FLAGS, borderMode=cv2.BORDER_REPLICATE
            )
            return self._rgb
        h, w = image.shape[:2]
        if self._frame4.shape[:2] != (h, w):
            self._frame4 = np.empty((h, w, 4), dtype=np.uint8)
        box = sampled_box(m, n, n, w, h)
        # Pixels outside the box keep an older frame's values: the warp never reads them,
        # so the crop equals a warp of the whole current frame (tests/test_face_crop.py).
        cv2.cvtColor(image[box], cv2.COLOR_RGB2RGBA, dst=self._frame4[box])
        cv2.warpAffine(
            self._frame4,
            m,
            (n, n),
            dst=self._crop4,
            flags=_FLAGS,
            borderMode=cv2.BORDER_REPLICATE,
        )
        cv2.cvtColor(self._crop4, cv2.COLOR_RGBA2RGB, dst=self._rgb)
        return self._rgb
