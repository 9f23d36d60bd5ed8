"""Seeded scripts of image-space sequences: what each frame shows, and the ground truth.

A script says, per frame, how strongly each action unit (per side) is on, the head's
turn/nod (degrees, rendered through py-feat's pose displacement) and in-plane motion, the
lighting, the noise and compression; plus the truth (expressions with onset/apex/offset,
nuisances). Timing and partial prototypes follow the landmark-space generator
(``training.generator``) so both kinds of data agree on what a slip is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.brain.au_geometry import PROTOTYPES
from edge.events import EMOTIONS
from training.generator import GenConfig, _bump, _expression_aus, _timing
from training.imagespace.displacements import CENTRAL


@dataclass(frozen=True)
class RenderConfig:
    """Settings of one family of rendered sequences; held-out sets use other values."""

    fps_choices: tuple[float, ...] = (30.0, 30.0, 60.0)
    duration_s: tuple[float, float] = (6.0, 10.0)
    gen: GenConfig = field(default_factory=lambda: GenConfig(n_events=(1, 3), p_macro=0.25))
    iod_px: tuple[float, float] = (32.0, 90.0)
    roll_deg: float = 12.0  # sequence-level in-plane rotation, +-
    canvas: tuple[int, int] = (480, 360)
    noise: tuple[float, float] = (1.0, 6.0)  # sensor noise std (grey levels)
    jpeg_q: tuple[int, int] = (45, 95)
    p_light_change: float = 0.3
    intensity_scale: tuple[float, float] = (0.8, 1.6)  # image motion per unit of the template
    sources: tuple[str, ...] = ("template", "pls")
    n_nuisance: tuple[int, int] = (1, 5)


@dataclass
class Script:
    """Everything needed to render a sequence, and its truth (times in seconds)."""

    fps: float
    n: int
    face: str
    source: str
    curves: dict[str, np.ndarray]  # AU key -> T intensities
    yaw: np.ndarray  # T degrees (turn rendered as a mesh warp)
    pitch: np.ndarray
    affine: np.ndarray  # T x 4: roll deg, scale, dx, dy (pixels of the canvas)
    light: np.ndarray  # T x 3: gain, horizontal gradient, gamma
    noise: float
    jpeg_q: int
    iod_px: float
    events: list[tuple[float, float, float, str, str]] = field(default_factory=list)
    nuisances: list[tuple[float, float, str]] = field(default_factory=list)


def _add(curves: dict[str, np.ndarray], key: str, y: np.ndarray) -> None:
    if key in curves:
        curves[key] = curves[key] + y
    else:
        curves[key] = y.copy()


def _draw_prototype(rng, curves, emo: str, cfg: RenderConfig, macro: bool, bump) -> None:  # type: ignore[no-untyped-def]
    """Add one expression's AU curves to ``curves``: its level, side and AUs drawn here, each
    AU's 0..1 time course from ``bump(rng)``."""
    g = cfg.gen
    level = g.intensity_min + (1 - g.intensity_min) * rng.beta(*g.intensity_beta)
    if macro:
        level = min(1.2, level * rng.uniform(1.0, 1.8))
    level *= rng.uniform(*cfg.intensity_scale)
    side = "LR"[int(rng.integers(2))]
    for au in _expression_aus(rng, emo, g):
        y = bump(rng) * level * rng.uniform(0.7, 1.3)
        if au in CENTRAL:
            _add(curves, au, y)
        elif emo == "contempt":
            _add(curves, f"{au}_{side}", y)
        else:
            asym = rng.uniform(0.8, 1.2)
            _add(curves, f"{au}_L", y * asym)
            _add(curves, f"{au}_R", y / asym)


def _expression(rng, t, curves, emo, on, cfg: RenderConfig, macro: bool):  # type: ignore[no-untyped-def]
    rise, hold, fall = _timing(rng, cfg.gen, macro)
    apex = on + rise
    off = apex + hold + fall
    _draw_prototype(
        rng, curves, emo, cfg, macro, lambda r: _bump(t, on + r.normal(0, 0.01), apex, off, hold)
    )
    return apex, off


def _nuisance(rng, t, s: Script, kind: str, on: float) -> float:  # type: ignore[no-untyped-def]
    c = s.curves
    if kind in ("blink", "double_blink"):
        start = on
        for _ in range(1 if kind == "blink" else 2):
            close, shut, opening = (
                rng.uniform(0.05, 0.1),
                rng.uniform(0.0, 0.06),
                rng.uniform(0.08, 0.22),
            )
            y = rng.uniform(0.6, 1.2) * _bump(
                t, start, start + close, start + close + shut + opening, shut
            )
            _add(c, "AU45_L", y)
            _add(c, "AU45_R", y * rng.uniform(0.9, 1.1))
            start += close + shut + opening + rng.uniform(0.02, 0.15)
        return start
    if kind == "head":
        dur = rng.uniform(0.3, 1.5)
        yaw, pitch = rng.normal(0, 10), rng.normal(0, 5)
        if rng.random() < 0.4:
            yaw, pitch = yaw * 0.2, rng.choice([-1, 1]) * rng.uniform(4, 10)
        ret = rng.random() < 0.6
        off = on + dur * (2 if ret else 1)
        y = (
            _bump(t, on, on + dur, off)
            if ret
            else 0.5 - 0.5 * np.cos(np.pi * np.clip((t - on) / dur, 0, 1))
        )
        s.yaw += np.clip(yaw, -20, 20) * y
        s.pitch += np.clip(pitch, -12, 12) * y
        s.affine[:, 2] += rng.normal(0, 0.15) * s.iod_px * y
        s.affine[:, 3] += rng.normal(0, 0.1) * s.iod_px * y
        s.affine[:, 0] += rng.normal(0, 4) * y
        return float(off)
    if kind == "speech":
        dur = rng.uniform(0.8, 3.0)
        env = _bump(t, on, on + 0.15, on + dur, dur - 0.3)
        for au, amp in (
            ("AU25", 0.5),
            ("AU26", 0.4),
            ("AU10", 0.2),
            ("AU17", 0.3),
            ("AU23", 0.2),
            ("AU24", 0.2),
        ):
            f, ph = rng.uniform(2.5, 6.0), rng.uniform(0, 2 * np.pi)
            wave = (
                np.clip(np.sin(2 * np.pi * f * (t - on) + ph), 0, None)
                * env
                * amp
                * rng.uniform(0.3, 1.2)
            )
            if au in CENTRAL:
                _add(c, au, wave)
            else:
                _add(c, f"{au}_L", wave)
                _add(c, f"{au}_R", wave)
        return on + dur
    au = str(rng.choice(["AU6", "AU7", "AU45", "AU2", "AU1", "AU10", "AU15", "AU20", "AU9", "AU4"]))
    dur = rng.uniform(0.06, 0.35)
    _add(
        c,
        f"{au}_{'LR'[int(rng.integers(2))]}",
        rng.uniform(0.3, 1.2) * _bump(t, on, on + dur * 0.4, on + dur),
    )
    return on + dur


NUISANCES = ("blink", "double_blink", "head", "speech", "twitch")
_NUISANCE_P = (0.3, 0.1, 0.2, 0.15, 0.25)


def make_script(rng: np.random.Generator, cfg: RenderConfig, face: str) -> Script:
    """One seeded sequence script for ``face``."""
    fps = float(rng.choice(cfg.fps_choices))
    dur = float(rng.uniform(*cfg.duration_s))
    n = int(dur * fps)
    t = np.arange(n) / fps
    iod = float(np.exp(rng.uniform(*np.log(cfg.iod_px))))
    affine = np.zeros((n, 4))
    affine[:, 0] = rng.uniform(-cfg.roll_deg, cfg.roll_deg)
    affine[:, 1] = 1.0
    # slow drift of position/scale and sub-pixel shake, as a hand-held or seated subject
    for col, amp in ((2, 0.06 * iod), (3, 0.04 * iod), (0, 1.0)):
        affine[:, col] += np.cumsum(rng.normal(0, amp / np.sqrt(n), n)) + rng.normal(0, 0.05, n)
    affine[:, 1] += np.cumsum(rng.normal(0, 0.02 / np.sqrt(n), n))
    light = np.zeros((n, 3))
    light[:, 0] = rng.uniform(0.75, 1.2)
    light[:, 1] = rng.normal(0, 0.15)
    light[:, 2] = rng.uniform(0.8, 1.25)
    if rng.random() < cfg.p_light_change:
        a = rng.uniform(0, dur)
        step = np.clip((t - a) / rng.uniform(0.1, 1.0), 0, 1)
        light[:, 0] *= 1 + rng.uniform(-0.3, 0.3) * step
        light[:, 1] += rng.normal(0, 0.15) * step
    s = Script(
        fps, n, face, str(rng.choice(cfg.sources)), {}, np.zeros(n), np.zeros(n), affine, light,
        float(rng.uniform(*cfg.noise)), int(rng.integers(*cfg.jpeg_q)), iod,
    )  # fmt: skip
    busy: list[tuple[float, float]] = []

    def free(a: float, b: float) -> bool:
        return all(b + 0.3 < p or a > q + 0.3 for p, q in busy)

    for _ in range(int(rng.integers(cfg.gen.n_events[0], cfg.gen.n_events[1] + 1))):
        emo = str(rng.choice(EMOTIONS))
        macro = rng.random() < cfg.gen.p_macro
        for _try in range(10):
            on = float(rng.uniform(1.5, dur - (4.5 if macro else 1.0)))
            if on > 1.5 and free(on, on + (4.0 if macro else 0.5)):
                apex, off = _expression(rng, t, s.curves, emo, on, cfg, macro)
                s.events.append((on, apex, off, emo, "macro" if off - on > 0.5 else "micro"))
                busy.append((on, off))
                break
    for _ in range(int(rng.integers(cfg.n_nuisance[0], cfg.n_nuisance[1] + 1))):
        kind = str(rng.choice(NUISANCES, p=_NUISANCE_P))
        for _try in range(10):
            on = float(rng.uniform(1.2, dur - 1.0))
            if free(on, on + 1.0):
                off = _nuisance(rng, t, s, kind, on)
                s.nuisances.append((on, off, kind))
                busy.append((on, off))
                break
    return s


def arrive_mid_expression(rng: np.random.Generator, s: Script, cfg: RenderConfig) -> bool:
    """Put a long expression already at its apex on the first frame (a face that arrives
    mid-expression: it must not become its own neutral). It holds 1.5-4 s and falls in 0.3-1 s;
    returns False, changing nothing, when that would overlap the script's own events."""
    hold, fall = float(rng.uniform(1.5, 4.0)), float(rng.uniform(0.3, 1.0))
    off = hold + fall
    if any(on < off + 0.3 for on, *_ in s.events) or any(
        on < off + 0.3 for on, _, _ in s.nuisances
    ):
        return False
    emo = str(rng.choice(EMOTIONS))
    t = np.arange(s.n) / s.fps
    _draw_prototype(rng, s.curves, emo, cfg, True, lambda _: _bump(t, -0.5, 0.0, off, hold))
    s.events.insert(0, (0.0, 0.0, off, emo, "macro"))
    return True


def emotion_aus() -> dict[str, tuple[str, ...]]:
    """The prototypes the scripts draw from (for documentation and tests)."""
    return dict(PROTOTYPES)
