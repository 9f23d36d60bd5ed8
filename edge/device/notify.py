"""systemd sd_notify over $NOTIFY_SOCKET (a unix datagram socket); a no-op outside systemd."""

from __future__ import annotations

import logging
import os
import socket

from edge.device.stats import Stats

log = logging.getLogger(__name__)


class Notifier:
    """Sends ``READY=1``, ``WATCHDOG=1``, ``STATUS=...`` to systemd when it is listening."""

    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        # A leading "@" names a Linux abstract socket, spelled with a NUL byte.
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
        self._sock: socket.socket | None = None
        if self._addr:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        """True when running under systemd with Type=notify."""
        return self._sock is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` lines; False (logged once per failure) if systemd is unreachable."""
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self._addr)
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s", self._addr, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Tell systemd start-up is complete."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """Pet the watchdog: only call while frames actually flow."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """One-line status shown by ``systemctl status``."""
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        """Tell systemd a clean shutdown began."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def status_text(stats: Stats) -> str:
    """The one-line status for systemd and the log."""
    text = (
        f"{stats.fps:.1f} fps, {stats.faces} face(s), {stats.slips_total} slips, "
        f"{stats.dropped_frames} dropped, outbox {stats.outbox_depth}"
    )
    if stats.outbox_memory or stats.events_lost:
        text += f" ({stats.outbox_memory} in memory, {stats.events_lost} lost)"
    return text
