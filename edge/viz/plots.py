"""Timeline plots of a replay or an evaluation: AU curves, slips, blinks, dropped frames, truth.

matplotlib (the ``viz`` extra) is imported only when a plot is drawn, and only through its
object API with the Agg canvas, so plotting never touches pyplot's global state and works
from any thread on a headless device.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edge.errors import InputError
from edge.events import SlipEvent
from edge.types import AUFrame

log = logging.getLogger(__name__)

EMOTION_COLOURS: dict[str, str] = {
    "happiness": "#f2b705",
    "sadness": "#3b6fb6",
    "surprise": "#8e44ad",
    "fear": "#16a085",
    "anger": "#d64541",
    "disgust": "#6b8e23",
    "contempt": "#e67e22",
}
BLINK_AUS = ("AU45_L", "AU45_R")
BLINK_LEVEL = 0.5  # feature value 1.0 is a full closure; half closed counts as a blink
MAX_TRACKS = 4


class TruthSegment(Protocol):
    """What the plot needs of a ground-truth interval (edge.evaluation Segment fits)."""

    @property
    def onset_ns(self) -> int: ...
    @property
    def offset_ns(self) -> int: ...
    @property
    def emotion(self) -> str | None: ...
    @property
    def kind(self) -> str: ...


@dataclass
class TimelineData:
    """Everything a timeline shows, collected during a replay (``add``/``add_events``)."""

    frame_times_ns: list[int] = field(default_factory=list)
    au: dict[int, tuple[list[int], list[npt.NDArray[np.float32]]]] = field(default_factory=dict)
    names: tuple[str, ...] = ()
    events: list[SlipEvent] = field(default_factory=list)

    def add(self, t_ns: int, au_frames: Sequence[AUFrame]) -> None:
        """Record one processed frame and its per-track action features."""
        self.frame_times_ns.append(t_ns)
        for au in au_frames:
            times, values = self.au.setdefault(au.track_id, ([], []))
            times.append(au.t_ns)
            values.append(au.values)
            self.names = au.names

    def add_events(self, events: Sequence[SlipEvent]) -> None:
        """Record spotted events."""
        self.events.extend(events)


def dropped_gaps(frame_times_ns: Sequence[int], fps: float | None = None) -> list[tuple[int, int]]:
    """(start, end) of every gap longer than 1.5 frame periods: where frames were dropped."""
    t = np.asarray(frame_times_ns, dtype=np.int64)
    if t.size < 2:
        return []
    d = np.diff(t)
    period = 1e9 / fps if fps else float(np.median(d))
    idx = np.flatnonzero(d > 1.5 * period)
    return [(int(t[i]), int(t[i + 1])) for i in idx]


def _spans(t: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_]) -> list[tuple[float, float]]:
    """Contiguous True runs of mask as (start, end) times."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(float(t[a]), float(t[b])) for a, b in zip(starts, ends, strict=True)]


def curves_that_matter(
    names: Sequence[str], values: npt.NDArray[np.float32], events: Sequence[SlipEvent], k: int
) -> list[int]:
    """Indices of the AU curves to draw: those named by events, then the largest peaks."""
    au_idx = [i for i, n in enumerate(names) if n.startswith("AU") and n not in BLINK_AUS]
    # Named by an event first, strongest first: those are the curves a reader checks.
    named: dict[str, float] = {}
    for ev in events:
        for a, v in ev.action_units:
            named[a] = max(named.get(a, 0.0), abs(v))
    rank = {i: named.get(names[i], named.get(names[i].split("_")[0], -1.0)) for i in au_idx}
    chosen = sorted((i for i in au_idx if rank[i] >= 0), key=lambda i: -rank[i])
    peaks = (
        np.percentile(np.abs(values[:, au_idx]), 95, axis=0)
        if values.size
        else np.zeros(len(au_idx))
    )
    for j in np.argsort(-peaks):
        if len(chosen) >= k:
            break
        if au_idx[j] not in chosen:
            chosen.append(au_idx[j])
    return chosen[:k]


def timeline(
    data: TimelineData,
    out: Path | str,
    *,
    fps: float | None = None,
    truth: Sequence[TruthSegment] = (),
    title: str = "",
    max_curves: int = 6,
) -> Path:
    """Draw per-track AU curves with slips, blinks, dropped frames and truth; write a PNG."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise InputError(f"plots need the viz extra (pip install 'microslip[viz]'): {exc}") from exc

    out = Path(out)
    tracks = sorted(data.au)[:MAX_TRACKS]
    if len(data.au) > MAX_TRACKS:
        log.warning("timeline: showing %d of %d tracks", MAX_TRACKS, len(data.au))
    t0 = min([*data.frame_times_ns[:1], *(ev.onset_ns for ev in data.events)], default=0)

    def sec(ns: int) -> float:
        return (ns - t0) / 1e9

    rows = max(len(tracks), 1) + (1 if truth else 0)
    heights = [3.0] * max(len(tracks), 1) + ([0.6] if truth else [])
    fig = Figure(figsize=(12, 1.2 + sum(heights)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=heights)[:, 0]
    gaps = dropped_gaps(data.frame_times_ns, fps)
    shown: list[int | None] = list(tracks) or [None]
    for ax, tid in zip(axes, shown, strict=False):
        ax.set_ylabel(f"track {tid}\nAU (0 = neutral)" if tid is not None else "no face")
        ax.grid(alpha=0.25)
        if tid is None:
            continue
        times, vals = data.au[tid]
        t = np.array([sec(x) for x in times])
        v = np.vstack(vals) if vals else np.zeros((0, len(data.names)), np.float32)
        evs = [ev for ev in data.events if ev.track_id == tid]
        for i in curves_that_matter(data.names, v, evs, max_curves):
            ax.plot(t, v[:, i], lw=1.2, label=data.names[i])
        blink_idx = [data.names.index(n) for n in BLINK_AUS if n in data.names]
        if blink_idx and len(t):
            for a, b in _spans(t, v[:, blink_idx].mean(axis=1) > BLINK_LEVEL):
                ax.axvspan(a, b, color="0.6", alpha=0.25, hatch="//", lw=0)
        span_s = max(sec(max(times)), 1.0) if times else 1.0
        _draw_events(ax, evs, sec, span_s)
        for a, b in gaps:
            ax.axvspan(sec(a), sec(b), color="red", alpha=0.15, lw=0)
            ax.plot([sec(a)], [0], marker="v", color="red", ms=5, clip_on=False)
        handles, _ = ax.get_legend_handles_labels()
        extra = [Patch(color="0.6", alpha=0.4, hatch="//", label="blink")]
        extra += [Patch(color="red", alpha=0.3, label="dropped frames")] if gaps else []
        ax.legend(
            handles=handles + extra, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7
        )
    if truth:
        _draw_truth(axes[-1], truth, sec)
    axes[-1].set_xlabel("time (s)")
    n_ev = len(data.events)
    fig.suptitle(
        f"{title}  —  {n_ev} slip{'s' if n_ev != 1 else ''}, {len(gaps)} dropped-frame gap(s)"
    )
    try:
        fig.savefig(out, format="png")
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return out


def _draw_events(
    ax: Any, evs: Sequence[SlipEvent], sec: Callable[[int], float], span_s: float
) -> None:
    """Shade each slip in its emotion's colour, mark its apex and label it."""
    last_x, level = -1e9, 0
    for ev in sorted(evs, key=lambda e: e.apex_ns):
        colour = EMOTION_COLOURS.get(ev.emotion, "0.5")
        # Micro slips, the point of the device, stand out; macro expressions stay pale.
        alpha = 0.45 if ev.type == "micro" else 0.18
        ax.axvspan(sec(ev.onset_ns), sec(ev.offset_ns), color=colour, alpha=alpha, lw=0)
        ax.axvline(sec(ev.apex_ns), color=colour, lw=1, ls=":")
        # Stagger labels of nearby slips over three rows so they do not overprint.
        x = sec(ev.apex_ns)
        level = (level + 1) % 3 if x - last_x < 0.06 * span_s else 0
        last_x = x
        ax.annotate(
            f"{ev.emotion}\n{ev.type} {ev.confidence:.0%}",
            (x, 1.0 - 0.14 * level),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            fontsize=8,
            bbox={"fc": "white", "ec": colour, "alpha": 0.85, "pad": 1.5},
        )


def _draw_truth(ax: Any, truth: Sequence[TruthSegment], sec: Callable[[int], float]) -> None:
    """The ground-truth row under the tracks."""
    ax.set_yticks([])
    ax.set_ylabel("truth", rotation=0, ha="right", va="center")
    for seg in truth:
        colour = EMOTION_COLOURS.get(seg.emotion or "", "0.5")
        ax.axvspan(sec(seg.onset_ns), sec(seg.offset_ns), color=colour, alpha=0.6, lw=0)
        label = f"{seg.emotion or seg.kind}"
        ax.text((sec(seg.onset_ns) + sec(seg.offset_ns)) / 2, 0.5, label, ha="center",
                va="center", fontsize=7)  # fmt: skip


def _check_writable(path: Path) -> None:
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


class ReplayVisuals:
    """``microslip replay --plot PNG --motion-out DIR``: collects what a replay shows."""

    def __init__(
        self, plot: Path | None, motion_out: Path | None, motion_format: str = "gif"
    ) -> None:
        self.plot = plot
        self.motion_out = motion_out
        self.motion_format = motion_format
        self.data = TimelineData()
        self.written: list[Path] = []
        self.no_motion = 0
        if plot is not None:
            _check_writable(plot)  # now, not after a replay that may take an hour
        if motion_out is not None:
            try:
                motion_out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot create {motion_out}: {exc.strerror or exc}") from exc

    def on_frame(self, t_ns: int, au_frames: Sequence[AUFrame]) -> None:
        """Record one processed frame (only when a plot is wanted: bounded otherwise)."""
        if self.plot is not None:
            self.data.add(t_ns, au_frames)

    def on_events(self, events: Sequence[SlipEvent]) -> None:
        """Record events; write each one's slow-motion animation."""
        if self.plot is not None:
            self.data.add_events(events)
        if self.motion_out is None:
            return
        from edge.viz.animation import write_animation

        for ev in events:
            if ev.motion is None:
                self.no_motion += 1
                log.info("slip %s has no motion recorded; no animation", ev.id)
                continue
            path = self.motion_out / f"{ev.id}.{self.motion_format}"
            aus = [a for a, _ in sorted(ev.action_units, key=lambda kv: -kv[1])][:6]
            title = f"{ev.emotion} {ev.type} {ev.confidence:.0%}, {ev.duration_ms:.0f} ms"
            try:
                write_animation(ev.motion, str(path), title=title, aus=aus)
            except OSError as exc:
                raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
            self.written.append(path)

    def finish(self, fps: float | None, title: str) -> list[str]:
        """Draw the timeline if asked; lines for the command to print."""
        lines = []
        if self.plot is not None:
            timeline(self.data, self.plot, fps=fps, title=title)
            lines.append(f"timeline written to {self.plot}")
        if self.motion_out is not None:
            lines.append(
                f"{len(self.written)} slip animation(s) written to {self.motion_out}"
                + (f" ({self.no_motion} without recorded motion)" if self.no_motion else "")
            )
        return lines
