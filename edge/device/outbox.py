"""Durable event queue in SQLite (WAL): write before publish, delete on PUBACK, oldest first.

Fsync policy: ``synchronous=NORMAL`` (default) in WAL mode makes each commit durable against
a crash of the *process* (kill -9) — the WAL is in the OS page cache — and keeps the database
consistent after a power cut, but the last commits before a power cut (up to one WAL
checkpoint interval) can be lost. ``synchronous=FULL`` fsyncs the WAL on every commit, so a
committed event survives a power cut too, at the cost of one fsync per event (see
``benchmarks/outbox.py`` for both rates). Bound: at most ``max_events`` rows; when full the
*oldest* rows are dropped and counted (``dropped``, persisted), because on a device that has
been offline for days the newest slips are the ones a user still cares about.

Storage faults (disk full, I/O error, at start or mid-run) never stop the device: an event
that cannot be written is held in memory (at most ``memory_max``, oldest forgotten first and
counted in ``lost``) and is still handed to the publisher; every few seconds the outbox tries
the disk again and moves what memory holds onto it. The real error is logged once per
episode. A file that is not an outbox (random bytes, another program's schema) is renamed
aside with a timestamp, never deleted, and a fresh outbox is made.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edge.device.storage import CorruptOutbox, OutboxError, is_storage_fault, open_db, quarantine

log = logging.getLogger(__name__)

__all__ = ["CorruptOutbox", "Outbox", "OutboxError", "Pending", "is_storage_fault"]

RETRY_S = 5.0  # how often a faulty disk is tried again
EPISODE_S = 60.0  # a fault again this soon after the disk recovered is the same episode


@dataclass(frozen=True, slots=True)
class Pending:
    """One queued message: ``id`` is the event id consumers dedupe by."""

    seq: int
    id: str
    topic: str
    payload: bytes
    created_ns: int


class Outbox:
    """A thread-safe, size-bounded, durable FIFO of MQTT messages keyed by event id."""

    def __init__(
        self,
        path: Path,
        *,
        max_events: int = 100_000,
        synchronous: str = "normal",
        memory_max: int = 10_000,
        repair: bool = True,
    ) -> None:
        """Open ``path``; a corrupt file is set aside when ``repair`` (else CorruptOutbox).

        A disk that is full (or failing) at start is not an error: the outbox starts in
        memory and keeps trying the disk. Anything else raises OutboxError.
        """
        if synchronous not in ("normal", "full"):
            raise ValueError(f"synchronous must be 'normal' or 'full', not {synchronous!r}")
        self.path = path
        self.max_events = max_events
        self.memory_max = memory_max
        self.synchronous = synchronous
        self._lock = threading.Lock()
        # One connection shared by the service and paho's network thread, guarded by _lock.
        self._db: sqlite3.Connection | None = None
        self._memory: collections.OrderedDict[str, Pending] = collections.OrderedDict()
        self._acked_undeleted: set[str] = set()  # acknowledged, but the DELETE failed
        self._mem_seq = 0
        self._disk_depth = 0
        self._dropped = 0
        self.put_errors = 0  # puts the disk refused (the event went to memory instead)
        self.lost = 0  # events forgotten without an acknowledgement (memory full or at close)
        self.quarantined: Path | None = None
        self._fault: str | None = None  # the current storage episode's error, None when fine
        self._retry_at = 0.0
        self._quiet_until = 0.0  # until then a new fault is not logged again (see EPISODE_S)
        try:
            self._attach(repair)
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {path}: {exc}") from exc
        except OSError as exc:
            raise OutboxError(f"outbox {path}: {exc.strerror or exc}") from exc
        if self._disk_depth:
            log.info("outbox %s: %d messages waiting from a previous run", path, self._disk_depth)

    # ------------------------------------------------------------------ disk handling
    def _attach(self, repair: bool) -> None:
        """Open the database; a storage fault leaves the outbox in memory (retried later)."""
        try:
            try:
                db = open_db(self.path, self.synchronous)
            except CorruptOutbox as exc:
                if not repair:
                    raise
                self.quarantined = quarantine(self.path)
                log.error(
                    "%s: moved it to %s and started a fresh outbox (events in it, if any, "
                    "were not published)",
                    exc,
                    self.quarantined,
                )
                db = open_db(self.path, self.synchronous)
            depth = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            row = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, CorruptOutbox) or not is_storage_fault(exc):
                raise
            self._begin_fault(exc, "cannot open it")
            return
        self._db = db
        self._disk_depth = depth
        self._dropped = int(row[0]) if row else 0

    def _begin_fault(self, exc: BaseException, what: str) -> None:
        """Start (or continue) a storage episode: logged once, retried every RETRY_S."""
        now = time.monotonic()
        self._retry_at = now + RETRY_S
        if self._fault is not None:
            return
        self._fault = str(exc)
        if now < self._quiet_until:
            return  # a nearly full disk flapping: the same episode, already reported
        log.error(
            "outbox %s: %s: %s; events are held in memory (up to %d) and still "
            "published; retrying the disk every %.0f s",
            self.path,
            what,
            exc,
            self.memory_max,
            RETRY_S,
        )

    def _end_fault(self) -> None:
        if self._fault is None:
            return
        self._fault = None
        if time.monotonic() >= self._quiet_until:
            log.warning(
                "outbox %s: storing on disk again (%d events lost since start)",
                self.path,
                self.lost,
            )
        self._quiet_until = time.monotonic() + EPISODE_S

    def _retry(self, force: bool = False) -> None:
        """Under the lock: after a fault, try the disk again and move memory onto it."""
        if self._fault is None or (time.monotonic() < self._retry_at and not force):
            return
        if self._db is not None:
            # after SQLITE_FULL a connection can stay in its error state although space came
            # back: a fresh connection sees the disk as it is now
            self._db.close()
            self._db = None
        if self._db is None:
            try:
                self._attach(repair=True)
            except (sqlite3.Error, OSError) as exc:  # a new, non-storage problem: keep trying
                self._begin_fault(exc, "cannot open it")
            if self._db is None:
                return
        try:
            if not self._memory and not self._acked_undeleted:
                self._probe()
            self._insert(list(self._memory.values()))
            self._delete(list(self._acked_undeleted))
        except sqlite3.Error as exc:
            self._begin_fault(exc, "cannot store events")
            return
        self._memory.clear()
        self._acked_undeleted.clear()
        self._end_fault()

    def _probe(self) -> None:
        """Under the lock: one tiny write transaction, to learn whether the disk takes writes."""
        assert self._db is not None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('probe', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (time.time_ns(),),
            )
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _insert(self, msgs: list[Pending]) -> int:
        """Under the lock: one transaction storing ``msgs``; returns how many were new."""
        assert self._db is not None
        if not msgs:
            return 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            added = 0
            for m in msgs:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (id, topic, payload, created_ns) "
                    "VALUES (?, ?, ?, ?)",
                    (m.id, m.topic, m.payload, m.created_ns),
                )
                added += cur.rowcount
            over = self._disk_depth + added - self.max_events
            if over > 0:
                self._db.execute(
                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT ?)",
                    (over,),
                )
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('dropped', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
                    (over,),
                )
            self._db.execute("COMMIT")
        except BaseException:
            # a failed COMMIT (disk full) has already rolled back: a second ROLLBACK would
            # raise "no transaction is active" and hide the real error
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        if over > 0:
            log.warning("outbox full (%d): dropped the %d oldest events", self.max_events, over)
            self._disk_depth -= over
            self._dropped += over
        self._disk_depth += added
        return added

    def _delete(self, ids: list[str]) -> None:
        """Under the lock: one transaction deleting ``ids`` from the disk."""
        if not ids or self._db is None:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            removed = 0
            for i in ids:
                removed += self._db.execute("DELETE FROM outbox WHERE id = ?", (i,)).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._disk_depth -= removed

    # ------------------------------------------------------------------ public
    def put(self, id: str, topic: str, payload: bytes) -> bool:
        """Store a message (on disk, or in memory during a storage fault); False if queued."""
        msg = Pending(0, id, topic, payload, time.time_ns())
        with self._lock:
            self._retry()
            if id in self._memory:
                return False
            if self._db is not None and self._fault is None:
                try:
                    return self._insert([msg]) == 1
                except sqlite3.Error as exc:
                    self._begin_fault(exc, f"cannot store event {id}")
            self.put_errors += 1
            self._mem_seq -= 1  # negative: never collides with a row's seq
            self._memory[id] = Pending(self._mem_seq, id, topic, payload, msg.created_ns)
            while len(self._memory) > self.memory_max:
                gone, _ = self._memory.popitem(last=False)
                self.lost += 1
                if self.lost == 1 or self.lost % 1000 == 0:
                    log.error(
                        "outbox %s: %d events in memory and the disk still refuses them: "
                        "forgot the oldest (%s); %d lost so far",
                        self.path,
                        self.memory_max,
                        gone,
                        self.lost,
                    )
            return True

    def pending(
        self, limit: int, exclude: set[str] | frozenset[str] = frozenset()
    ) -> list[Pending]:
        """Up to ``limit`` oldest messages whose id is not in ``exclude`` (disk, then memory)."""
        with self._lock:
            self._retry()
            skip = exclude | self._acked_undeleted
            out: list[Pending] = []
            if self._db is not None:
                try:
                    rows = self._db.execute(
                        "SELECT seq, id, topic, payload, created_ns FROM outbox "
                        "ORDER BY seq LIMIT ?",
                        (limit + len(skip),),
                    ).fetchall()
                except sqlite3.Error as exc:
                    self._begin_fault(exc, "cannot read it")
                    rows = []
                out = [Pending(int(s), str(i), str(t), bytes(p), int(c)) for s, i, t, p, c in rows]
            out = [p for p in out if p.id not in skip][:limit]
            for p in self._memory.values():
                if len(out) >= limit:
                    break
                if p.id not in exclude:
                    out.append(p)
            return out

    def delete(self, id: str) -> None:
        """Forget a message once the broker acknowledged it (PUBACK)."""
        self.delete_many([id])

    def delete_many(self, ids: list[str]) -> None:
        """Forget several acknowledged messages in one transaction (one fsync under FULL)."""
        if not ids:
            return
        with self._lock:
            on_disk = [i for i in ids if self._memory.pop(i, None) is None]
            if not on_disk:
                return
            try:
                self._delete(on_disk)
            except sqlite3.Error as exc:
                # Not lost: remembered as acknowledged (never re-sent this run) and deleted
                # when the disk works again; after a restart consumers dedupe by id.
                self._acked_undeleted.update(on_disk)
                self._begin_fault(exc, f"cannot delete {len(on_disk)} acknowledged events")

    @property
    def depth(self) -> int:
        """Messages stored (on disk or in memory) and not yet acknowledged."""
        return self._disk_depth - len(self._acked_undeleted) + len(self._memory)

    @property
    def in_memory(self) -> int:
        """Messages held in memory only because the disk refused them."""
        return len(self._memory)

    @property
    def fault(self) -> str | None:
        """The current storage error (disk full, ...), None while storing works."""
        return self._fault

    @property
    def dropped(self) -> int:
        """Messages dropped (oldest first) because the outbox was full, over its lifetime."""
        return self._dropped

    def settle(self) -> None:
        """Try the disk now (at shutdown) for what memory holds, instead of waiting RETRY_S."""
        with self._lock:
            self._retry(force=True)

    def close(self) -> None:
        """Store what memory holds if the disk allows, checkpoint the WAL, close."""
        with self._lock:
            self._retry(force=True)
            if self._memory:
                self.lost += len(self._memory)
                log.error(
                    "outbox %s: %d unacknowledged events could not be stored (%s): lost",
                    self.path,
                    len(self._memory),
                    self._fault,
                )
                self._memory.clear()
            if self._db is None:
                return
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("outbox checkpoint failed: %s", exc)
            self._db.close()
            self._db = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
