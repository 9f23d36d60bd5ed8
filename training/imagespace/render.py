"""Render scripted sequences from real faces and run them through the real face stage.

``Rig`` holds one source face ready to warp: its triangulated region, the similarity from
the canonical face to its mesh, and the dense field of every basis displacement. A frame
is: source frame -> expression + head-turn warp (piecewise affine) -> in-plane head motion
and framing (affine onto the canvas) -> lighting, sensor noise, JPEG. ``observe`` then runs
our FaceTracker (BlazeFace + 468 mesh) and the appearance model on every frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from edge.brain.au_geometry import canonical_face, fit_similarity, normalise
from training.imagespace.displacements import basis
from training.imagespace.faces import WORK_IOD, WORK_SIZE, SourceFace
from training.imagespace.script import Script
from training.imagespace.warp import WarpGrid, apply_field

log = logging.getLogger(__name__)


@dataclass
class Rig:
    """A source face prepared for warping."""

    face: SourceFace
    grid: WarpGrid
    scale: float
    rot: np.ndarray
    fields: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, face: SourceFace) -> Rig:
        """Triangulate the face and fit canonical -> image (similarity on all 468 points)."""
        canon = canonical_face()
        s, rot, _t = fit_similarity(canon, face.mesh[:468].astype(np.float64))
        grid = WarpGrid.build(face.mesh[:468, :2], face.frames[0].shape)
        return cls(face, grid, s, rot)

    def to_pixels(self, disp: np.ndarray) -> np.ndarray:
        """Canonical displacement (468 x 3) -> image displacement (468 x 2 pixels)."""
        return (self.scale * disp @ self.rot.T)[:, :2]

    def field_of(self, source: str, key: str) -> np.ndarray:
        """Dense field of one basis entry ('template'/'pls'/'pose', key), cached."""
        k = (source, key)
        if k not in self.fields:
            d = pose_per_degree()[key] if source == "pose" else basis(source)[key]
            self.fields[k] = self.grid.field(self.to_pixels(d))
        return self.fields[k]


def _rotation(axis: str, deg: float) -> np.ndarray:
    """Rotation matrix about the canonical y (yaw) or x (pitch) axis."""
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    if axis == "yaw":
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


@lru_cache(maxsize=1)
def pose_per_degree() -> dict[str, np.ndarray]:
    """The 2-D image motion of the canonical face turned by one degree (yaw, pitch).

    A true rotation of the canonical mesh, of which the warp can show only the in-plane part
    (yaw: dx = x (cos t - 1) + z sin t; pitch likewise in y). The sign is chosen so that
    ``normalise`` reads a positive angle for a positive curve. An earlier version scaled
    py-feat's pose columns, mostly image-plane shift, to the tiny yaw ``normalise`` read
    from them: "one degree" was ~0.55 IOD of warp and the rendered turns smeared the face.
    """
    canon = canonical_face()
    out = {}
    for i, axis in enumerate(("yaw", "pitch")):
        moved = canon @ _rotation(axis, 1.0).T
        if normalise(moved)[1][i] <= 0:
            moved = canon @ _rotation(axis, -1.0).T
        d = moved - canon
        d[:, 2] = 0.0  # rendered as a 2-D warp: depth is not seen
        out[axis] = d
    return out


def _frame_index(i: int, n_src: int) -> int:
    """Ping-pong through the source frames (a real, slightly moving neutral face)."""
    if n_src == 1:
        return 0
    period = 2 * (n_src - 1)
    k = i % period
    return k if k < n_src else period - k


def render(script: Script, rig: Rig, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The script's frames (RGB uint8, canvas size) in order."""
    w, h = 480, 360
    work_c = (WORK_SIZE / 2, WORK_SIZE / 2)
    # the face near the middle; outside the source frame a flat background of its mean colour
    # (a replicated border smears, a reflected one would add mirrored faces)
    centre = (
        w / 2 + float(rng.uniform(-0.2, 0.2)) * w,
        h / 2 + float(rng.uniform(-0.15, 0.15)) * h,
    )
    bg = tuple(float(v) for v in rig.face.frames[0].reshape(-1, 3).mean(0))
    ramp = ((np.arange(w, dtype=np.float32) - w / 2) / w)[None, :, None]
    noise = np.zeros((h, w), np.float32)
    cv2.setRNGSeed(int(rng.integers(2**31)))  # cv2.randn: seeded from the script's rng
    for i in range(script.n):
        src = rig.face.frames[_frame_index(i, len(rig.face.frames))]
        fwd = np.zeros((rig.grid.h, rig.grid.w, 2), np.float32)
        for key, curve in script.curves.items():
            if abs(curve[i]) > 1e-3:
                fwd += np.float32(curve[i]) * rig.field_of(script.source, key)
        for name, curve in (("yaw", script.yaw), ("pitch", script.pitch)):
            if abs(curve[i]) > 1e-3:
                fwd += np.float32(curve[i]) * rig.field_of("pose", name)
        img = apply_field(src, rig.grid, fwd)
        roll, sc, dx, dy = script.affine[i]
        m = cv2.getRotationMatrix2D(work_c, float(roll), float(sc) * script.iod_px / WORK_IOD)
        m[:, 2] += np.array([centre[0] + dx, centre[1] + dy]) - np.array(work_c)
        img = cv2.warpAffine(
            img,
            m,
            (w, h),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=bg,
        )
        gain, grad, gamma = script.light[i]
        lut = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma * gain, 0, 255).astype(np.uint8)
        f = cv2.LUT(img, lut).astype(np.float32)
        f *= 1.0 + np.float32(grad) * ramp
        cv2.randn(noise, 0.0, script.noise)
        f += noise[..., None]
        np.clip(f, 0, 255, out=f)
        img = f.astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, script.jpeg_q])
        yield cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img


@dataclass
class Observed:
    """What the face stage saw on each frame of a rendered sequence."""

    t_ns: np.ndarray  # T
    landmarks: np.ndarray  # T x 468 x 3 float32, NaN where no face was tracked
    presence: np.ndarray  # T
    appearance: np.ndarray  # T x 7 (fer order), NaN when not classified
    quality: np.ndarray  # T int8: index into edge.brain.appearance.QUALITIES, -1 without a face
    crops: np.ndarray  # T x 64 x 64 uint8 aligned grey crops (zeros without a face)


def observe(frames: Iterator[np.ndarray], fps: float, n: int) -> Observed:
    """Run FaceTracker (one face) and the appearance model over rendered frames."""
    from edge.types import Frame

    tracker = _tracker()
    tracker.reset()
    app = _appearance()
    t_ns = np.round(np.arange(n) / fps * 1e9).astype(np.int64)
    lms = np.full((n, 468, 3), np.nan, np.float32)
    pres = np.zeros(n, np.float32)
    probs = np.full((n, 7), np.nan, np.float32)
    crops = np.zeros((n, 64, 64), np.uint8)
    quality = np.full(n, -1, np.int8)
    for i, img in enumerate(frames):
        ff = tracker.process(Frame(i, int(t_ns[i]), img))
        if not ff.faces:
            continue
        face = ff.faces[0]
        lms[i] = face.landmarks[:468]
        pres[i] = face.presence
        quality[i], crops[i], probs[i] = app.read(img, face.landmarks, face.presence)
    return Observed(t_ns, lms, pres, probs, quality, crops)


_STATE: dict[str, object] = {}


def _tracker():  # type: ignore[no-untyped-def]
    from edge.face.tracker import FaceTracker

    if "tracker" not in _STATE:
        _STATE["tracker"] = FaceTracker(max_faces=1, detect_every=10)
    return _STATE["tracker"]


def _appearance():  # type: ignore[no-untyped-def]
    from training.imagespace.appearance import Appearance

    if "app" not in _STATE:
        _STATE["app"] = Appearance()
    return _STATE["app"]
