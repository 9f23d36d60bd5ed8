"""The one-slot frame handoff between the capture thread and the processing loop."""

from __future__ import annotations

import threading

from edge.types import FaceFrame, Frame

Item = Frame | FaceFrame


class LatestFrame:
    """One-slot handoff: ``put`` replaces an untaken frame (counted) unless ``lossless``."""

    def __init__(self, lossless: bool = False) -> None:
        self.lossless = lossless
        self.dropped = 0
        self._item: Item | None = None
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: Item) -> None:
        """Offer a frame; in lossless mode wait until the previous one was taken."""
        with self._cond:
            if self.lossless:
                self._cond.wait_for(lambda: self._item is None or self._closed)
            elif self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def take(self, timeout: float) -> Item | None:
        """The newest frame, or None after ``timeout`` or once closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more frames will come."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once the producer is done."""
        return self._closed
