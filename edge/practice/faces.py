"""Action-unit displacement fields on the wireframe's 73 points, on a few face shapes.

Every action unit is a displacement of canonical-face landmarks at full strength (one side
at a time where the face has sides), in canonical units (inter-ocular distance 1, y down,
x towards the subject's left), the same kind of template ``training/generator.py`` uses
for its feature streams; AU16 and AU45's lid travel are added for the FACS prototypes the
trainer names. The canonical face already sits in the motion layout's face frame (outer eye
corners at x = -0.5 and +0.5, y = 0), so a field is just the displaced points minus the
neutral ones, taken at ``edge.events.motion.MESH_INDICES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from edge.brain.au_geometry import canonical_face
from edge.events.motion import MESH_INDICES

F32 = npt.NDArray[np.float32]

# (indices on the subject's right, indices on the left, dx outwards, dy, dz) per AU.
_SIDED: dict[str, list[tuple[tuple[int, ...], tuple[int, ...], float, float]]] = {
    "AU1": [((107, 66, 55, 65), (336, 296, 285, 295), 0.0, -0.06),
            ((105,), (334,), 0.0, -0.025)],
    "AU2": [((70, 63, 105, 46, 53), (300, 293, 334, 276, 283), 0.0, -0.06),
            ((66,), (296,), 0.0, -0.02)],
    "AU4": [((107, 66, 55, 65), (336, 296, 285, 295), -0.025, 0.045),
            ((105, 63), (334, 293), -0.01, 0.025)],
    "AU5": [((159, 158, 160, 161, 157), (386, 385, 387, 388, 384), 0.0, -0.03)],
    "AU6": [((145, 144, 153), (374, 373, 380), 0.0, -0.018),
            ((70, 63), (300, 293), 0.0, 0.008)],
    "AU7": [((145, 144, 153, 154, 163), (374, 373, 380, 381, 390), 0.0, -0.03),
            ((159, 158, 160), (386, 385, 387), 0.0, 0.008)],
    "AU9": [((98, 97, 129, 64, 48, 102), (327, 326, 358, 294, 278, 331), 0.0, -0.035),
            ((37, 40), (267, 270), 0.0, -0.02), ((107, 66), (336, 296), -0.01, 0.02)],
    "AU10": [((37, 40, 39, 185, 81, 82), (267, 270, 269, 409, 311, 312), 0.0, -0.045)],
    "AU12": [((61, 78, 76, 62, 146, 185), (291, 308, 306, 292, 375, 409), 0.07, -0.085),
             ((40, 91, 81, 178), (270, 321, 311, 402), 0.03, -0.035),
             ((98,), (327,), 0.005, -0.01)],
    "AU14": [((61, 78, 76, 62), (291, 308, 306, 292), 0.02, 0.0),
             ((40, 91), (270, 321), 0.008, 0.0)],
    "AU15": [((61, 78, 76, 62, 146), (291, 308, 306, 292, 375), 0.0, 0.06),
             ((91, 40), (321, 270), 0.0, 0.025)],
    "AU16": [((84, 91, 178), (314, 321, 402), 0.005, 0.045)],
    "AU20": [((61, 78, 76, 62, 146), (291, 308, 306, 292, 375), 0.06, 0.01),
             ((40, 91, 81, 178), (270, 321, 311, 402), 0.03, 0.0)],
    "AU45": [((159, 158, 160, 161, 157), (386, 385, 387, 388, 384), 0.0, 0.075),
             ((145, 153, 144), (374, 380, 373), 0.0, -0.005)],
}  # fmt: skip
_CENTRAL: dict[str, list[tuple[tuple[int, ...], float]]] = {
    "AU17": [((17, 84, 314, 14, 87, 317, 178, 402), -0.04), ((152, 148, 377), -0.015)],
    "AU23": [((0, 37, 267, 13, 81, 311), 0.015), ((17, 84, 314, 14, 178, 402), -0.015)],
    "AU25": [((14, 87, 317, 178, 402, 17, 84, 314), 0.09)],
    "AU26": [((152, 148, 377, 176, 400, 149, 378, 150, 379, 17, 84, 314, 14, 87, 317, 178,
               402, 91, 321), 0.15)],
}  # fmt: skip
# AU24 narrows the mouth (both corners inwards): central but horizontal.
_PRESSOR = (((61, 78, 76, 62), (291, 308, 306, 292)), 0.03)

SIDED_AUS: tuple[str, ...] = (*_SIDED, "AU24")
CENTRAL_AUS: tuple[str, ...] = tuple(_CENTRAL)


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


def _full_displacement(au: str, side: int) -> npt.NDArray[np.float64]:
    """468 x 2 displacement of one AU (side 0 = subject's right, 1 = left, -1 = central)."""
    d = np.zeros((468, 2))
    if au == "AU24":
        sides, inward = _PRESSOR
        d[list(sides[side]), 0] += inward if side == 0 else -inward
        return d
    if au in _CENTRAL:
        for idx, dy in _CENTRAL[au]:
            d[list(idx), 1] += dy
        return d
    sign = -1.0 if side == 0 else 1.0  # the subject's right is towards -x
    for idx_r, idx_l, dx, dy in _SIDED[au]:
        d[list((idx_r, idx_l)[side])] += (sign * dx, dy)
    return d


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
    fields: dict[str, F32] = {}
    for au in SIDED_AUS:
        for side, tag in ((0, "R"), (1, "L")):
            d = _full_displacement(au, side)[list(MESH_INDICES)] * scale / iod
            fields[f"{au}_{tag}"] = d.astype(np.float32)
    for au in CENTRAL_AUS:
        d = _full_displacement(au, -1)[list(MESH_INDICES)] * scale / iod
        fields[au] = d.astype(np.float32)
    return FaceFields(shape, ((neutral - origin) / iod).astype(np.float32), fields)
