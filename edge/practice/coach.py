"""Adaptive speed and spaced repetition, rebuilt from a person's answers (nothing else stored).

Levels run from 1/4 speed to real time, then METT-like flashes (Ekman and Matsumoto's METT
flashes an expression for 1/25-1/15 s). One level holds for all emotions of a deck: a
per-emotion speed would tell the person the answer before they see it. A level is passed
after a run of right answers with no emotion below the threshold at that level; it drops
after repeated misses. A missed emotion comes back in 2, then 5, then 12 rounds (spaced
repetition); so does the emotion it was taken for, and the classic confused pairs
(fear/surprise, anger/disgust, contempt/happiness) are shown close together more often.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge.events import EMOTIONS
from edge.practice.deck import CATCH_KINDS
from edge.practice.facs import CONFUSED_PAIRS


@dataclass(frozen=True, slots=True)
class Level:
    """A playback speed and the slip durations shown at it."""

    name: str
    speed: float  # playback rate: 0.25 plays a second of motion in four
    duration_ms: tuple[int, int]
    flash: bool = False


LEVELS: tuple[Level, ...] = (
    Level("1/4 speed", 0.25, (100, 500)),
    Level("1/2 speed", 0.5, (100, 500)),
    Level("real time", 1.0, (100, 500)),
    Level("flash", 1.0, (40, 67), flash=True),  # 1/25 to 1/15 s
)
PROMOTE_RUN = 4  # right answers in a row at a level ...
THRESHOLD = 0.6  # ... and no emotion (with two answers or more there) below this accuracy
DEMOTE = (3, 5)  # three misses in the last five answers at a level
INTERVALS = (2, 5, 12)  # rounds until a missed emotion comes back, per success after a miss
CATCH_P = 0.15
PAIR_P = 0.3


@dataclass
class Coach:
    """One person's state on one deck, replayed from their answers."""

    level: int = 0
    answered: int = 0
    at_level: deque[tuple[str, bool]] = field(default_factory=lambda: deque(maxlen=40))
    recent: dict[str, deque[bool]] = field(default_factory=dict)
    due: dict[str, tuple[int, int]] = field(default_factory=dict)  # emotion -> (round, step)
    last: str | None = None

    @property
    def current(self) -> Level:
        """The level the next round is played at."""
        return LEVELS[self.level]

    def accuracy(self, emotion: str) -> float | None:
        """Recent accuracy on one emotion (last ten), None before its first answer."""
        r = self.recent.get(emotion)
        return sum(r) / len(r) if r else None

    def record(self, truth: str, answer: str, correct: bool) -> None:
        """Account one answer: level changes and repetitions."""
        self.answered += 1
        self.last = truth
        self.recent.setdefault(truth, deque(maxlen=10)).append(correct)
        self.at_level.append((truth, correct))
        if truth in EMOTIONS:
            if not correct:
                self.due[truth] = (self.answered + INTERVALS[0], 0)
            elif truth in self.due:
                step = self.due[truth][1] + 1
                if step < len(INTERVALS):
                    self.due[truth] = (self.answered + INTERVALS[step], step)
                else:
                    del self.due[truth]  # learnt: back to the ordinary mix
        if not correct and answer in EMOTIONS and answer not in self.due:
            self.due[answer] = (self.answered + INTERVALS[1], 0)  # contrast with the confusion
        self._adjust_level()

    def _adjust_level(self) -> None:
        hist = list(self.at_level)
        run = hist[-PROMOTE_RUN:]
        if len(run) == PROMOTE_RUN and all(ok for _, ok in run):
            per: dict[str, list[bool]] = {}
            for t, ok in hist:
                per.setdefault(t, []).append(ok)
            weak = [e for e, v in per.items() if len(v) >= 2 and sum(v) / len(v) < THRESHOLD]
            if not weak and self.level < len(LEVELS) - 1:
                self.level += 1
                self.at_level.clear()
                return
        misses, window = DEMOTE
        tail = hist[-window:]
        if self.level > 0 and len(tail) == window and sum(not ok for _, ok in tail) >= misses:
            self.level -= 1
            self.at_level.clear()

    def pick(self, rng: np.random.Generator, emotions: tuple[str, ...], catch: bool) -> str:
        """The next round's truth: a catch kind, a due emotion, a pair partner or a weak one."""
        if not emotions:
            raise ValueError("no emotion to practise")
        if catch and rng.random() < CATCH_P:
            return str(rng.choice(CATCH_KINDS))
        due = sorted((at, e) for e, (at, _) in self.due.items() if at <= self.answered + 1)
        for _, e in due:
            if e in emotions and e != self.last:
                return e
        if self.last is not None and rng.random() < PAIR_P:
            for a, b in CONFUSED_PAIRS:
                partner = b if self.last == a else a if self.last == b else None
                if partner in emotions:
                    return partner
        # The weaker an emotion, the more often it comes (an unseen one counts as half right).
        acc = [self.accuracy(e) for e in emotions]
        w = np.array([1.2 - (0.5 if a is None else a) for a in acc])
        return str(emotions[int(rng.choice(len(emotions), p=w / w.sum()))])


def replay(answers: list[tuple[str, str, bool]]) -> Coach:
    """The coach state after these (truth, answer, correct) answers, oldest first."""
    c = Coach()
    for truth, answer, ok in answers:
        c.record(truth, answer, ok)
    return c
