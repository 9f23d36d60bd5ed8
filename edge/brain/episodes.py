"""Long emotional activity (crying, laughing) from the appearance readings of one track.

An *episode* is a run of readings in which fer names one non-neutral class with probability
at least ``SUPPORT_P``. Once it has lasted ``LONG_S`` it is confirmed: the spotter reports it
as one macro expression (cut at ``MAX_S`` like any over-long expression), and the slips the
temporal model finds inside it are fluctuations of it, absorbed, unless one is clearly a
different brief expression: another emotion whose fer probability rose by ``DIFFERENT_RISE``
above the episode's level during the slip (contempt, unknown to fer: by geometry alone, with
confidence at least ``DIFFERENT_CONF``). While an episode is a candidate (not yet confirmed),
slips overlapping it are held back and released if it breaks up. Readings skipped for quality
(face cut by the edge, too small) neither extend nor end an episode.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.brain.appearance import FER_LABELS, NEUTRAL
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


class LongExpressions:
    """One track's readings, its current episode, the slips held back and recent spans."""

    def __init__(self) -> None:
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
                spans.append(Span(ep.start_ns, a.t_ns, ep.fer))
                self._spans.append(spans[-1])
                self._ep = _Episode(ep.fer, a.t_ns, a.t_ns, confirmed=True)
            elif not ep.confirmed and (a.t_ns - ep.start_ns) / 1e9 >= LONG_S:
                ep.confirmed = True
                released = self._decide_held(ep)
            return spans, released
        if ep is not None:
            ep.misses += 1
            if ep.misses < 2 or (a.t_ns - ep.last_ns) / 1e9 < END_GAP_S:
                return [], []
            spans, released = self._end()
        if support is not None:
            self._ep = _Episode(support, a.t_ns, a.t_ns)
        return spans, released

    def close(self) -> tuple[list[Span], list[SlipEvent]]:
        """The track ends (or the stream): report a confirmed episode, release held slips."""
        return self._end()

    def offer(self, ev: SlipEvent) -> list[SlipEvent]:
        """A slip from the temporal model: returned to emit now, or held, or absorbed."""
        ep = self._ep
        if ep is not None and ev.offset_ns >= ep.start_ns:
            if not ep.confirmed:
                self._held.append(ev)
                return []
            return self._decide(ev, ep.fer, ep.start_ns, ev.offset_ns)
        for span in self._spans:
            lo, hi = max(ev.onset_ns, span.start_ns), min(ev.offset_ns, span.end_ns)
            if hi - lo >= 0.5 * max(ev.offset_ns - ev.onset_ns, 1):
                return self._decide(ev, span.fer, span.start_ns, span.end_ns)
        return [ev]

    def _end(self) -> tuple[list[Span], list[SlipEvent]]:
        ep, self._ep = self._ep, None
        held, self._held = self._held, []
        if ep is None or not ep.confirmed:
            return [], held  # a short run: the held slips were not part of anything long
        span = Span(ep.start_ns, ep.last_ns, ep.fer)
        self._spans.append(span)
        return [span], []

    def _decide_held(self, ep: _Episode) -> list[SlipEvent]:
        held, self._held = self._held, []
        out: list[SlipEvent] = []
        for ev in held:
            out += self._decide(ev, ep.fer, ep.start_ns, ev.offset_ns)
        return out

    def _decide(self, ev: SlipEvent, fer: int, lo: int, hi: int) -> list[SlipEvent]:
        """Keep a slip inside a long expression only if it is clearly another, brief one."""
        other = ev.emotion != EMOTIONS[FER_INDEX.index(fer)]
        if ev.type == "micro" and other and self._clearly_different(ev, lo, hi):
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

    def _clearly_different(self, ev: SlipEvent, lo: int, hi: int) -> bool:
        k = FER_INDEX[EMOTIONS.index(ev.emotion)]
        if k < 0:  # contempt: fer cannot see it, geometry must be sure
            return ev.confidence >= DIFFERENT_CONF
        level = [p[k] for t, p, _ in self.readings if p is not None and lo <= t <= hi]
        during = [p[k] for t, p, _ in self.readings
                  if p is not None and ev.onset_ns <= t <= ev.offset_ns]  # fmt: skip
        if not level or not during:
            return False
        return bool(max(during) - float(np.median(level)) >= DIFFERENT_RISE)
