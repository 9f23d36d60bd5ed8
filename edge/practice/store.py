"""Practice data in one SQLite file in the state dir: answers per person, the slips library.

The library keeps this device's own slips that carry landmark motion (never pixels),
bounded by count and age. Labels there are the model's guesses and are stored as such.
Several processes may open the file at once (the service saving slips, ``microslip
practice`` serving the page): WAL mode and a busy timeout let them.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.events import SlipEvent
from edge.events.motion import Motion

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
  n INTEGER PRIMARY KEY AUTOINCREMENT, person TEXT NOT NULL, round_id TEXT NOT NULL UNIQUE,
  t REAL NOT NULL, day TEXT NOT NULL, deck TEXT NOT NULL, kind TEXT NOT NULL,
  truth TEXT NOT NULL, answer TEXT NOT NULL, correct INTEGER NOT NULL,
  level INTEGER NOT NULL, speed REAL NOT NULL, duration_ms INTEGER NOT NULL,
  intensity REAL NOT NULL, shape TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS answers_person ON answers (person, deck, n);
CREATE TABLE IF NOT EXISTS library (
  id TEXT PRIMARY KEY, saved REAL NOT NULL, time TEXT NOT NULL, emotion TEXT NOT NULL,
  confidence REAL NOT NULL, type TEXT NOT NULL, duration_ms REAL NOT NULL,
  action_units TEXT NOT NULL, motion TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS library_saved ON library (saved);
"""
CSV_COLUMNS = ("time", "day", "deck", "kind", "truth", "answer", "correct", "level", "speed",
               "duration_ms", "intensity", "shape", "round_id")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Answer:
    """One scored answer as stored."""

    person: str
    round_id: str
    deck: str
    kind: str
    truth: str
    answer: str
    correct: bool
    level: int
    speed: float
    duration_ms: int
    intensity: float
    shape: str


@dataclass(frozen=True, slots=True)
class LibrarySlip:
    """A slip of this device kept for practice: the model's label, its AUs and motion."""

    id: str
    time: str
    emotion: str
    confidence: float
    action_units: tuple[tuple[str, float], ...]
    motion: Motion


class Store:
    """The practice database (thread-safe: one connection behind a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def close(self) -> None:
        """Close the database (again is harmless)."""
        with self._lock:
            self._db.close()

    # --- answers ---
    def add_answer(self, a: Answer, now: float | None = None) -> None:
        """Store one answer (a round id is scored once: a repeat raises sqlite3.IntegrityError)."""
        t = time.time() if now is None else now
        day = time.strftime("%Y-%m-%d", time.localtime(t))
        with self._tx() as db:
            db.execute(
                "INSERT INTO answers (person, round_id, t, day, deck, kind, truth, answer,"
                " correct, level, speed, duration_ms, intensity, shape)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (a.person, a.round_id, t, day, a.deck, a.kind, a.truth, a.answer,
                 int(a.correct), a.level, a.speed, a.duration_ms, a.intensity, a.shape),
            )  # fmt: skip

    def history(self, person: str, deck: str, limit: int = 400) -> list[tuple[str, str, bool]]:
        """(truth, answer, correct) of the person's last answers on a deck, oldest first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT truth, answer, correct FROM answers WHERE person=? AND deck=?"
                " ORDER BY n DESC LIMIT ?",
                (person, deck, limit),
            ).fetchall()
        return [(t, a, bool(c)) for t, a, c in reversed(rows)]

    def people(self) -> list[dict[str, Any]]:
        """Every person with answers: name, answers, last practice time."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT person, COUNT(*), MAX(t) FROM answers GROUP BY person ORDER BY MAX(t) DESC"
            ).fetchall()
        return [{"person": p, "answers": n, "last": t} for p, n, t in rows]

    def progress_rows(self, person: str) -> list[tuple[Any, ...]]:
        """Per (day, deck, truth, speed, flash level): answers and right answers."""
        with self._tx() as db:
            return db.execute(
                "SELECT day, deck, truth, level, speed, COUNT(*), SUM(correct) FROM answers"
                " WHERE person=? GROUP BY day, deck, truth, level ORDER BY day",
                (person,),
            ).fetchall()

    def confusions(self, person: str) -> list[tuple[str, str, str, int]]:
        """(deck, truth, answer, count) of wrong answers, most frequent first."""
        with self._tx() as db:
            return db.execute(
                "SELECT deck, truth, answer, COUNT(*) FROM answers WHERE person=? AND correct=0"
                " GROUP BY deck, truth, answer ORDER BY COUNT(*) DESC",
                (person,),
            ).fetchall()

    def csv(self, person: str) -> str:
        """All of a person's answers as CSV (header first, oldest first)."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT t, day, deck, kind, truth, answer, correct, level, speed, duration_ms,"
                " intensity, shape, round_id FROM answers WHERE person=? ORDER BY n",
                (person,),
            ).fetchall()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in rows:
            iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r[0]))
            w.writerow((iso, *r[1:]))
        return buf.getvalue()

    # --- the slips library ---
    def save_slip(self, ev: SlipEvent, max_count: int, max_age_s: float) -> bool:
        """Keep one micro slip with motion; prune past the count and age limits.

        False (nothing kept) for a slip without motion or a macro expression: a round shows
        one brief slip inside still-face motion, and a macro expression is neither.
        """
        if ev.motion is None or ev.type != "micro":
            return False
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO library VALUES (?,?,?,?,?,?,?,?,?)",
                (ev.id, now, ev.time, ev.emotion, float(ev.confidence), ev.type, ev.duration_ms,
                 json.dumps(list(ev.action_units)), json.dumps(ev.motion.to_dict())),
            )  # fmt: skip
            db.execute("DELETE FROM library WHERE saved < ?", (now - max_age_s,))
            db.execute(
                "DELETE FROM library WHERE id NOT IN"
                " (SELECT id FROM library ORDER BY saved DESC LIMIT ?)",
                (max_count,),
            )
        return True

    def library_index(self, max_age_s: float | None = None) -> list[tuple[str, str]]:
        """(id, emotion) of the micro slips kept (younger than max_age_s when given)."""
        since = 0.0 if max_age_s is None else time.time() - max_age_s
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, emotion FROM library WHERE saved >= ? ORDER BY saved",
                (since,),
            ).fetchall()
        return [(i, e) for i, e in rows]

    def library_slip(self, slip_id: str) -> LibrarySlip | None:
        """One kept slip, or None when it is gone (pruned or cleared)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT id, time, emotion, confidence, action_units, motion FROM library"
                " WHERE id=?",
                (slip_id,),
            ).fetchone()
        if row is None:
            return None
        aus = tuple((str(k), float(v)) for k, v in json.loads(row[4]))
        return LibrarySlip(
            row[0], row[1], row[2], row[3], aus, Motion.from_dict(json.loads(row[5]))
        )

    def library_count(self) -> int:
        """Number of slips kept."""
        with self._tx() as db:
            return int(db.execute("SELECT COUNT(*) FROM library").fetchone()[0])

    def clear_library(self) -> int:
        """Forget every kept slip; returns how many there were."""
        with self._tx() as db:
            n = int(db.execute("SELECT COUNT(*) FROM library").fetchone()[0])
            db.execute("DELETE FROM library")
        return n
