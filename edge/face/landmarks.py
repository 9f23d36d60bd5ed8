"""The face landmark mesh: crop a rotated ROI, run the mesh model, project back to pixels."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.errors import ConfigError
from edge.face.crop import RoiCrop
from edge.face.geometry import Roi, crop_matrix
from edge.runtime.interpreter import load_model


@dataclass(frozen=True, slots=True)
class MeshVariant:
    """A mesh model: manifest name, crop side in pixels and number of landmarks."""

    model: str
    input_size: int
    points: int


MESHES: dict[str, MeshVariant] = {
    # MediaPipe's legacy FaceMesh model (what solutions.face_mesh runs).
    "468": MeshVariant("face_landmark", 192, 468),
    # The Face Landmarker task's mesh: 468 + 10 iris points, the input of the blendshapes.
    "478": MeshVariant("face_landmarks_detector", 256, 478),
}


@dataclass(frozen=True, slots=True)
class MeshResult:
    """Landmarks (N x 3, image pixels; z scaled like x) and face-presence probability."""

    landmarks: npt.NDArray[np.float32]
    presence: float


class FaceMesh:
    """Runs one mesh variant on rotated ROIs; reuses its crop buffers across calls."""

    def __init__(
        self,
        mesh: str = "468",
        *,
        num_threads: int = 1,
        runtime: str | None = None,
        models_dir: Path | None = None,
    ) -> None:
        if mesh not in MESHES:
            raise ConfigError(f"unknown mesh {mesh!r}: choose one of {', '.join(MESHES)}")
        self.variant = MESHES[mesh]
        self.model = load_model(
            self.variant.model, num_threads=num_threads, runtime=runtime, directory=models_dir
        )
        self._crop = RoiCrop(self.variant.input_size)
        self.crop_seconds = 0.0
        self.mesh_seconds = 0.0

    def run(self, image: npt.NDArray[np.uint8], roi: Roi) -> MeshResult:
        """Landmarks of the face inside ``roi``; times the crop and the model separately."""
        n = self.variant.input_size
        t0 = time.perf_counter()
        m = crop_matrix(roi, n, n)
        crop = self._crop.crop(image, m)
        view = self.model.input_view()
        np.multiply(crop, np.float32(1 / 255), out=view[0])  # [0, 1] input range
        del view
        t1 = time.perf_counter()
        self.model.invoke()
        raw = self.model.output(0).reshape(-1, 3)[: self.variant.points]
        logit = float(self.model.output(1).reshape(-1)[0])
        pts = np.empty((self.variant.points, 3), dtype=np.float32)
        a = m[:, :2].astype(np.float32)
        np.matmul(raw[:, :2], a.T, out=pts[:, :2])
        pts[:, 0] += np.float32(m[0, 2])
        pts[:, 1] += np.float32(m[1, 2])
        # Depth comes in crop pixels; scale it like x so it is comparable across ROI sizes.
        np.multiply(raw[:, 2], np.float32(roi.size / n), out=pts[:, 2])
        presence = 1.0 / (1.0 + math.exp(-max(min(logit, 80.0), -80.0)))
        self.crop_seconds = t1 - t0
        self.mesh_seconds = time.perf_counter() - t1
        return MeshResult(pts, presence)
