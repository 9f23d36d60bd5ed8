"""Per-frame facial action features: pose-normalised geometric AU proxies minus a neutral baseline.

``FeatureExtractor.update(face_frame)`` turns every tracked face into an ``AUFrame`` whose
values follow ``FRAME_NAMES``: the geometric ``FEATURE_NAMES`` (31 action-unit proxies,
left/right where the face has sides, about 0 at the track's neutral face and about 1 at a
full-strength action, then head yaw, pitch and roll relative to the track's resting pose in
units of 30 degrees, as nuisance channels), followed by the region optical-flow channels
``edge.brain.flow.FLOW_NAMES`` (zeros when the frame came without them, e.g. a recording).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from edge.brain.appearance import NEUTRAL
from edge.brain.au_geometry import AU_NAMES, POSE_NAMES, STILL_JITTER, measure
from edge.brain.flow import FLOW_NAMES, N_FLOW
from edge.types import Appearance, AUFrame, FaceFrame

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

FEATURE_NAMES: tuple[str, ...] = AU_NAMES + POSE_NAMES
FRAME_NAMES: tuple[str, ...] = FEATURE_NAMES + FLOW_NAMES
N_AU = len(AU_NAMES)
POSE_UNIT_DEG = 30.0
# Appearance gating of the baseline: a reading's verdict holds this long (the classifier runs
# at 10 Hz); a frame looks neutral when fer's neutral class is the top one or at least this.
VERDICT_S = 0.5
NEUTRAL_AT = 0.4


# A channel counts as "moving" above the larger of the freeze level and 4x its still jitter,
# so the noisy proxies (AU14, AU24, AU17) do not hold the baseline on jitter alone.
_NO_FLOW = np.zeros(N_FLOW, np.float32)
_STILL = np.array([STILL_JITTER[n.split("_")[0]] for n in AU_NAMES], np.float32)


class NeutralBaseline:
    """Slowly adapting neutral face of one track, frozen while an expression is under way.

    During the first ``warmup_s`` the baseline is the per-channel median of the frames seen so
    far that are not moving (robust to a bad first frame and to a face that starts to smile
    half a second in); afterwards it follows slow drift (posture, lighting) with time constant
    ``tau_s``. While any AU deviates beyond its moving level the baseline stops, so a 4 s
    expression is not absorbed; after ``max_freeze_s`` it adapts again, since a change that
    lasts that long is the new neutral.
    """

    def __init__(
        self,
        tau_s: float = 3.0,
        warmup_s: float = 1.0,
        freeze_at: float = 0.3,
        max_freeze_s: float = 6.0,
    ) -> None:
        self.tau_s = tau_s
        self.warmup_s = warmup_s
        self.max_freeze_s = max_freeze_s
        self._moving = np.maximum(np.float32(freeze_at), 4.0 * _STILL)
        self._mean: F32 | None = None
        self._warm: list[F32] | None = []
        self._t0 = 0
        self._t_last = 0
        self._frozen_since: int | None = None
        self._verdict: tuple[int, bool] = (-(2**62), True)  # (t_ns, looks neutral)
        self._provisional = False  # the reference is a non-neutral first frame

    @property
    def provisional(self) -> bool:
        """True while the reference is a first frame that did not look neutral."""
        return self._provisional

    @property
    def frozen(self) -> bool:
        """True while an expression holds the baseline still."""
        return self._frozen_since is not None

    def update(self, t_ns: int, raw: F32, looks_neutral: bool | None = None) -> F32:
        """Feed one raw measurement; returns it relative to the neutral baseline.

        ``looks_neutral`` is the appearance model's verdict on this frame (None: no reading);
        a verdict holds for ``VERDICT_S``. A track whose first frame does not look neutral has
        only a *provisional* reference (built by the rules above, so a face fer misreads at
        rest behaves as without appearance); the first neutral-looking frame replaces it and
        restarts the warm-up, so a face that arrived crying does not keep its crying face as
        its neutral. A frame that does not look neutral never lets a long change become the
        new neutral (``max_freeze_s``): crying for ten seconds is not absorbed. The slow drift
        (posture, lighting, ``tau_s``) follows a face whose geometry is at rest either way.
        Without any verdict (recordings) the rules above apply unchanged.
        """
        raw = raw.astype(np.float32)
        if looks_neutral is not None:
            self._verdict = (t_ns, looks_neutral)
        verdict = self._verdict[1] if t_ns - self._verdict[0] <= VERDICT_S * 1e9 else None
        if self._mean is None:
            self._mean = raw.copy()
            self._t0 = self._t_last = t_ns
            self._warm = [raw]
            self._provisional = verdict is False
            return np.zeros_like(raw)
        rel = (raw - self._mean).astype(np.float32)
        dt = max(0.0, (t_ns - self._t_last) / 1e9)
        self._t_last = t_ns
        if self._provisional and verdict:  # the first neutral-looking frame restarts the warm-up
            self._provisional = False
            self._mean, self._t0, self._warm, self._frozen_since = raw.copy(), t_ns, [raw], None
            return np.zeros_like(raw)
        moving = bool((np.abs(rel[:N_AU]) > self._moving).any())
        if self._warm is not None:
            if (t_ns - self._t0) / 1e9 >= self.warmup_s:
                self._warm = None  # settled: slow adaptation from here on
            elif verdict is False and not self._provisional:
                return rel  # a neutral-looking start is not taught by what follows it
            elif not moving or len(self._warm) < 3:
                self._warm.append(raw)
                self._mean = np.median(np.stack(self._warm), 0).astype(np.float32)
                self._frozen_since = None
                return rel
        if moving:
            if self._frozen_since is None:
                self._frozen_since = t_ns
            held = (t_ns - self._frozen_since) / 1e9 < self.max_freeze_s
            if held or verdict is False:
                return rel
        else:
            self._frozen_since = None
        alpha = 1.0 - math.exp(-dt / self.tau_s)
        self._mean += np.float32(alpha) * rel
        return rel


def relative_features(
    raw_au: F32,
    pose_deg: F32,
    baseline: NeutralBaseline,
    t_ns: int,
    looks_neutral: bool | None = None,
) -> F32:
    """Combine raw AU proxies and pose into one feature vector relative to the baseline."""
    raw = np.concatenate([raw_au, pose_deg / np.float32(POSE_UNIT_DEG)]).astype(np.float32)
    return baseline.update(t_ns, raw, looks_neutral)


def looks_neutral(probs: F32) -> bool:
    """The appearance verdict that lets a frame teach the baseline (fer's neutral class)."""
    return bool(probs[NEUTRAL] >= NEUTRAL_AT or int(np.argmax(probs)) == NEUTRAL)


class FeatureExtractor:
    """Landmarks of every tracked face -> one AUFrame per face, with per-track baselines."""

    def __init__(self, **baseline_kwargs: float) -> None:
        self._kwargs = baseline_kwargs
        self._tracks: dict[int, NeutralBaseline] = {}
        self.skipped = 0

    def update(
        self,
        face_frame: FaceFrame,
        appearance: Sequence[Appearance] = (),
        flow: Mapping[int, npt.NDArray[np.float32]] | None = None,
    ) -> list[AUFrame]:
        """Features of all faces in one frame; faces with non-finite landmarks are skipped.

        ``appearance`` holds this frame's readings (some tracks, or none); each goes on its
        track's AUFrame and gates its baseline. ``flow`` holds the tracks' flow channels
        (``edge.brain.flow``); a track without them gets zeros.
        """
        readings = {a.track_id: a for a in appearance}
        flows = flow or {}
        out: list[AUFrame] = []
        for face in face_frame.faces:
            lm = face.landmarks
            if lm.ndim != 2 or lm.shape[0] < 468 or not np.isfinite(lm[:468]).all():
                self.skipped += 1
                log.debug(
                    "track %d: bad landmarks at t=%d, skipped", face.track_id, face_frame.t_ns
                )
                continue
            raw_au, pose = measure(lm)
            base = self._tracks.get(face.track_id)
            if base is None:
                base = self._tracks[face.track_id] = NeutralBaseline(**self._kwargs)
            app = readings.get(face.track_id)
            verdict = None if app is None or app.probs is None else looks_neutral(app.probs)
            geo = relative_features(raw_au, pose, base, face_frame.t_ns, verdict)
            values = np.concatenate([geo, flows.get(face.track_id, _NO_FLOW)])
            out.append(AUFrame(face_frame.t_ns, face.track_id, values, FRAME_NAMES, app))
        return out

    def moving_tracks(self) -> set[int]:
        """Tracks whose baseline is frozen now: an expression (or other motion) is under way."""
        return {tid for tid, base in self._tracks.items() if base.frozen}

    def end_track(self, track_id: int) -> None:
        """Forget a track's baseline (the track was lost)."""
        self._tracks.pop(track_id, None)
