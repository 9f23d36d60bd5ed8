"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Redraws ``label [####....] i/n frames  fps  extra`` at most ten times a second."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        width: int = 24,
    ) -> None:
        """``enabled=None`` means: only when ``stream`` (default stderr) is a TTY."""
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) if enabled is None else enabled
        self.label = label
        self.total = total if total and total > 0 else None
        self.width = width
        self.count = 0
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, count: int, extra: str = "") -> None:
        """Set the number of frames done and redraw if it is time."""
        self.count = count
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.1 and not (self.total and count >= self.total):
            return
        self._last_draw = now
        self.stream.write("\r" + self.render(now) + (f"  {extra}" if extra else "") + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def render(self, now: float | None = None) -> str:
        """The bar text (without carriage return), e.g. for tests."""
        elapsed = (time.monotonic() if now is None else now) - self._start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if self.total:
            done = min(1.0, self.count / self.total)
            filled = int(done * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            return f"{self.label} [{bar}] {self.count}/{self.total} frames {rate:6.1f} fps"
        return f"{self.label} {self.count} frames {rate:6.1f} fps"

    def close(self) -> None:
        """Erase the bar so that the summary starts on a clean line."""
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
