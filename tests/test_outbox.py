"""The durable outbox: FIFO by insertion, idempotent ids, counted drop-oldest, kill -9 safe."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.device.outbox import Outbox


def test_fifo_delete_and_duplicate_ids(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        assert box.put("a", "t", b"1") and box.put("b", "t", b"2") and box.put("c", "t", b"3")
        assert not box.put("b", "t", b"again")  # same id is stored once
        assert [p.id for p in box.pending(10)] == ["a", "b", "c"]
        assert [p.id for p in box.pending(10, exclude={"a"})] == ["b", "c"]
        assert box.pending(1)[0].payload == b"1"
        box.delete("a")
        box.delete("a")  # a second PUBACK for the same id is harmless
        assert box.depth == 2
        assert [p.id for p in box.pending(10)] == ["b", "c"]


def test_bound_drops_oldest_and_counts_persistently(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, max_events=10) as box:
        for i in range(25):
            box.put(f"e{i}", "t", b"x")
        assert box.depth == 10
        assert box.dropped == 15
        assert [p.id for p in box.pending(100)] == [f"e{i}" for i in range(15, 25)]
    with Outbox(path, max_events=10) as box:
        assert box.depth == 10 and box.dropped == 15


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_survives_kill_9(tmp_path: Path, sync: str) -> None:
    # A child commits 200 events then is SIGKILLed while still writing; every put that
    # returned before the kill must be there afterwards.
    path = tmp_path / "o.db"
    marker = tmp_path / "committed"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from edge.device.outbox import Outbox
        box = Outbox(Path({str(path)!r}), synchronous={sync!r})
        for i in range(200):
            box.put(f"e{{i}}", "t", b"payload")
        Path({str(marker)!r}).write_text("200")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -9
    assert marker.read_text() == "200"
    with Outbox(path) as box:
        assert box.depth == 200
        assert [p.id for p in box.pending(3)] == ["e0", "e1", "e2"]


def test_full_store_holds_events_in_memory_and_keeps_what_it_has(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        box.put("a", "t", b"1")
        # SQLite's page limit gives the same SQLITE_FULL a full disk under the state dir gives.
        pages = box._db.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[union-attr]
        box._db.execute(f"PRAGMA max_page_count = {pages}")  # type: ignore[union-attr]
        for i in range(20):
            assert box.put(f"b{i}", "t", b"x" * 4000)  # never raises: memory takes it
        assert box.put_errors == box.in_memory >= 19 and box.depth == 21  # b0 may fit
        assert [p.id for p in box.pending(30)] == ["a", *(f"b{i}" for i in range(20))]
        assert box.fault is not None and "full" in box.fault


def test_rejects_unknown_sync_policy(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        Outbox(tmp_path / "o.db", synchronous="off")
