"""Compact landmark motion of a slip, for slow-motion study (``[events] include_motion``).

An event may carry ``motion``: a few frames (at most ``MAX_FRAMES``) of a fixed subset of
73 mesh points (``LAYOUT``: face outline, brows, eyes, nose, lips) from onset to offset.
Each frame is aligned to the onset frame by a similarity transform fitted on rigid points
(eye corners, nose bridge), so head motion drops out and only the expression moves. The
points are expressed in a face frame (origin between the eyes, x along the eye line, one
unit = the onset inter-ocular distance) and quantised to ``1/SCALE`` of that unit as ints.
No pixels and no absolute position or size of the face are kept.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.errors import InputError
from edge.types import FaceFrame

log = logging.getLogger(__name__)

LAYOUT_NAME = "microslip-face73-v1"
SCALE = 500  # quantisation steps per inter-ocular distance: 0.1 px on a 50 px eye span
MAX_FRAMES = 15
ONSET_SLACK_NS = 100_000_000  # the first recorded frame may follow the onset by this much

# Polylines over MediaPipe face-mesh indices (same indices in the 468 and 478 meshes).
# Right/left are the subject's. Closed polylines repeat no point; `closed` says so.
_PARTS: tuple[tuple[str, str, bool, tuple[int, ...]], ...] = (
    # (part, region, closed, mesh indices)
    (
        "outline",
        "outline",
        True,
        (10, 297, 284, 389, 454, 361, 397, 379, 400, 152, 176, 150, 172, 132, 234, 162, 54, 67),
    ),  # fmt: skip
    ("right_brow", "brows", False, (70, 63, 105, 66, 107)),
    ("left_brow", "brows", False, (300, 293, 334, 296, 336)),
    ("right_eye", "eyes", True, (33, 160, 159, 158, 133, 153, 145, 144)),
    ("left_eye", "eyes", True, (263, 387, 386, 385, 362, 380, 374, 373)),
    ("nose", "nose", False, (168, 6, 195, 4, 98, 97, 2, 326, 327)),
    ("outer_lips", "mouth", True, (61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91)),
    ("inner_lips", "mouth", True, (78, 81, 13, 311, 308, 402, 14, 178)),
)
MESH_INDICES: tuple[int, ...] = tuple(i for _, _, _, idx in _PARTS for i in idx)
N_POINTS = len(MESH_INDICES)

# FACS action units whose movement shows in each region (EMFACS, Friesen & Ekman 1983).
REGION_AUS: Mapping[str, tuple[str, ...]] = {
    "brows": ("AU1", "AU2", "AU4"),
    "eyes": ("AU5", "AU6", "AU7", "AU43", "AU45"),
    "nose": ("AU9",),
    "mouth": ("AU10", "AU12", "AU14", "AU15", "AU16", "AU17", "AU20", "AU23", "AU24", "AU25",
              "AU26", "AU27"),
    # The outline is drawn for orientation but never highlighted: with the head turning, its
    # 2-D projection changes shape in a way no similarity alignment removes.
    "outline": (),
}  # fmt: skip

_RIGHT_EYE_OUTER, _LEFT_EYE_OUTER = MESH_INDICES.index(33), MESH_INDICES.index(263)
# Points that move little with expressions: eye corners and nose bridge.
_RIGID = tuple(MESH_INDICES.index(i) for i in (33, 133, 362, 263, 168, 6))


def layout() -> dict[str, Any]:
    """The point layout as JSON: parts with their point offsets, regions and AUs per region."""
    parts = []
    start = 0
    for name, region, closed, idx in _PARTS:
        parts.append(
            {
                "name": name,
                "region": region,
                "closed": closed,
                "points": list(range(start, start + len(idx))),
                "mesh": list(idx),
            }
        )
        start += len(idx)
    return {
        "layout": LAYOUT_NAME,
        "scale": SCALE,
        "n_points": N_POINTS,
        "parts": parts,
        "region_aus": {k: list(v) for k, v in REGION_AUS.items()},
    }


@dataclass(frozen=True, slots=True)
class Motion:
    """Quantised, head-motion-free landmark frames of one slip (see module docstring)."""

    t_ms: tuple[int, ...]  # frame times relative to onset
    points: npt.NDArray[np.int16]  # F x N_POINTS x 2, units of 1/SCALE inter-ocular

    def to_dict(self) -> dict[str, Any]:
        """JSON form: layout name, scale, frame times and one flat [x0, y0, x1, ...] per frame."""
        return {
            "layout": LAYOUT_NAME,
            "scale": SCALE,
            "t_ms": list(self.t_ms),
            "frames": [f.reshape(-1).tolist() for f in self.points],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Motion:
        """Parse the JSON form; raises InputError on a foreign layout or bad shapes."""
        if d.get("layout") != LAYOUT_NAME or d.get("scale") != SCALE:
            raise InputError(f"motion: unknown layout {d.get('layout')!r}/{d.get('scale')!r}")
        t_ms = tuple(int(t) for t in d["t_ms"])
        pts = np.asarray(d["frames"], dtype=np.int16)
        if pts.ndim != 2 or pts.shape != (len(t_ms), 2 * N_POINTS):
            raise InputError(f"motion: frames shape {pts.shape} does not match {len(t_ms)} times")
        return cls(t_ms=t_ms, points=pts.reshape(len(t_ms), N_POINTS, 2))

    def as_float(self) -> npt.NDArray[np.float32]:
        """Points in inter-ocular units (F x N x 2)."""
        out: npt.NDArray[np.float32] = self.points.astype(np.float32) / np.float32(SCALE)
        return out

    def region_motion(self) -> dict[str, float]:
        """Largest displacement from the first frame per region, in inter-ocular units."""
        pts = self.as_float()
        disp = np.linalg.norm(pts - pts[:1], axis=2).max(axis=0)  # per point
        out: dict[str, float] = {}
        start = 0
        for _, region, _, idx in _PARTS:
            m = float(disp[start : start + len(idx)].max())
            out[region] = max(out.get(region, 0.0), m)
            start += len(idx)
        return out


def _similarity(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> Any:
    """Least-squares similarity transform (Umeyama) mapping src points onto dst: (s, R, t)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    fix = np.diag([1.0, d])
    rot = u @ fix @ vt
    var = float((a**2).sum())
    s = float((sig * np.diag(fix)).sum() / var) if var > 0 else 1.0
    return s, rot, mu_d - s * rot @ mu_s


def build_motion(
    times_ns: Sequence[int], frames: Sequence[npt.NDArray[np.float32]], onset_ns: int
) -> Motion | None:
    """Downsample, align and quantise subset frames (each N_POINTS x 2 pixels); None if < 2."""
    if len(frames) < 2:
        return None
    pick = np.unique(np.linspace(0, len(frames) - 1, min(MAX_FRAMES, len(frames))).round())
    ref = frames[0].astype(np.float64)
    eye_r, eye_l = ref[_RIGHT_EYE_OUTER], ref[_LEFT_EYE_OUTER]
    iod = float(np.linalg.norm(eye_l - eye_r))
    if not np.isfinite(iod) or iod < 1e-6:
        return None
    # Face frame: origin between the outer eye corners, x along the eye line (image x grows
    # towards the subject's left eye in a mirror-free view), unit = inter-ocular distance.
    ex = (eye_l - eye_r) / iod
    basis = np.array([ex, [-ex[1], ex[0]]])
    origin = (eye_l + eye_r) / 2
    out = np.empty((len(pick), N_POINTS, 2), dtype=np.int16)
    rigid = list(_RIGID)
    for k, i in enumerate(pick.astype(int)):
        cur = frames[i].astype(np.float64)
        s, rot, t = _similarity(cur[rigid], ref[rigid])
        aligned = (s * (rot @ cur.T)).T + t
        face = (aligned - origin) @ basis.T / iod
        out[k] = np.clip(np.round(face * SCALE), -32000, 32000).astype(np.int16)
    t_ms = tuple(int(round((times_ns[int(i)] - onset_ns) / 1e6)) for i in pick)
    return Motion(t_ms=t_ms, points=out)


class MotionRecorder:
    """Keeps the last few seconds of subset landmarks per track to cut an event's motion."""

    def __init__(self, window_s: float = 4.0, max_frames: int = 1024) -> None:
        self._window_ns = int(window_s * 1e9)
        self._max = max_frames
        self._tracks: dict[int, deque[tuple[int, npt.NDArray[np.float32]]]] = {}
        self._last_ns = 0

    def observe(self, face_frame: FaceFrame) -> None:
        """Remember this frame's subset landmarks for every face; forget stale tracks."""
        t = face_frame.t_ns
        self._last_ns = t
        for face in face_frame.faces:
            lm = face.landmarks
            if lm.shape[0] <= max(MESH_INDICES):
                continue  # not a MediaPipe mesh: nothing we can lay out
            buf = self._tracks.get(face.track_id)
            if buf is None:
                buf = self._tracks[face.track_id] = deque(maxlen=self._max)
            buf.append((t, np.ascontiguousarray(lm[MESH_INDICES, :2], dtype=np.float32)))
        horizon = t - self._window_ns
        for tid in list(self._tracks):
            buf = self._tracks[tid]
            while buf and buf[0][0] < horizon:
                buf.popleft()
            if not buf:
                del self._tracks[tid]

    def motion_for(self, track_id: int, onset_ns: int, offset_ns: int) -> Motion | None:
        """The motion of one track between onset and offset, or None if not recorded."""
        buf = self._tracks.get(track_id)
        if not buf:
            return None
        sel = [(t, p) for t, p in buf if onset_ns <= t <= offset_ns]
        if sel and sel[0][0] > onset_ns + ONSET_SLACK_NS:
            # The onset fell out of the window (a long macro expression): a replay that does
            # not start at rest would mislead, so say nothing rather than something wrong.
            sel = []
        motion = build_motion([t for t, _ in sel], [p for _, p in sel], onset_ns)
        if motion is None:
            log.info("no motion recorded for track %d %d..%d ns", track_id, onset_ns, offset_ns)
        return motion

    def buffered_frames(self) -> int:
        """Frames currently held, over all tracks (bounded by window and max_frames)."""
        return sum(len(b) for b in self._tracks.values())


def motion_regions(motion: Motion, threshold: float = 0.02, share: float = 0.5) -> list[str]:
    """Regions that moved: past ``threshold`` inter-ocular units and ``share`` of the most."""
    rm = {r: v for r, v in motion.region_motion().items() if REGION_AUS[r]}
    top = max(rm.values(), default=0.0)
    ranked = sorted(rm.items(), key=lambda kv: -kv[1])
    return [r for r, v in ranked if v > threshold and v >= share * top]


def iter_parts() -> Iterable[tuple[str, str, bool, range]]:
    """(part, region, closed, point offsets) for drawing."""
    start = 0
    for name, region, closed, idx in _PARTS:
        yield name, region, closed, range(start, start + len(idx))
        start += len(idx)
