"""Seeded generator of facial-action feature streams with labelled emotion slips and nuisances.

Expressions are built in landmark terms and measured with the runtime's own geometry: every
action unit is a displacement of canonical-face landmarks (one side at a time where the face
has sides), and ``edge.brain.au_geometry.raw_proxies`` turns it into a signature over the feature
channels, so the cross-talk between proxies (a smile also narrows the eyes and parts the lips)
is the runtime's. A sequence adds, at its native frame rate: a neutral offset and slow drift,
expression curves (EMFACS prototypes or partial subsets, micro or macro timing), nuisances
(blinks, head turns and nods with pose cross-talk, speech-like mouth movement, one-sided
twitches), jitter at the level measured on real static footage and dropped frames. It then
runs the runtime's neutral baseline and the model-rate resampler, exactly as the spotter does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from edge.brain.au_geometry import (
    AU_NAMES,
    GAINS,
    PROTOTYPES,
    STILL_JITTER,
    canonical_face,
    raw_proxies,
)
from edge.brain.au_templates import template_displacements
from edge.brain.features import FEATURE_NAMES, POSE_UNIT_DEG, NeutralBaseline
from edge.brain.resample import resample_sequence
from edge.events import EMOTIONS

MODEL_RATE = 30.0
K = len(FEATURE_NAMES)
N_AU = len(AU_NAMES)

# An AU a partial expression of that emotion keeps (it makes the emotion identifiable).
_KEY: dict[str, tuple[str, ...]] = {
    "happiness": ("AU12",), "sadness": ("AU15", "AU1"), "surprise": ("AU2", "AU26"),
    "fear": ("AU20", "AU4"), "anger": ("AU4", "AU23"), "disgust": ("AU9", "AU10"),
    "contempt": ("AU12",),
}  # fmt: skip

# Per-channel jitter as measured on real still footage (see the jitter panel of
# training/plots/real_vs_generated.png).
JITTER: np.ndarray = np.array([STILL_JITTER[n.split("_")[0]] for n in FEATURE_NAMES], np.float32)


@lru_cache(maxsize=1)
def signatures() -> dict[str, np.ndarray]:
    """Feature-space signature (K) of each unit-strength AU, per side: keys like 'AU12_L'."""
    canon = canonical_face()
    base = raw_proxies(canon) * GAINS

    def sig(disp: np.ndarray) -> np.ndarray:
        v = np.zeros(K, np.float32)
        v[:N_AU] = raw_proxies(canon + disp) * GAINS - base
        return v

    # our own templates (edge.brain.au_templates), as the runtime's geometry measures them
    return {key: sig(d) for key, d in template_displacements().items()}


@dataclass(frozen=True)
class GenConfig:
    """Generator settings; held-out evaluation uses other seeds and other values."""

    fps_choices: tuple[float, ...] = (30.0, 60.0, 90.0, 120.0)
    duration_s: tuple[float, float] = (8.0, 14.0)
    p_macro: float = 0.3
    micro_total_ms: tuple[float, float] = (330.0, 0.3)  # lognormal median, sigma
    intensity_beta: tuple[float, float] = (1.6, 3.0)
    intensity_min: float = 0.25
    jitter_scale: tuple[float, float] = (0.8, 2.0)
    drop_rate: tuple[float, float] = (0.0, 0.05)
    n_events: tuple[int, int] = (0, 3)
    n_nuisance: tuple[int, int] = (1, 6)
    pose_xtalk: float = 0.02  # typical feature units per degree (scaled per head movement)
    p_partial: float = 0.5


@dataclass
class Sequence:
    """One generated stream at model rate plus its ground truth."""

    t_ns: np.ndarray  # grid times
    x: np.ndarray  # T x K features (relative to baseline)
    active: np.ndarray  # T, 1 inside an expression
    emotion: np.ndarray  # T, class index or -1
    events: list[tuple[int, int, int, str, str]] = field(default_factory=list)  # on,apex,off ns
    nuisances: list[tuple[int, int, str]] = field(default_factory=list)  # on, off ns, kind
    fps: float = 30.0
    native_t: np.ndarray | None = None  # the stream before resampling (native frame rate)
    native_x: np.ndarray | None = None


def _bump(t: np.ndarray, on: float, apex: float, off: float, hold: float = 0.0) -> np.ndarray:
    """Raised-cosine rise on->apex, optional hold, raised-cosine fall to off (0..1)."""
    y = np.zeros_like(t)
    r = (t >= on) & (t < apex)
    y[r] = 0.5 - 0.5 * np.cos(np.pi * (t[r] - on) / max(apex - on, 1e-6))
    h = (t >= apex) & (t < apex + hold)
    y[h] = 1.0
    f = (t >= apex + hold) & (t <= off)
    y[f] = 0.5 + 0.5 * np.cos(np.pi * (t[f] - apex - hold) / max(off - apex - hold, 1e-6))
    return y


def _timing(rng: np.random.Generator, cfg: GenConfig, macro: bool) -> tuple[float, float, float]:
    """Onset->apex, hold, apex->offset durations (s) from micro/macro statistics."""
    if macro:
        total = rng.uniform(0.6, 4.0)
        rise = rng.uniform(0.15, min(0.8, 0.4 * total))
        fall = rng.uniform(0.2, min(1.0, 0.5 * total))
        return rise, max(0.0, total - rise - fall), fall
    med, sig = cfg.micro_total_ms
    total = float(np.clip(rng.lognormal(np.log(med / 1000), sig), 0.12, 0.48))
    rise = float(np.clip(rng.normal(0.45, 0.12), 0.25, 0.7)) * total
    hold = rng.uniform(0.0, 0.15) * total
    return rise, hold, total - rise - hold


def _expression_aus(rng: np.random.Generator, emo: str, cfg: GenConfig) -> tuple[str, ...]:
    aus = PROTOTYPES[emo]
    if emo == "happiness" and rng.random() < 0.5:  # smiles often part the lips
        aus = (*aus, "AU25")
    if emo in ("happiness", "contempt") or rng.random() > cfg.p_partial or len(aus) <= 2:
        return aus
    key = rng.choice(_KEY[emo])
    rest = [a for a in aus if a != key]
    k = rng.integers(1, len(rest) + 1)
    return (str(key), *rng.choice(rest, size=k, replace=False).tolist())


def _add_expression(
    rng: np.random.Generator,
    t: np.ndarray,
    x: np.ndarray,
    emo: str,
    on: float,
    cfg: GenConfig,
    macro: bool,
) -> tuple[float, float]:
    sig = signatures()
    rise, hold, fall = _timing(rng, cfg, macro)
    apex = on + rise
    off = apex + hold + fall
    base_i = cfg.intensity_min + (1 - cfg.intensity_min) * rng.beta(*cfg.intensity_beta)
    if macro:
        base_i = min(1.2, base_i * rng.uniform(1.0, 1.8))
    side = int(rng.integers(2))
    for au in _expression_aus(rng, emo, cfg):
        curve = _bump(t, on + rng.normal(0, 0.01), apex, off, hold) * base_i * rng.uniform(0.7, 1.3)
        if au in sig:  # central
            x += curve[:, None] * sig[au]
        elif emo == "contempt":  # unilateral by nature
            x += curve[:, None] * sig[f"{au}_{'RL'[side]}"]
        else:
            asym = rng.uniform(0.8, 1.2)
            x += curve[:, None] * (sig[f"{au}_L"] * asym + sig[f"{au}_R"] / asym)
    return apex, off


def _add_nuisance(
    rng: np.random.Generator, t: np.ndarray, x: np.ndarray, kind: str, on: float, cfg: GenConfig
) -> float:
    sig = signatures()
    blink = sig["AU45_L"] + sig["AU45_R"]
    if kind in ("blink", "double_blink"):
        n = 1 if kind == "blink" else 2
        start = on
        for _ in range(n):
            close, shut, opening = (
                rng.uniform(0.05, 0.1),
                rng.uniform(0.0, 0.06),
                rng.uniform(0.08, 0.22),
            )
            amp = rng.uniform(0.5, 1.1)
            x += (
                amp
                * _bump(t, start, start + close, start + close + shut + opening, shut)[:, None]
                * blink
            )
            start += close + shut + opening + rng.uniform(0.02, 0.15)
        return start
    if kind == "head":
        dur = rng.uniform(0.3, 1.5)
        yaw, pitch = rng.normal(0, 18), rng.normal(0, 8)
        if rng.random() < 0.4:  # nod
            yaw, pitch = yaw * 0.2, rng.choice([-1, 1]) * rng.uniform(5, 15)
        ret = rng.random() < 0.6  # turns back within the sequence
        off = on + dur * (2 if ret else 1)
        s = _bump(t, on, on + dur, off, 0.0) if ret else np.clip((t - on) / dur, 0, 1)
        s = 0.5 - 0.5 * np.cos(np.pi * s) if not ret else s
        xt = rng.normal(0, cfg.pose_xtalk * rng.uniform(0.3, 1.6), (2, N_AU)).astype(np.float32)
        x[:, N_AU] += s * yaw / POSE_UNIT_DEG
        x[:, N_AU + 1] += s * pitch / POSE_UNIT_DEG
        x[:, :N_AU] += s[:, None] * (abs(yaw) * xt[0] + pitch * xt[1])[None, :]
        return float(off)
    if kind == "speech":
        dur = rng.uniform(0.8, 3.5)
        env = _bump(t, on, on + 0.15, on + dur, dur - 0.3)
        for au, amp in (("AU25", 0.5), ("AU26", 0.4), ("AU10", 0.2), ("AU17", 0.3), ("AU23", 0.2),
                        ("AU24", 0.2)):  # fmt: skip
            f, ph = rng.uniform(2.5, 6.0), rng.uniform(0, 2 * np.pi)
            wave = np.clip(np.sin(2 * np.pi * f * (t - on) + ph), 0, None)
            a = amp * rng.uniform(0.3, 1.2)
            v = sig[au] if au in sig else sig[f"{au}_L"] + sig[f"{au}_R"]
            x += (env * wave * a)[:, None] * v
        return on + dur
    # one-sided twitch of an AU that is not contempt's (AU12/AU14)
    au = str(rng.choice(["AU6", "AU7", "AU45", "AU2", "AU1", "AU10", "AU15", "AU20", "AU9", "AU4"]))
    side = "LR"[int(rng.integers(2))]
    dur = rng.uniform(0.06, 0.35)
    amp = rng.uniform(0.3, 1.2)
    x += (amp * _bump(t, on, on + dur * 0.4, on + dur))[:, None] * sig[f"{au}_{side}"]
    return on + dur


NUISANCES = ("blink", "double_blink", "head", "speech", "twitch")
_NUISANCE_P = (0.3, 0.1, 0.2, 0.15, 0.25)


def generate(rng: np.random.Generator, cfg: GenConfig) -> Sequence:
    """One labelled sequence (features at model rate after the runtime baseline)."""
    fps = float(rng.choice(cfg.fps_choices))
    dur = rng.uniform(*cfg.duration_s)
    n = int(dur * fps)
    t = np.arange(n) / fps
    x = np.zeros((n, K), np.float32)
    events: list[tuple[float, float, float, str, str]] = []
    busy: list[tuple[float, float]] = []

    def free(a: float, b: float) -> bool:
        return all(b + 0.3 < s or a > e + 0.3 for s, e in busy)

    for _ in range(int(rng.integers(cfg.n_events[0], cfg.n_events[1] + 1))):
        emo = str(rng.choice(EMOTIONS))
        macro = rng.random() < cfg.p_macro
        for _try in range(10):
            on = rng.uniform(1.5, dur - (4.5 if macro else 1.0))
            if on > 1.5 and free(on, on + (4.0 if macro else 0.5)):
                apex, off = _add_expression(rng, t, x, emo, on, cfg, macro)
                kind = "macro" if off - on > 0.5 else "micro"
                events.append((on, apex, off, emo, kind))
                busy.append((on, off))
                break
    nuis: list[tuple[float, float, str]] = []
    for _ in range(int(rng.integers(cfg.n_nuisance[0], cfg.n_nuisance[1] + 1))):
        kind = str(rng.choice(NUISANCES, p=_NUISANCE_P))
        for _try in range(10):
            on = rng.uniform(1.2, dur - 1.0)
            if free(on, on + 1.0) or (kind == "blink" and rng.random() < 0.15):
                off = _add_nuisance(rng, t, x, kind, on, cfg)
                nuis.append((on, off, kind))
                busy.append((on, off))
                break
    # neutral offset, slow drift, jitter
    x += rng.normal(0, 0.3, K).astype(np.float32)
    drift = np.cumsum(rng.normal(0, 0.004, (n, K)), 0) * np.sqrt(30.0 / fps)
    x += drift.astype(np.float32)
    js = rng.uniform(*cfg.jitter_scale)
    noise = rng.normal(0, 1, (n, K)).astype(np.float32)
    x += noise * JITTER * js
    keep = rng.random(n) >= rng.uniform(*cfg.drop_rate)
    if rng.random() < 0.3:  # a burst of lost frames
        a = int(rng.integers(0, n - 10))
        keep[a : a + int(rng.integers(2, 8))] = False
    keep[0] = True
    t_ns = np.round(t[keep] * 1e9).astype(np.int64)
    base = NeutralBaseline()
    rel = np.stack([base.update(int(tt), v) for tt, v in zip(t_ns, x[keep], strict=True)])
    g_t, g_x, _ = resample_sequence(t_ns, rel, MODEL_RATE)
    tg = g_t / 1e9
    active = np.zeros(len(tg), np.float32)
    emotion = np.full(len(tg), -1, np.int64)
    for on, _apex, off, emo, _k in events:
        m = (tg >= on) & (tg <= off)
        active[m] = 1.0
        emotion[m] = EMOTIONS.index(emo)
    ev_ns = [(int(a * 1e9), int(b * 1e9), int(c * 1e9), e, k) for a, b, c, e, k in events]
    nu_ns = [(int(a * 1e9), int(b * 1e9), k) for a, b, k in nuis]
    return Sequence(g_t, g_x, active, emotion, ev_ns, nu_ns, fps, t_ns, rel)


def generate_set(seed: int, n: int, cfg: GenConfig | None = None) -> list[Sequence]:
    """``n`` sequences from one seed (reproducible)."""
    rng = np.random.default_rng(seed)
    return [generate(rng, cfg or GenConfig()) for _ in range(n)]
