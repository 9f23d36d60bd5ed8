"""Practice rounds: neutral motion, then one slip (or a catch trial) at a random moment.

A round's motion has the same JSON form as an event's ``motion`` (layout, scale, t_ms,
frames) so the page draws both with one renderer, but it is longer than an event's
(a few seconds) and sampled every 20 ms, every 10 ms around the slip so that a 40 ms flash
still has its apex. Built-in cards are generated here from the EMFACS prototypes on a few face
shapes; device cards are the device's own slips (``edge.practice.store``) spliced into
neutral motion taken from their own first frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.events.motion import REGION_AUS, SCALE, Motion, motion_regions
from edge.practice.faces import SHAPES, FaceFields, face_fields
from edge.practice.facs import KEY_AUS, PROTOTYPES

F32 = npt.NDArray[np.float32]
CATCH_KINDS: tuple[str, ...] = ("blink", "twitch")
TWITCH_AUS: tuple[str, ...] = ("AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU15", "AU20")
# Small always-on movements of a still face (in AU units, smoothed): it is never frozen.
_NEUTRAL_AUS: tuple[tuple[str, float], ...] = (
    ("AU1", 0.05), ("AU4", 0.04), ("AU5", 0.05), ("AU12", 0.03), ("AU17", 0.06),
    ("AU25", 0.06), ("AU26", 0.03),
)  # fmt: skip
POINT_JITTER = 0.0012  # inter-ocular units per point per frame (about one quantum)
STEP_MS, FINE_MS = 20, 10


@dataclass(frozen=True, slots=True)
class Card:
    """What a round shows: the truth the answer is scored against, never sent ahead."""

    deck: str  # "builtin" | "device"
    truth: str  # an emotion, or "none" for a catch trial
    kind: str  # "full" | "partial" | "blink" | "twitch" | "device"
    aus: tuple[tuple[str, float], ...]  # (AU name with _L/_R where one-sided, intensity)
    duration_ms: int
    intensity: float
    shape: str
    label: str  # "ground truth" | "model guess"
    confidence: float | None = None  # the device's confidence in its own label
    source: str | None = None  # the library slip id


@dataclass(frozen=True, slots=True)
class Round:
    """One built round: the card, its motion (JSON form) and where the slip sits in it."""

    card: Card
    motion: dict[str, Any]
    onset_ms: int
    offset_ms: int
    regions: tuple[str, ...]


def _bump(t: F32, on: float, rise: float, hold: float, fall: float) -> F32:
    """Raised-cosine rise, hold, raised-cosine fall (0..1) at times t (ms)."""
    y = np.zeros_like(t)
    r = (t >= on) & (t < on + rise)
    y[r] = 0.5 - 0.5 * np.cos(np.pi * (t[r] - on) / max(rise, 1e-3))
    y[(t >= on + rise) & (t < on + rise + hold)] = 1.0
    f = (t >= on + rise + hold) & (t <= on + rise + hold + fall)
    y[f] = 0.5 + 0.5 * np.cos(np.pi * (t[f] - on - rise - hold) / max(fall, 1e-3))
    return y


def _grid(total_ms: int, fine: tuple[int, int]) -> F32:
    """Frame times: every STEP_MS, every FINE_MS inside ``fine`` (the slip +- a margin)."""
    coarse = np.arange(0, total_ms + 1, STEP_MS)
    dense = np.arange(max(0, fine[0]), min(total_ms, fine[1]) + 1, FINE_MS)
    return np.unique(np.concatenate([coarse, dense])).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, t: F32, n: int, tau_ms: float) -> F32:
    """n channels of unit-variance low-pass noise at times t (an AR(1) on the real gaps)."""
    out = np.empty((len(t), n), np.float32)
    x = rng.normal(0, 1, n)
    dts = np.diff(t, prepend=t[0])
    for k, dt in enumerate(dts):
        a = float(np.exp(-dt / tau_ms))
        x = a * x + np.sqrt(1 - a * a) * rng.normal(0, 1, n)
        out[k] = x
    return out


def _neutral(rng: np.random.Generator, t: F32, face: FaceFields) -> F32:
    """F x N x 2 still-face motion: slow small actions plus per-point jitter."""
    noise = _smooth_noise(rng, t, len(_NEUTRAL_AUS), 400.0)
    fields = np.stack([face.field(au, "both") * amp for au, amp in _NEUTRAL_AUS])
    pts = face.neutral[None] + np.einsum("fa,anc->fnc", noise, fields)
    out: F32 = (pts + rng.normal(0, POINT_JITTER, pts.shape)).astype(np.float32)
    return out


def _quantise(pts: F32) -> npt.NDArray[np.int16]:
    return np.clip(np.round(pts * SCALE), -32000, 32000).astype(np.int16)


def _motion_json(t: F32, pts: F32) -> dict[str, Any]:
    q = _quantise(pts)
    return Motion(t_ms=tuple(int(v) for v in t), points=q).to_dict()


def _regions(t: F32, slip_pts: F32, aus: tuple[tuple[str, float], ...]) -> tuple[str, ...]:
    """Regions the card's AUs act on that visibly moved, most moved first.

    The truth is known here, so every region of the prototype is named (a fear's brows move
    less than its jaw, but they are what tells it from surprise); "visibly" is 0.004
    inter-ocular units, two quanta of the layout.
    """
    moved = Motion(t_ms=tuple(int(v) for v in t), points=_quantise(slip_pts)).region_motion()
    names = {a.split("_")[0] for a, _ in aus}
    acting = [r for r, r_aus in REGION_AUS.items() if names & set(r_aus)]
    return tuple(sorted((r for r in acting if moved[r] > 0.004), key=lambda r: -moved[r]))


def builtin_card(
    rng: np.random.Generator, truth: str, duration_ms: tuple[int, int]
) -> tuple[Card, list[tuple[str, str, float, float]]]:
    """A random card for ``truth`` (an emotion or a catch kind) and its AU curves.

    The curves are (AU, laterality, intensity, onset jitter ms) to be laid on one timing.
    """
    shape = SHAPES[int(rng.integers(len(SHAPES)))].name
    lo, hi = duration_ms
    dur = int(rng.uniform(lo, hi))
    side = ("left", "right")[int(rng.integers(2))]
    if truth == "blink":
        dur = int(rng.uniform(150, 350))
        amp = float(rng.uniform(0.8, 1.0))
        card = Card("builtin", "none", "blink", (("AU45", amp),), dur, amp, shape, "ground truth")
        return card, [("AU45", "both", amp, 0.0)]
    if truth == "twitch":
        au = str(rng.choice(TWITCH_AUS))
        amp = float(rng.uniform(0.4, 1.0))
        name = f"{au}_{side[0].upper()}"
        card = Card("builtin", "none", "twitch", ((name, amp),), dur, amp, shape, "ground truth")
        return card, [(au, side, amp, 0.0)]
    aus = PROTOTYPES[truth]
    partial = len(aus) > 2 and rng.random() < 0.5
    if partial:
        keep = [a for a in aus if a in KEY_AUS[truth]]
        rest = [a for a in aus if a not in keep]
        k = int(rng.integers(0, len(rest)))  # drop at least one of the others
        extra = [str(a) for a in rng.choice(rest, size=k, replace=False)] if k else []
        aus = tuple(keep + extra)
    intensity = float(rng.uniform(0.3, 1.0))  # subtle to full
    curves, named = [], []
    lat = side if truth == "contempt" else "both"
    for au in aus:
        i = float(np.clip(intensity * rng.uniform(0.8, 1.2), 0.2, 1.0))
        curves.append((au, lat, i, float(rng.normal(0, 8))))
        named.append((au if lat == "both" else f"{au}_{lat[0].upper()}", round(i, 2)))
    kind = "partial" if partial else "full"
    card = Card("builtin", truth, kind, tuple(named), dur, intensity, shape, "ground truth")
    return card, curves


def build_builtin(
    rng: np.random.Generator, truth: str, duration_ms: tuple[int, int], flash: bool
) -> Round:
    """A built-in round: neutral lead-in of 0.8-1.8 s, the slip, 0.5-0.9 s of neutral."""
    card, curves = builtin_card(rng, truth, duration_ms)
    dur = float(card.duration_ms)
    on = float(rng.uniform(800, 1800))
    total = int(on + dur + rng.uniform(500, 900))
    t = _grid(total, (int(on) - 30, int(on + dur) + 30))
    face = face_fields(card.shape)
    if flash:  # METT-like: the apex held for nearly the whole flash
        rise, hold = 0.15 * dur, 0.7 * dur
    else:
        rise, hold = float(rng.uniform(0.3, 0.5)) * dur, float(rng.uniform(0.0, 0.2)) * dur
    slip = np.zeros((len(t), *face.neutral.shape), np.float32)
    for au, lat, amp, jitter in curves:
        c = _bump(t, on + jitter, rise, hold, max(dur - rise - hold - jitter, 1.0))
        slip += (c * amp)[:, None, None] * face.field(au, lat)[None]
    pts = _neutral(rng, t, face) + slip
    regions = _regions(t, face.neutral[None] + slip, card.aus)
    return Round(card, _motion_json(t, pts), int(on), int(on + dur), regions)


def build_device(rng: np.random.Generator, card: Card, motion: Motion) -> Round:
    """A device round: the recorded slip spliced into neutral motion from its first frame."""
    rec = motion.as_float()
    rec_t = np.asarray(motion.t_ms, np.float32) - float(motion.t_ms[0])
    dur = float(rec_t[-1])
    on = float(rng.uniform(800, 1800))
    total = int(on + dur + rng.uniform(500, 900))
    t = _grid(total, (int(on) - 30, int(on + dur) + 30))
    face = face_fields("canonical")
    # The still face is the slip's own first frame with the built-in neutral motion on top.
    still = _neutral(rng, t, face) - face.neutral[None] + rec[0][None]
    delta = np.zeros_like(still)
    inside = (t >= on) & (t <= on + dur)
    for c in range(rec.shape[1] * 2):
        p, xy = divmod(c, 2)
        delta[inside, p, xy] = np.interp(t[inside] - on, rec_t, rec[:, p, xy] - rec[0, p, xy])
    # The recording may end away from rest: ease back over 150 ms rather than jump.
    tail = t > on + dur
    ease = np.clip(1 - (t[tail] - on - dur) / 150.0, 0, 1).astype(np.float32)
    delta[tail] = (rec[-1] - rec[0])[None] * ease[:, None, None]
    regions = tuple(motion_regions(motion))
    return Round(card, _motion_json(t, still + delta), int(on), int(on + dur), regions)
