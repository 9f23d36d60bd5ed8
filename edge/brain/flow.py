"""Region optical flow on the aligned face crop: the image motion the mesh only partly follows.

The mesh sees little of a weak anger or sadness slip: their rises barely clear its still-face
noise (models/MODEL_CARD.md, "why recall stays low"), while the pixels of the brows, lids and
mouth corners do move. Each tracked face's 64x64 aligned grey crop (the
appearance channel's crop: eye and mouth centres on a fixed template, so head motion is
mostly removed) is compared with its crop ``LAG_S`` earlier by Farneback dense flow (OpenCV),
and the flow is averaged in 7x7 windows at 17 facial points (vertical motion: brows, lids,
cheeks, nose wings, mouth corners, lips, chin) and 4 (horizontal: mouth corners, inner
brows), minus the crop's median flow (what the alignment left of the head's own motion), in
units of 0.05 inter-ocular distances. These ``FLOW_NAMES`` channels follow the geometric
features in every AUFrame (zeros where a frame has no reference yet, or no image at all, as
in a landmark recording); the micro-event model is trained with them dropped from some
sequences, so geometry alone still spots.

Cost: a crop per face and frame and one Farneback on 64x64 per face at up to 15 Hz
(``MAX_RATE_HZ``, the value held in between) with 2 iterations: about a third of the first
release's flow (30 Hz, 3 iterations: 1.2 ms a frame inside a replay on one x86 core, 0.65 ms in
a tight loop). Retrained on these channels, the model spots as well on the development set
(single models: F1 0.608 and 0.598 over two seeds against 0.609 for the 30 Hz model trained
the same way; the shipped three members 0.635; models/MODEL_CARD.md); without retraining, 15 Hz
had cost F1 0.597 -> 0.577. The second iteration alone changes the channels by at most 0.03
units (correlation 0.99996).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from edge.brain.appearance import _key_points, aligned_crop, crop_transform, similarity, template
from edge.brain.au_geometry import canonical_face
from edge.types import FaceFrame, Frame

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

# mesh index of each sampled point (canonical face placed in the crop by the crop's template)
_POINTS: dict[str, int] = {
    "brow_in_R": 107, "brow_in_L": 336, "brow_out_R": 70, "brow_out_L": 300,
    "lid_up_R": 159, "lid_up_L": 386, "lid_lo_R": 145, "lid_lo_L": 374, "cheek_R": 50,
    "cheek_L": 280, "ala_R": 129, "ala_L": 358, "corner_R": 61, "corner_L": 291,
    "lip_up": 0, "lip_lo": 17, "chin": 152,
}  # fmt: skip
# (point, component): 1 = vertical, 0 = horizontal
CHANNELS: tuple[tuple[str, int], ...] = tuple((n, 1) for n in _POINTS) + tuple(
    (n, 0) for n in ("corner_R", "corner_L", "brow_in_R", "brow_in_L")
)
FLOW_NAMES: tuple[str, ...] = tuple(f"FL_{n}_{'xy'[c]}" for n, c in CHANNELS)
N_FLOW = len(FLOW_NAMES)
LAG_S = 0.4  # a micro-slip's onset-to-apex is 65-250 ms: the reference is before it began
# a reference further than this from LAG_S (dropped frames, a face just found) is not used
LAG_TOLERANCE_S = 0.05
UNIT = 32.0 * 0.05  # crop pixels per 0.05 inter-ocular distance (the crop is 2 IOD wide)
CLIP = 4.0
# At most this many flows per track and second: a 30 fps camera gets one every other frame, a
# 60 fps one every fourth, the value held in between (the model is trained on the same hold).
MAX_RATE_HZ = 15.0
_EARLY_NS = 5_000_000  # frame times jitter: a frame a little early still counts
_HALF = 3  # 7x7 averaging windows
# Farneback settings for a 64x64 crop: pyramid scale 0.5 with 2 levels, 9 px window, 2
# iterations (a third fewer than 3, which changes nothing the model can see), polynomial
# neighbourhood 5 with sigma 1.1 (OpenCV's documented values for n=5)
_FARNEBACK = (0.5, 2, 9, 2, 5, 1.1, 0)


@lru_cache(maxsize=1)
def _windows() -> tuple[tuple[slice, slice, int], ...]:
    """Where each channel's 7x7 window sits in the crop, and which flow component it reads."""
    canon = canonical_face()
    m = similarity(_key_points(canon), template())
    out = []
    for name, comp in CHANNELS:
        x, y = canon[_POINTS[name], :2] @ m[:, :2].T + m[:, 2]
        x0, y0 = int(round(float(x))), int(round(float(y)))
        out.append((slice(max(0, y0 - _HALF), y0 + _HALF + 1),
                    slice(max(0, x0 - _HALF), x0 + _HALF + 1), comp))  # fmt: skip
    return tuple(out)


@lru_cache(maxsize=1)
def _gather() -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], F32, npt.NDArray[np.intp]]:
    """The windows as flat indices into a (64*64*2) flow field (one gather instead of 21
    slices, a quarter of the stage's time otherwise): indices, where each window starts, its
    size (windows at the crop's edge are cut) and the component each channel reads."""
    flat = np.arange(64 * 64 * 2).reshape(64, 64, 2)
    idx = [flat[rows, cols, comp].reshape(-1) for rows, cols, comp in _windows()]
    sizes = np.array([len(i) for i in idx], np.float32)
    starts = np.concatenate([[0], np.cumsum(sizes[:-1])]).astype(np.intp)
    return np.concatenate(idx), starts, sizes, np.array([c for _, c in CHANNELS], np.intp)


_MID = 48 * 48 // 2  # the centre [8:56, 8:56] has an even count: the median averages two


def _centre_median(fl: F32) -> F32:
    """Median (x, y) flow of the crop's centre, what np.median gives, in a third of its time
    (one partition of both components instead of two np.median calls with their checks)."""
    centre = fl[8:56, 8:56].reshape(-1, 2).T.copy()
    centre.partition((_MID - 1, _MID), axis=1)
    out: F32 = (centre[:, _MID - 1] + centre[:, _MID]) * np.float32(0.5)
    return out


def region_flow(before: U8, after: U8) -> F32:
    """The ``FLOW_NAMES`` channels between two aligned 64x64 grey crops."""
    import cv2

    # OpenCV < 5's stubs do not admit flow=None (allocate the output), which the function
    # accepts: cast, so both stub generations type-check
    flow = cv2.calcOpticalFlowFarneback(before, after, cast(Any, None), *_FARNEBACK)
    fl = np.asarray(flow, np.float32)
    idx, starts, sizes, comp = _gather()
    g = _centre_median(fl)
    means = np.add.reduceat(fl.reshape(-1)[idx], starts) / sizes
    out = ((means - g[comp]) / UNIT).astype(np.float32)
    np.clip(out, -CLIP, CLIP, out=out)
    return out


class FlowTracker:
    """One track's recent crops; each new crop gives the flow against the one ``LAG_S`` back.

    Shared by the device stage and the training/evaluation replays of cached crops, so both
    compute the same channels.
    """

    def __init__(self, lag_s: float = LAG_S, max_rate_hz: float = MAX_RATE_HZ) -> None:
        self.lag_ns = int(lag_s * 1e9)
        self.tol_ns = int(LAG_TOLERANCE_S * 1e9)
        self.min_period_ns = int(1e9 / max_rate_hz) - _EARLY_NS
        self._crops: deque[tuple[int, U8]] = deque()
        self._last: tuple[int, F32] | None = None  # the latest computed flow

    def push(self, t_ns: int, crop: U8 | None) -> F32:
        """Flow channels at ``t_ns`` (zeros without a usable reference or crop)."""
        if crop is None:
            return np.zeros(N_FLOW, np.float32)
        target = t_ns - self.lag_ns
        while self._crops and self._crops[0][0] < target - self.tol_ns:
            self._crops.popleft()
        ref = min(self._crops, key=lambda c: abs(c[0] - target), default=None)
        self._crops.append((t_ns, crop))
        if ref is None or abs(ref[0] - target) > self.tol_ns:
            self._last = None
            return np.zeros(N_FLOW, np.float32)
        if self._last is not None and t_ns - self._last[0] < self.min_period_ns:
            held: F32 = np.array(self._last[1])  # faster than the model's grid: hold the last
            return held
        out = region_flow(ref[1], crop)
        self._last = (t_ns, out)
        fresh: F32 = np.array(out)
        return fresh


class FlowStage:
    """Per frame and tracked face: the aligned crop and its region flow (``FLOW_NAMES``)."""

    def __init__(self) -> None:
        self._tracks: dict[int, FlowTracker] = {}
        self.frames = 0  # face frames that got a crop

    def observe(self, frame: Frame, face_frame: FaceFrame) -> Mapping[int, F32]:
        """Flow channels of every tracked face with a usable crop in this frame."""
        out: dict[int, F32] = {}
        for face in face_frame.faces:
            m = crop_transform(face.landmarks)  # assess's, without its quality checks (0.13 ms)
            tracker = self._tracks.get(face.track_id)
            if tracker is None:
                tracker = self._tracks[face.track_id] = FlowTracker()
            if not m.any():  # no plausible transform: no crop, the reference is kept
                continue
            self.frames += 1
            out[face.track_id] = tracker.push(frame.t_ns, aligned_crop(frame.image, m))
        return out

    def end_track(self, track_id: int) -> None:
        """Forget a lost track's crops."""
        self._tracks.pop(track_id, None)


def cached_flow(crops: U8, t_ns: npt.NDArray[np.int64], usable: npt.NDArray[np.bool_]) -> F32:
    """T x N_FLOW channels of one cached sequence of crops (``usable``: a face and a crop)."""
    tracker = FlowTracker()
    out = np.zeros((len(crops), N_FLOW), np.float32)
    for i in np.flatnonzero(usable):
        out[i] = tracker.push(int(t_ns[i]), crops[i])
    return out
