"""Per-frame facial action features: pose-normalised geometric AU proxies minus a neutral baseline.

``FeatureExtractor.update(face_frame)`` turns every tracked face into an ``AUFrame`` whose
values follow ``FEATURE_NAMES``: 31 action-unit proxies (left/right where the face has sides;
about 0 at the track's neutral face, about 1 at a full-strength action) followed by head yaw,
pitch and roll relative to the track's resting pose (unit: 30 degrees) as nuisance channels.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import numpy.typing as npt

from edge.brain.au_geometry import AU_NAMES, POSE_NAMES, STILL_JITTER, measure
from edge.types import AUFrame, FaceFrame

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

FEATURE_NAMES: tuple[str, ...] = AU_NAMES + POSE_NAMES
N_AU = len(AU_NAMES)
POSE_UNIT_DEG = 30.0


# A channel counts as "moving" above the larger of the freeze level and 4x its still jitter,
# so the noisy proxies (AU14, AU24, AU17) do not hold the baseline on jitter alone.
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

    @property
    def frozen(self) -> bool:
        """True while an expression holds the baseline still."""
        return self._frozen_since is not None

    def update(self, t_ns: int, raw: F32) -> F32:
        """Feed one raw measurement; returns it relative to the neutral baseline."""
        raw = raw.astype(np.float32)
        if self._mean is None:
            self._mean = raw.copy()
            self._t0 = self._t_last = t_ns
            self._warm = [raw]
            return np.zeros_like(raw)
        rel = (raw - self._mean).astype(np.float32)
        dt = max(0.0, (t_ns - self._t_last) / 1e9)
        self._t_last = t_ns
        moving = bool((np.abs(rel[:N_AU]) > self._moving).any())
        if self._warm is not None:
            if (t_ns - self._t0) / 1e9 >= self.warmup_s:
                self._warm = None  # settled: slow adaptation from here on
            elif not moving or len(self._warm) < 3:
                self._warm.append(raw)
                self._mean = np.median(np.stack(self._warm), 0).astype(np.float32)
                self._frozen_since = None
                return rel
        if moving:
            if self._frozen_since is None:
                self._frozen_since = t_ns
            if (t_ns - self._frozen_since) / 1e9 < self.max_freeze_s:
                return rel
        else:
            self._frozen_since = None
        alpha = 1.0 - math.exp(-dt / self.tau_s)
        self._mean += np.float32(alpha) * rel
        return rel


def relative_features(raw_au: F32, pose_deg: F32, baseline: NeutralBaseline, t_ns: int) -> F32:
    """Combine raw AU proxies and pose into one feature vector relative to the baseline."""
    raw = np.concatenate([raw_au, pose_deg / np.float32(POSE_UNIT_DEG)]).astype(np.float32)
    return baseline.update(t_ns, raw)


class FeatureExtractor:
    """Landmarks of every tracked face -> one AUFrame per face, with per-track baselines."""

    def __init__(self, **baseline_kwargs: float) -> None:
        self._kwargs = baseline_kwargs
        self._tracks: dict[int, NeutralBaseline] = {}
        self.skipped = 0

    def update(self, face_frame: FaceFrame) -> list[AUFrame]:
        """Features of all faces in one frame; faces with non-finite landmarks are skipped."""
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
            values = relative_features(raw_au, pose, base, face_frame.t_ns)
            out.append(AUFrame(face_frame.t_ns, face.track_id, values, FEATURE_NAMES))
        return out

    def end_track(self, track_id: int) -> None:
        """Forget a track's baseline (the track was lost)."""
        self._tracks.pop(track_id, None)
