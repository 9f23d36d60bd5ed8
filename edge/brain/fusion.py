"""Emotion of a spotted expression: temporal model, appearance change and action-unit evidence.

Three channels give per-emotion evidence in log-likelihood units and are added (a product of
experts), then divided by a temperature:

- temporal: log of the micro-event model's calibrated emotion probabilities;
- appearance: log ratio of the fer classifier's probability during the expression to the same
  track's pre-onset readings (a subtle slip looks mostly neutral in absolute terms, so the
  *change* carries the signal). The longer the expression, the more the mean reading
  counts: crying or laughing for seconds is plainly visible (``LONG_MS``); against the
  pre-onset readings where there are some, so a face that looked happy before does not make a
  long sad expression happiness. fer has no contempt:
  contempt gets the larger of the mean and happiness' evidence, so appearance never separates
  it from happiness and it stays geometric;
- au: how much of each EMFACS prototype (``PROTOTYPES``) rose at the apex, contempt from the
  one-sidedness of AU12/AU14.

The weights (``Weights``) were fitted by negative log-likelihood on the development set
(``make eval-dev``: two faces training never sees, 97 spotted events matched to their
expressions; ``training/calibrate_fusion.py --keep-long``) for the previous micro-event model,
whose temporal scores are softer than its predecessor's (temperature 4.5 vs 2.4); refitted
for the current three-member model (temperature 4.2, 104 events), they did not beat these in
2-fold cross-validation (test NLL 0.455 vs 0.410 and 0.908 vs 0.912), so they stay. Only the
brief-expression weights are fitted; the long-expression channels (``temporal_long``,
``appearance_long``) keep the weight relative to the temperature they had when fitted on the
image-space cache, because the development set has no long crying or laughing to weigh
them (a full refit made a real crying face macro happiness). 2-fold cross-validation against
the previous weights: NLL 0.82 -> 0.48 and 1.38 -> 1.38, ECE 0.36 -> 0.06 and 0.43 -> 0.17,
accuracy 0.90 -> 0.88 and 0.79 -> 0.81. ``temporal_floor`` stays fixed (a uniform share mixed
into the temporal scores). Without appearance (a landmark
recording, or every reading skipped) the fusion falls back to temporal + au and says why in
``Fused.fallback``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.brain.appearance import FER_LABELS
from edge.brain.au_evidence import FULL_STRENGTH
from edge.brain.au_geometry import PROTOTYPES
from edge.events import EMOTIONS

F32 = npt.NDArray[np.float32]

# fer's class of each of our emotions (-1: unknown to fer)
_FER_NAME = {"happiness": "happy", "sadness": "sad", "surprise": "surprise", "fear": "fear",
             "anger": "angry", "disgust": "disgust"}  # fmt: skip
FER_INDEX: tuple[int, ...] = tuple(
    FER_LABELS.index(_FER_NAME[e]) if e in _FER_NAME else -1 for e in EMOTIONS
)
_KNOWN = np.array([k >= 0 for k in FER_INDEX])
_FER_IDX = np.array([max(k, 0) for k in FER_INDEX])
CONTEMPT, HAPPINESS = EMOTIONS.index("contempt"), EMOTIONS.index("happiness")

PRE_S = (1.5, 0.1)  # pre-onset readings: from 1.5 s to 0.1 s before the onset
EPS = 0.02  # probability floor: a 0.0 from an int8-ish softmax is not certainty
CLIP = 4.0  # no single appearance log ratio beyond +-4 (e^4 = 55x)
LONG_MS = (500.0, 1500.0)  # absolute appearance takes over between these durations
# Readings of a held expression are correlated; about one per DECORRELATE_MS is independent,
# so the absolute appearance evidence of a long expression grows with its duration (``held``).
DECORRELATE_MS = 500.0


@dataclass(frozen=True, slots=True)
class Weights:
    """Channel weights and the final temperature of the fusion."""

    temporal: float = 10.758  # fitted on the development set (see the module docstring)
    temporal_long: float = 2.689  # held (relative to the temperature): its 1 s window sees
    # little of a long expression, and the development set has too few long ones to weigh it
    temporal_floor: float = 0.1  # mixed-in uniform share
    appearance: float = 7.683  # fitted
    appearance_long: float = 2.94  # held: mean absolute appearance of a long expression
    au: float = 0.066  # fitted
    temperature: float = 5.647  # fitted


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class Fused:
    """The decided emotion, its calibrated probability, all seven scores, what it rests on."""

    emotion: str
    confidence: float
    scores: F32  # 7, EMOTIONS order, sums to 1
    channels: tuple[str, ...]  # "temporal", "appearance", "au"
    fallback: str | None  # why appearance was not used, None when it was


@dataclass(frozen=True, slots=True)
class AppearanceWindow:
    """fer readings around one expression: pre-onset mean and the readings during it."""

    pre: F32 | None  # 7 (FER_LABELS), mean of the pre-onset readings; None without any
    during: F32 | None  # n x 7 readings from onset to offset; None without any
    reason: str | None  # why there is nothing to use (None when ``during`` exists)


def window(
    readings: Sequence[tuple[int, F32 | None, str]], onset_ns: int, offset_ns: int
) -> AppearanceWindow:
    """Split a track's (t_ns, probs or None, quality) readings around [onset, offset]."""
    pre_a, pre_b = onset_ns - int(PRE_S[0] * 1e9), onset_ns - int(PRE_S[1] * 1e9)
    pre = [p for t, p, _ in readings if p is not None and pre_a <= t <= pre_b]
    inside = [(p, q) for t, p, q in readings if onset_ns <= t <= offset_ns]
    ok = [p for p, _ in inside if p is not None]
    reason = None
    if not ok:
        bad = [q for p, q in inside if p is None]
        # the most frequent skip reason names the fallback; no reading at all says so
        reason = max(set(bad), key=bad.count) if bad else "no_reading"
    return AppearanceWindow(
        np.mean(pre, 0).astype(np.float32) if pre else None,
        np.stack(ok).astype(np.float32) if ok else None,
        reason,
    )


def prototype_evidence(action_units: Sequence[tuple[str, float]]) -> F32:
    """Per emotion (EMOTIONS order), 0..1: how much of its EMFACS prototype clearly rose.

    ``action_units`` are the event's listed AUs and calibrated strengths
    (``edge.brain.au_evidence``: only AUs well above their still-face jitter); a prototype AU
    counts its strength over ``FULL_STRENGTH`` (capped at 1, the stronger side), an unlisted
    one 0. Contempt counts how one-sided AU12 and AU14 are.
    """
    strength: dict[str, float] = {}
    side: dict[str, dict[str, float]] = {}
    for name, v in action_units:
        au, _, s = name.partition("_")
        x = float(np.clip(v / FULL_STRENGTH, 0.0, 1.0))
        strength[au] = max(strength.get(au, 0.0), x)
        if s:
            side.setdefault(au, {})[s] = x
    out = np.zeros(len(EMOTIONS), np.float32)
    for i, emo in enumerate(EMOTIONS):
        aus = PROTOTYPES[emo]
        if emo == "contempt":
            d = [abs(side.get(a, {}).get("L", 0.0) - side.get(a, {}).get("R", 0.0)) for a in aus]
            out[i] = float(np.mean(d))
        else:
            out[i] = float(np.mean([strength.get(a, 0.0) for a in aus]))
    return out


def long_share(duration_ms: float) -> float:
    """0 for a brief expression, 1 for a long one: how much the absolute appearance counts."""
    return float(np.clip((duration_ms - LONG_MS[0]) / (LONG_MS[1] - LONG_MS[0]), 0.0, 1.0))


def held(duration_ms: float) -> float:
    """How many times the absolute appearance counts: once up to LONG_MS[1] (the fixed weight
    stands for the readings of that long), then in proportion to the duration, since readings
    about DECORRELATE_MS apart are independent looks at the face (crying for 6 s is seen 4x
    as often as for 1.5 s)."""
    return max(1.0, duration_ms / LONG_MS[1])


def appearance_evidence(
    app: AppearanceWindow, duration_ms: float, relative_long: bool = True
) -> F32 | None:
    """Per emotion log evidence from the appearance window (contempt: the mean of the rest).

    A long expression's mean reading counts against the pre-onset readings when there are
    some (``relative_long``): a face that looked happy before a long sad expression (a smiling
    photograph, a resting face fer misreads) is not happy because it still looks so. Without
    pre-onset readings (a face that arrives mid-expression), and for appearance episodes
    (``relative_long=False``: their onset is where fer started to see the emotion, their later
    pieces follow the same expression), the mean reading counts as it is.
    """
    if app.during is None:
        return None
    during = app.during
    # the reading that departs most from neutral stands for the apex of a brief expression
    apex = during[int(np.argmin(during[:, FER_LABELS.index("neutral")]))]
    mean = during.mean(0)
    if app.pre is not None:
        change = np.log((apex + EPS) / (app.pre + EPS))
    else:  # no pre-onset reading (a new track): the absolute reading, at half weight
        change = 0.5 * np.log(apex + EPS)
    absolute = np.log(mean + EPS)
    if relative_long and app.pre is not None:
        absolute = np.clip(absolute - np.log(app.pre + EPS), -CLIP, CLIP)
    w = long_share(duration_ms)
    ev = np.clip(change[_FER_IDX], -CLIP, CLIP), absolute[_FER_IDX]
    out = np.where(_KNOWN, (1.0 - w) * ev[0], 0.0).astype(np.float32)
    out_abs = np.where(_KNOWN, w * ev[1], 0.0).astype(np.float32)
    # a brief smirk reads a little happy to fer: its change evidence for contempt is the larger
    # of the mean and happiness', so appearance never separates the two (geometry does); a
    # long expression fer calls happy is happiness: there contempt gets the mean only
    out[CONTEMPT] = max(out[_KNOWN].mean(), out[HAPPINESS])
    out_abs[CONTEMPT] = out_abs[_KNOWN].mean()
    return np.stack([out, out_abs])


def fuse(
    temporal: F32,
    au: F32 | None,
    app: AppearanceWindow | None,
    duration_ms: float,
    weights: Weights = DEFAULT_WEIGHTS,
    relative_long: bool = True,
) -> Fused:
    """Combine the channels into calibrated probabilities over EMOTIONS."""
    w = long_share(duration_ms)
    t = (1.0 - weights.temporal_floor) * np.clip(temporal, 0.0, 1.0) + weights.temporal_floor / 7
    wt = (1.0 - w) * weights.temporal + w * weights.temporal_long
    logit = wt * np.log(t).astype(np.float64)
    channels = ["temporal"]
    if au is not None:
        logit += weights.au * au
        channels.append("au")
    fallback: str | None = "no_pixels" if app is None else app.reason
    ev = appearance_evidence(app, duration_ms, relative_long) if app is not None else None
    if ev is not None:
        logit += weights.appearance * ev[0] + weights.appearance_long * held(duration_ms) * ev[1]
        channels.append("appearance")
        fallback = None
    z = logit / weights.temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    k = int(np.argmax(p))
    return Fused(EMOTIONS[k], float(p[k]), p.astype(np.float32), tuple(channels), fallback)
