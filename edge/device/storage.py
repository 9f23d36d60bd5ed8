"""The outbox's SQLite file: open and check the schema, classify faults, set a bad file aside."""

from __future__ import annotations

import errno
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from edge.errors import StorageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COLUMNS = {
    "outbox": ["seq", "id", "topic", "payload", "created_ns"],
    "meta": ["key", "value"],
}
# sqlite primary result codes (the low byte of an extended code)
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 10, 11, 13, 26


class OutboxError(StorageError):
    """The outbox file cannot be used at all (unreadable, not an outbox, a directory)."""


class CorruptOutbox(OutboxError):
    """The file exists but is not a microslip outbox (random bytes, a foreign schema)."""


def _code(exc: sqlite3.Error) -> int:
    """sqlite's primary result code (Python 3.11+ exposes it; 3.10 is matched by message)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    if "not a database" in text:
        return _SQLITE_NOTADB
    if "malformed" in text:
        return _SQLITE_CORRUPT
    if "full" in text:
        return _SQLITE_FULL
    if "i/o" in text:
        return _SQLITE_IOERR
    return -1


def is_storage_fault(exc: BaseException) -> bool:
    """True for errors that space or a retry can cure: disk full, I/O error, quota."""
    if isinstance(exc, sqlite3.Error):
        return _code(exc) in (_SQLITE_FULL, _SQLITE_IOERR)
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO)
    return False


def _is_corrupt(exc: sqlite3.Error) -> bool:
    return _code(exc) in (_SQLITE_NOTADB, _SQLITE_CORRUPT)


def open_db(path: Path, synchronous: str) -> sqlite3.Connection:
    """Open (or create) the outbox database and check its schema; raises sqlite3.Error/OSError.

    Raises :class:`CorruptOutbox` when the file is not ours; such a file is not written to.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        _check_schema(db, path)  # before any write: a foreign file stays as it was
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        db.executescript(SCHEMA)
    except sqlite3.Error as exc:
        db.close()
        if _is_corrupt(exc):
            raise CorruptOutbox(f"{path} is not a microslip outbox ({exc})") from exc
        raise
    except BaseException:
        db.close()
        raise
    return db


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    """An empty database or exactly our tables and columns; anything else is CorruptOutbox."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables = {str(r[0]) for r in rows} - {"sqlite_sequence"}
    if not tables:
        return
    if tables != set(_COLUMNS):
        raise CorruptOutbox(
            f"{path} is not a microslip outbox (tables {', '.join(sorted(tables))}, "
            f"expected {', '.join(_COLUMNS)})"
        )
    for table, want in _COLUMNS.items():
        have = [str(r[1]) for r in db.execute(f"PRAGMA table_info({table})")]
        if have != want:
            raise CorruptOutbox(
                f"{path} is not a microslip outbox (table {table} has columns "
                f"{', '.join(have)}, expected {', '.join(want)})"
            )


def quarantine(path: Path) -> Path:
    """Rename ``path`` (and its -wal/-shm) aside with a UTC timestamp; returns the new name."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target
