"""The mesh crop (edge.face.crop): the RGBA path equals a plain 3-channel warp, pixel for pixel."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge.face.crop import RoiCrop, sampled_box
from edge.face.geometry import Roi, crop_matrix

FLAGS = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP


def _frame(rng: np.random.Generator, h: int = 360, w: int = 640) -> np.ndarray:
    # Blurred noise: neighbouring pixels differ, so any wrong sample or weight shows.
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.GaussianBlur(noise, (3, 3), 0))


def _reference(image: np.ndarray, m: np.ndarray, n: int) -> np.ndarray:
    out = np.empty((n, n, 3), np.uint8)
    cv2.warpAffine(image, m, (n, n), dst=out, flags=FLAGS, borderMode=cv2.BORDER_REPLICATE)
    return out


@pytest.mark.parametrize("rgba", [True, False])
def test_crop_equals_a_whole_frame_warp_for_any_roi(rgba: bool) -> None:
    rng = np.random.default_rng(7)
    crop = RoiCrop(192, rgba=rgba)
    for k in range(200):
        # A new frame each time: rows left from the last frame must never reach the crop.
        image = _frame(rng)
        roi = Roi(
            float(rng.uniform(-100, 740)),
            float(rng.uniform(-100, 460)),
            float(rng.uniform(20, 900)),
            float(rng.uniform(-math.pi, math.pi)),
        )
        m = crop_matrix(roi, 192, 192)
        assert np.array_equal(crop.crop(image, m), _reference(image, m, 192)), (k, roi)


def test_crop_follows_a_change_of_frame_size() -> None:
    rng = np.random.default_rng(3)
    crop = RoiCrop(256, rgba=True)
    for h, w in ((360, 640), (480, 270), (360, 640)):
        image = _frame(rng, h, w)
        m = crop_matrix(Roi(w / 2, h / 2, min(w, h) * 0.7, 0.4), 256, 256)
        assert np.array_equal(crop.crop(image, m), _reference(image, m, 256))


def test_sampled_box_covers_the_rotated_square_and_stays_inside_the_image() -> None:
    m = crop_matrix(Roi(320.0, 180.0, 100.0, math.pi / 4), 192, 192)
    rows, cols = sampled_box(m, 192, 192, 640, 360)
    r = 50 * math.sqrt(2)  # half the diagonal of the rotated square
    assert 180 - r - 2 <= rows.start <= 180 - r and 180 + r <= rows.stop <= 180 + r + 3
    assert 320 - r - 2 <= cols.start <= 320 - r and 320 + r <= cols.stop <= 320 + r + 3
    # Entirely above and left of the image: only its first row and column are read.
    m = crop_matrix(Roi(-500.0, -500.0, 100.0, 0.0), 192, 192)
    assert sampled_box(m, 192, 192, 640, 360) == (slice(0, 1), slice(0, 1))
    m = crop_matrix(Roi(900.0, 900.0, 100.0, 0.0), 192, 192)
    assert sampled_box(m, 192, 192, 640, 360) == (slice(359, 360), slice(639, 640))
