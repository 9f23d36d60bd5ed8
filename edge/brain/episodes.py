"""Long emotional activity (crying, laughing) from the appearance readings of one track.

An *episode* is a run of readings in which fer names one non-neutral class with probability
at least ``SUPPORT_P``. Once it has lasted ``LONG_S`` and the temporal model has found a long
(macro) expression inside it, it is a long expression: the spotter reports it as one macro
expression over the episode (cut at ``MAX_S`` like any over-long expression), and the slips
the temporal model finds inside it are fluctuations of it, absorbed, unless one is clearly a
different brief expression: another emotion whose fer probability rose by ``DIFFERENT_RISE``
above the episode's level during the slip (contempt, unknown to fer: by geometry alone, with
confidence at least ``DIFFERENT_CONF``) and whose own prototype moved (intensity at least
``MIN_DIFFERENT_INTENSITY``). Until an episode proves to be a long expression, the
slips overlapping it are held back (at most ``MAX_S``) and released if it does not. Readings
skipped for quality (face cut by the edge, too small) neither extend nor end an episode.

Crying and laughing are activity: an episode is confirmed only if the temporal model saw the
face move (slip probability at or above its leave threshold) on at least ``ACTIVE_SHARE`` of
its frames. A face that merely *looks* sad or happy at rest (a resting face fer misreads, a
smiling photo) is a resting appearance: nothing is reported for it and the slips on it are
kept, until it starts to move. When it does, a long expression the temporal model names with
another emotion is that expression, not the resting look's: it is reported as itself and does
not confirm the episode (a face that smiles at rest and then looks sad for 3 s; development
faces at full strength: long-expression hits 3 -> 5 of 14, 9 with the fusion's pre-onset
reference for long expressions, ``edge.brain.fusion``). Without a resting
phase (crying from the first frame) the episode's emotion still names the long expression
unless fer also saw the other emotion rise, as for a brief slip.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.brain.appearance import FER_LABELS, NEUTRAL
from edge.brain.au_evidence import FULL_STRENGTH, MIN_STRENGTH
from edge.brain.fusion import FER_INDEX, AppearanceWindow, window
from edge.events import EMOTIONS, SlipEvent
from edge.types import Appearance

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]

SUPPORT_P = 0.5
LONG_S = 1.0
END_GAP_S = 0.6  # this long without support (and two unsupporting readings) ends an episode
MAX_S = 6.0  # as the spotter's MAX_EVENT_S; also the longest stretch without usable readings
KEEP_S = 8.0  # readings kept per track (pre-onset windows and episode levels)
DIFFERENT_RISE = 0.25
DIFFERENT_CONF = 0.8
# A different expression inside a long one must also show in the geometry: its prototype's
# AUs rose on average by at least the strength at which an AU is listed (au_evidence's
# MIN_STRENGTH over FULL_STRENGTH). Added after a 100 ms micro fear at intensity 0.09 was
# reported inside a real crying clip while fer briefly read fear (said in the model card).
MIN_DIFFERENT_INTENSITY = MIN_STRENGTH / FULL_STRENGTH
ACTIVE_SHARE = 0.25

Activity = Callable[[int, int], float]  # share of active scored frames in [lo_ns, hi_ns]


def share(flags: list[bool]) -> float:
    """Fraction of true flags (0 for none): the activity of a stretch of frames."""
    return sum(flags) / len(flags) if flags else 0.0


def _mostly_inside(ev: SlipEvent, lo: int, hi: int) -> bool:
    """At least half of the slip lies within [lo, hi]."""
    inside = min(ev.offset_ns, hi) - max(ev.onset_ns, lo)
    return inside >= 0.5 * max(ev.offset_ns - ev.onset_ns, 1)


def _same(ev: SlipEvent, fer: int) -> bool:
    """The slip names the episode's emotion."""
    return ev.emotion == EMOTIONS[FER_INDEX.index(fer)]


@dataclass(frozen=True, slots=True)
class Span:
    """A confirmed episode to report as one macro expression."""

    start_ns: int
    end_ns: int
    fer: int  # index into FER_LABELS

    @property
    def emotion(self) -> str:
        """The episode's emotion in EMOTIONS terms."""
        return EMOTIONS[FER_INDEX.index(self.fer)]


@dataclass(slots=True)
class _Episode:
    fer: int
    start_ns: int
    last_ns: int
    misses: int = 0
    confirmed: bool = False
    resting: bool = False  # long but static: an appearance at rest, not an expression
    rested: bool = False  # was resting once: the face's resting look, whatever moves it later
    macro_seen: bool = False  # the temporal model found a long expression inside it


class LongExpressions:
    """One track's readings, its current episode, the slips held back and recent spans."""

    def __init__(self, activity: Activity | None = None) -> None:
        self.activity: Activity = activity or (lambda lo, hi: 1.0)
        self.readings: deque[tuple[int, F32 | None, str]] = deque()
        self._ep: _Episode | None = None
        self._held: list[SlipEvent] = []
        self._spans: deque[Span] = deque(maxlen=4)
        self.absorbed = 0
        self._seen = False

    def window(self, onset_ns: int, offset_ns: int) -> AppearanceWindow | None:
        """The fusion's appearance window of one expression; None if the track had no pixels."""
        return window(self.readings, onset_ns, offset_ns) if self._seen else None

    def previous_end(self, span: Span) -> int:
        """End of the latest reported episode before ``span`` (-1 if none)."""
        return max((s.end_ns for s in self._spans if s.end_ns <= span.start_ns), default=-1)

    def observe(self, a: Appearance) -> tuple[list[Span], list[SlipEvent]]:
        """Take one reading; returns episodes now ended (to report) and slips now released."""
        self._seen = True
        self.readings.append((a.t_ns, a.probs, a.quality))
        while self.readings and self.readings[0][0] < a.t_ns - int(KEEP_S * 1e9):
            self.readings.popleft()
        ep = self._ep
        if a.probs is None:  # a skipped face is no evidence that the expression ended
            if ep is not None and a.t_ns - ep.last_ns > MAX_S * 1e9:
                return self._end()
            return [], []
        k = int(np.argmax(a.probs))
        support = k if k != NEUTRAL and a.probs[k] >= SUPPORT_P and FER_INDEX.count(k) else None
        spans: list[Span] = []
        released: list[SlipEvent] = []
        if ep is not None and support == ep.fer:
            ep.last_ns, ep.misses = a.t_ns, 0
            if ep.confirmed and (a.t_ns - ep.start_ns) / 1e9 >= MAX_S:
                spans, released = self._end(a.t_ns)
                self._ep = _Episode(ep.fer, a.t_ns, a.t_ns, confirmed=True)
                self._ep.macro_seen = ep.macro_seen
            elif not ep.confirmed and (a.t_ns - ep.start_ns) / 1e9 >= LONG_S:
                released = self._confirm(ep, a.t_ns)
            return spans, released
        if ep is not None:
            ep.misses += 1
            if ep.misses < 2 or (a.t_ns - ep.last_ns) / 1e9 < END_GAP_S:
                return [], []
            spans, released = self._end()
        if support is not None:
            self._ep = _Episode(support, a.t_ns, a.t_ns)
        return spans, released

    def _confirm(self, ep: _Episode, t_ns: int) -> list[SlipEvent]:
        """A long run: an expression if the face moved, else a resting appearance."""
        lo = ep.start_ns if not ep.resting else t_ns - int(LONG_S * 1e9)
        if self.activity(lo, t_ns) >= ACTIVE_SHARE:
            ep.confirmed, ep.resting, ep.start_ns = True, False, lo
            return self._decide_held(ep) if ep.macro_seen else []
        ep.resting = ep.rested = True  # checked again at every reading: it may start to move
        held, self._held = self._held, []
        return held

    def close(self) -> tuple[list[Span], list[SlipEvent]]:
        """The track ends (or the stream): report a confirmed episode, release held slips."""
        return self._end()

    def offer(self, ev: SlipEvent) -> list[SlipEvent]:
        """A slip from the temporal model: returned to emit now, or held, or absorbed."""
        ep = self._ep
        if ep is not None and ev.offset_ns >= ep.start_ns and not ep.resting:
            if (
                ep.confirmed
                and ev.type == "micro"
                and not _mostly_inside(ev, ep.start_ns, ep.last_ns)
            ):
                return [ev]  # a brief slip mostly before or after the supported stretch
            if ev.type == "macro" and ep.confirmed and self._other_long(ev, ep):
                return [ev]  # another long expression on a face that looked this way
            if ev.type == "macro" and ep.confirmed:
                ep.macro_seen = True  # appearance gives it its extent and emotion: absorbed
                return self._decide(ev, ep.fer, ep.start_ns, ev.offset_ns) + self._decide_held(ep)
            if not (ep.confirmed and ep.macro_seen):
                self._held.append(ev)  # until the episode proves to be a long expression
                return []
            return self._decide(ev, ep.fer, ep.start_ns, ev.offset_ns)
        for span in self._spans:
            if _mostly_inside(ev, span.start_ns, span.end_ns):
                return self._decide(ev, span.fer, span.start_ns, span.end_ns)
        return [ev]

    def _end(self, end_ns: int | None = None) -> tuple[list[Span], list[SlipEvent]]:
        ep, self._ep = self._ep, None
        held, self._held = self._held, []
        if ep is None or not ep.confirmed or not ep.macro_seen:
            # a short run, or only an appearance: the held slips were not part of anything long
            return [], held
        span = Span(ep.start_ns, ep.last_ns if end_ns is None else end_ns, ep.fer)
        self._spans.append(span)
        return [span], [
            kept for ev in held for kept in self._decide(ev, ep.fer, ep.start_ns, span.end_ns)
        ]

    def _decide_held(self, ep: _Episode) -> list[SlipEvent]:
        held, self._held = self._held, []
        out: list[SlipEvent] = []
        for ev in held:
            if ev.type == "macro" and self._other_long(ev, ep):
                out.append(ev)
                continue
            if ev.type == "macro":
                ep.macro_seen = True
            out += self._decide(ev, ep.fer, ep.start_ns, ev.offset_ns)
        return out

    def _decide(self, ev: SlipEvent, fer: int, lo: int, hi: int) -> list[SlipEvent]:
        """Keep a slip inside a long expression only if it is clearly another, brief one."""
        if ev.type == "micro" and not _same(ev, fer) and self._clearly_different(ev, lo, hi):
            return [ev]
        self.absorbed += 1
        log.info(
            "track %d: %s %s slip at %.2f s absorbed into a long %s expression",
            ev.track_id,
            ev.type,
            ev.emotion,
            ev.onset_ns / 1e9,
            FER_LABELS[fer],
        )
        return []

    def _other_long(self, ev: SlipEvent, ep: _Episode) -> bool:
        """A long expression of another emotion: on the face's resting look, or one that
        appearance also saw rise."""
        if _same(ev, ep.fer):
            return False
        return ep.rested or self._clearly_different(ev, ep.start_ns, ev.offset_ns)

    def _clearly_different(self, ev: SlipEvent, lo: int, hi: int) -> bool:
        if ev.intensity < MIN_DIFFERENT_INTENSITY:
            return False  # its own prototype barely moved: a fluctuation of the moving face
        k = FER_INDEX[EMOTIONS.index(ev.emotion)]
        if k < 0:  # contempt: fer cannot see it, geometry must be sure
            return ev.confidence >= DIFFERENT_CONF
        level = [p[k] for t, p, _ in self.readings if p is not None and lo <= t <= hi]
        during = [p[k] for t, p, _ in self.readings
                  if p is not None and ev.onset_ns <= t <= ev.offset_ns]  # fmt: skip
        if not level or not during:
            return False
        return bool(max(during) - float(np.median(level)) >= DIFFERENT_RISE)
