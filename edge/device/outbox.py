"""Durable event queue in SQLite (WAL): write before publish, delete on PUBACK, oldest first.

Fsync policy: ``synchronous=NORMAL`` (default) in WAL mode makes each commit durable against
a crash of the *process* (kill -9) — the WAL is in the OS page cache — and keeps the database
consistent after a power cut, but the last commits before a power cut (up to one WAL
checkpoint interval) can be lost. ``synchronous=FULL`` fsyncs the WAL on every commit, so a
committed event survives a power cut too, at the cost of one fsync per event (see
``benchmarks/outbox.py`` for both rates). Bound: at most ``max_events`` rows; when full the
*oldest* rows are dropped and counted (``dropped``, persisted), because on a device that has
been offline for days the newest slips are the ones a user still cares about.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge.errors import StorageError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Pending:
    """One queued message: ``id`` is the event id consumers dedupe by."""

    seq: int
    id: str
    topic: str
    payload: bytes
    created_ns: int


class OutboxError(StorageError):
    """The outbox could not store a message (disk full, read-only, corrupt)."""


class Outbox:
    """A thread-safe, size-bounded, durable FIFO of MQTT messages keyed by event id."""

    def __init__(
        self, path: Path, *, max_events: int = 100_000, synchronous: str = "normal"
    ) -> None:
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', not {synchronous!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self._lock = threading.Lock()
        # One connection shared by the service and paho's network thread, guarded by _lock.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._depth = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        except sqlite3.Error:  # not a database: close it, the caller reports the file
            self._db.close()
            raise
        self._dropped = int(row[0]) if row else 0
        self.put_errors = 0
        if self._depth:
            log.info("outbox %s: %d messages waiting from a previous run", path, self._depth)

    def put(self, id: str, topic: str, payload: bytes) -> bool:
        """Store a message durably; False if the id was already queued. Raises OutboxError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._db.execute(
                        "INSERT OR IGNORE INTO outbox (id, topic, payload, created_ns) "
                        "VALUES (?, ?, ?, ?)",
                        (id, topic, payload, time.time_ns()),
                    )
                    added = cur.rowcount == 1
                    over = self._depth + int(added) - self.max_events
                    if over > 0:
                        self._db.execute(
                            "DELETE FROM outbox WHERE seq IN "
                            "(SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                            (over,),
                        )
                        self._db.execute(
                            "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                            (over,),
                        )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self.put_errors += 1
                raise OutboxError(f"outbox {self.path}: cannot store event {id}: {exc}") from exc
            if over > 0:
                log.warning("outbox full (%d): dropped the %d oldest events", self.max_events, over)
                self._depth -= over
                self._dropped += over
            self._depth += int(added)
            return added

    def pending(
        self, limit: int, exclude: set[str] | frozenset[str] = frozenset()
    ) -> list[Pending]:
        """Up to ``limit`` oldest messages whose id is not in ``exclude``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, topic, payload, created_ns FROM outbox ORDER BY seq LIMIT ?",
                (limit + len(exclude),),
            ).fetchall()
        out = [Pending(int(s), str(i), str(t), bytes(p), int(c)) for s, i, t, p, c in rows]
        return [p for p in out if p.id not in exclude][:limit]

    def delete(self, id: str) -> None:
        """Forget a message once the broker acknowledged it (PUBACK)."""
        self.delete_many([id])

    def delete_many(self, ids: list[str]) -> None:
        """Forget several acknowledged messages in one transaction (one fsync under FULL)."""
        if not ids:
            return
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                removed = 0
                for i in ids:
                    removed += self._db.execute("DELETE FROM outbox WHERE id = ?", (i,)).rowcount
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                # Not fatal: the messages are re-sent later and consumers dedupe by id.
                log.error("outbox %s: cannot delete %d acknowledged: %s", self.path, len(ids), exc)
                return
            self._depth -= removed

    @property
    def depth(self) -> int:
        """Messages stored and not yet acknowledged."""
        return self._depth

    @property
    def dropped(self) -> int:
        """Messages dropped (oldest first) because the outbox was full, over its lifetime."""
        return self._dropped

    def close(self) -> None:
        """Checkpoint the WAL and close the database."""
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("outbox checkpoint failed: %s", exc)
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
