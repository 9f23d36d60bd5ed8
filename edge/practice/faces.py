"""Action-unit displacement fields on the wireframe's 73 points, on a few face shapes.

Every action unit is a displacement of canonical-face landmarks at full strength (one side
at a time where the face has sides), in canonical units (inter-ocular distance 1, y down,
x towards the subject's left): the templates of ``edge.brain.au_templates``, the same ones the
generator and the image-space renderer use. The canonical face already sits in the motion
layout's face frame (outer eye corners at x = -0.5 and +0.5, y = 0), so a field is just the
displaced points minus the neutral ones, taken at ``edge.events.motion.MESH_INDICES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from edge.brain.au_geometry import canonical_face
from edge.brain.au_templates import template_displacements
from edge.events.motion import MESH_INDICES

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FaceShape:
    """A face shape: widths and lengths of the canonical face scaled per region."""

    name: str
    width: float = 1.0  # whole face, about the midline
    upper: float = 1.0  # above the eye line (brows, forehead)
    lower: float = 1.0  # below the eye line (nose, mouth, jaw)
    mouth: float = 1.0  # mouth width on top of `width`


SHAPES: tuple[FaceShape, ...] = (
    FaceShape("canonical"),
    FaceShape("broad", width=1.12, upper=0.95, lower=0.92),
    FaceShape("long", width=0.92, upper=1.05, lower=1.14),
    FaceShape("wide mouth", width=1.0, upper=0.9, lower=1.04, mouth=1.15),
)
_MOUTH = frozenset((61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
                    78, 81, 13, 311, 308, 402, 14, 178))  # fmt: skip


def _shape_scale(shape: FaceShape, pts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per-point (sx, sy) of the shape: a piecewise-linear stretch of the canonical face."""
    sx = np.full(len(pts), shape.width)
    sx[[k for k, i in enumerate(MESH_INDICES) if i in _MOUTH]] *= shape.mouth
    sy = np.where(pts[:, 1] < 0, shape.upper, shape.lower)
    return np.stack([sx, sy], axis=1)


@dataclass(frozen=True)
class FaceFields:
    """One face shape: neutral points and per-AU fields, all N_POINTS x 2 in face units."""

    shape: FaceShape
    neutral: F32
    fields: dict[str, F32]  # "AU12_L", "AU12_R", "AU26", ...

    def field(self, au: str, laterality: str) -> F32:
        """Field of ``au`` on one side ("left"/"right") or both."""
        if au in self.fields:
            return self.fields[au]
        if laterality == "left":
            return self.fields[f"{au}_L"]
        if laterality == "right":
            return self.fields[f"{au}_R"]
        return (self.fields[f"{au}_L"] + self.fields[f"{au}_R"]).astype(np.float32)


@lru_cache(maxsize=len(SHAPES))
def face_fields(shape_name: str) -> FaceFields:
    """Neutral points and AU fields of a shape (cached: built once per process)."""
    shape = next(s for s in SHAPES if s.name == shape_name)
    canon = canonical_face()[:, :2]
    sub = canon[list(MESH_INDICES)]
    scale = _shape_scale(shape, sub)
    neutral = sub * scale
    # Back into the face frame: origin between the outer eye corners, their distance = 1.
    r, left = MESH_INDICES.index(33), MESH_INDICES.index(263)
    origin = (neutral[r] + neutral[left]) / 2
    iod = float(np.linalg.norm(neutral[left] - neutral[r]))
    # the brain's own templates: the trainer shows the motions the detector is built on
    at = list(MESH_INDICES)
    fields = {
        key: (d[at, :2] * scale / iod).astype(np.float32)
        for key, d in template_displacements().items()
    }
    return FaceFields(shape, ((neutral - origin) / iod).astype(np.float32), fields)
