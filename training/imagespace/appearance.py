"""Appearance probabilities of rendered frames, exactly as the device computes them.

Uses the runtime's ``edge.brain.appearance``: the quality verdict (``assess``), its aligned
64x64 grey crop (eye and mouth centres on a fixed template) and the sha256-pinned fer
classifier, so the training cache matches what the emotion fusion sees on a device.
"""

from __future__ import annotations

import numpy as np

from edge.brain.appearance import FER_LABELS, QUALITIES, AppearanceModel, aligned_crop, assess

CROP = 64
__all__ = ["FER_LABELS", "QUALITIES", "Appearance"]


class Appearance:
    """Quality, crop and fer probabilities (7, ``FER_LABELS`` order) of one tracked face."""

    def __init__(self) -> None:
        self.model = AppearanceModel()

    def read(
        self, rgb: np.ndarray, landmarks: np.ndarray, presence: float
    ) -> tuple[int, np.ndarray, np.ndarray]:
        """(quality index into QUALITIES, crop, probabilities or NaN when not classified)."""
        h, w = rgb.shape[:2]
        quality, m = assess(landmarks, presence, w, h)
        crop = aligned_crop(rgb, m) if m.any() else np.zeros((CROP, CROP), np.uint8)
        probs = (
            self.model.probs(crop)
            if quality == QUALITIES[0]
            else np.full(len(FER_LABELS), np.nan, np.float32)
        )
        return QUALITIES.index(quality), crop, probs
