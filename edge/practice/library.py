"""Keeps the device's own slips for practice: a service listener that never blocks the loop.

``on_event`` runs on the camera loop's thread: it only appends to a bounded queue. A daemon
thread writes to SQLite (``Store.save_slip``), pruning by count and age on every write.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque

from edge.events import SlipEvent
from edge.practice.store import Store

log = logging.getLogger(__name__)


class SlipLibrary:
    """ServiceListener saving slips that carry motion into the practice library."""

    def __init__(self, store: Store, max_count: int, max_age_s: float, queue: int = 64) -> None:
        self.store = store
        self.max_count = max_count
        self.max_age_s = max_age_s
        self.saved = 0
        self.lost = 0  # dropped because the writer fell behind (a slip flood)
        self._queue: deque[SlipEvent] = deque()
        self._queue_max = queue
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="practice-library", daemon=True)
        self._thread.start()

    def on_event(self, event: SlipEvent) -> None:
        """A slip was stored: queue it when it has motion (O(1), never waits on disk)."""
        if event.motion is None or event.type != "micro":
            return
        with self._wake:
            if len(self._queue) >= self._queue_max:
                self.lost += 1
                return
            self._queue.append(event)
            self._wake.notify()

    def on_stats(self, stats: object) -> None:
        """Stats ticks are not needed here (any stats object is accepted)."""

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:
                    return
                ev = self._queue.popleft()
            try:
                if self.store.save_slip(ev, self.max_count, self.max_age_s):
                    self.saved += 1
            except sqlite3.Error as exc:  # a full disk must not end detection
                log.warning("practice: cannot keep slip %s: %s", ev.id, exc)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer and close the store."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout)
        self.store.close()
