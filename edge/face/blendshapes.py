"""MediaPipe's 52 blendshapes from the 478-point mesh (face_blendshapes.tflite), optional.

The model reads 146 of the 478 landmarks as (x, y) image pixels and returns 52 ARKit-style
coefficients in 0..1. Measured against the geometric AU proxies on the real clips (see
models/MODEL_CARD.md, "Feature choice"); the spotter's model uses the geometric proxies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.errors import InputError

# The landmark subset the blendshape model was trained on (MediaPipe face_blendshapes_graph).
SUBSET: tuple[int, ...] = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63,
    65, 66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133,
    136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163,
    168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270,
    276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317,
    318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379,
    380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454,
    466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477,
)  # fmt: skip
NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip
_SUBSET = np.array(SUBSET, np.intp)


class Blendshapes:
    """The blendshape model, verified by sha256 through the face-model manifest."""

    def __init__(
        self, *, runtime: str | None = None, num_threads: int = 1, models_dir: Path | None = None
    ) -> None:
        from edge.runtime.interpreter import load_model

        self.model = load_model(
            "face_blendshapes", runtime=runtime, num_threads=num_threads, directory=models_dir
        )

    def __call__(self, landmarks: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """52 coefficients (NAMES order) from one 478-point mesh in image pixels."""
        if landmarks.ndim != 2 or landmarks.shape[0] < 478:
            raise InputError(f"blendshapes need the 478-point mesh, got {landmarks.shape}")
        pts = np.ascontiguousarray(landmarks[_SUBSET, :2], np.float32)[None]
        self.model.set_input(pts)
        self.model.invoke()
        return self.model.output_float(0).reshape(-1)[: len(NAMES)]
