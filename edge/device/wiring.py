"""Wire a configured device together: source, outbox, publisher, signals, optional web page.

``serve(cfg, processor)`` is what ``microslip run`` and ``microslip demo`` call; it blocks
until the service stops and returns it (for its counters).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from edge.config import Config
from edge.device.outbox import Outbox
from edge.device.service import Processor, Service, ServiceListener, Source
from edge.device.sysinfo import cpu_temperature_c
from edge.errors import ConfigError

log = logging.getLogger(__name__)


def source_opener(cfg: Config) -> Callable[[], Source]:
    """A function opening the configured source (again, for ``loop = true``)."""
    from edge.sources import open_source

    def open_configured() -> Source:
        size = (cfg.camera.width, cfg.camera.height) if cfg.camera.is_live else None
        src: Source = open_source(cfg.camera.source, fps=cfg.camera.fps, size=size)
        return src

    return open_configured


def serve(
    cfg: Config,
    processor: Processor,
    *,
    realtime: bool = True,
    backoff: tuple[float, float] = (1.0, 30.0),
    listeners: tuple[ServiceListener, ...] = (),
    open_source: Callable[[], Source] | None = None,
) -> Service:
    """Wire outbox, publisher, notifier and signals around ``processor``; returns after the run."""
    import signal

    from edge.device.publisher import Publisher

    db = cfg.state.dir / "outbox.db"
    try:
        outbox = Outbox(db, max_events=cfg.state.outbox_max, synchronous=cfg.state.synchronous)
    except (OSError, sqlite3.Error) as exc:  # read-only or missing dir, a file in the way, junk db
        raise ConfigError(f"state.dir: cannot open the outbox {db}: {exc}") from exc
    try:
        lock = _lock_state_dir(cfg.state.dir)
    except BaseException:
        outbox.close()
        raise
    publisher = Publisher(
        cfg, outbox, backoff=backoff, with_temperature=cpu_temperature_c() is not None
    )
    opener = open_source or source_opener(cfg)
    service = Service(cfg, processor, opener, outbox, publisher, realtime=realtime)
    for listener in listeners:
        service.add_listener(listener)
    web = start_web(cfg, service)
    metrics = start_metrics(cfg, service, publisher)
    library = start_library(cfg, service)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: service.stop())
    publisher.start()
    try:
        service.run()
    finally:
        outbox.close()
        lock.close()
        if web is not None:
            web.stop()
        if metrics is not None:
            metrics.stop()
        if library is not None:
            library.close()
    return service


def _lock_state_dir(state_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the state dir for the run (released by the kernel on exit).

    Two services on one state dir share a device id: they would take the MQTT session from
    each other forever and publish every event twice.
    """
    path = state_dir / "microslip.lock"
    try:
        fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open until the run ends
    except OSError as exc:
        raise ConfigError(f"state.dir: cannot create {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise ConfigError(
            f"state.dir: {state_dir} is in use by another running microslip (pid {holder})"
        ) from exc
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def start_web(cfg: Config, service: Service) -> Any:
    """Start the live page when ``[web] enabled``; a busy port is logged, never fatal."""
    if not cfg.web.enabled:
        return None  # nothing imported, no thread, no listener: zero cost
    from edge.device.web.server import LiveHub, WebServer

    hub = LiveHub(max_clients=cfg.web.max_clients)
    hub.set_status("online")
    server = WebServer(hub, bind=cfg.web.bind, port=cfg.web.port, practice=_practice(cfg))
    if not server.start():
        return None
    service.add_listener(hub)
    service.web = server
    return server


def start_metrics(cfg: Config, service: Service, publisher: Any) -> Any:
    """Serve Prometheus /metrics when ``[metrics] enabled``; a busy port is logged, never fatal."""
    if not cfg.metrics.enabled:
        return None  # prometheus_client never imported, the loop never hooked: zero cost
    from edge.device.metrics import attach_metrics

    return attach_metrics(cfg, service, publisher)


def _practice(cfg: Config) -> Any:
    """The practice trainer for the live page (/practice); None if its database cannot open."""
    from edge.practice import PracticeAPI, Store

    try:
        return PracticeAPI(Store(cfg.state.dir / "practice.db"))
    except (OSError, sqlite3.Error) as exc:
        log.error("web: practice page disabled: cannot open %s: %s", cfg.state.dir, exc)
        return None


def start_library(cfg: Config, service: Service) -> Any:
    """Keep the device's slips with motion for practice ([practice] library_max, _days)."""
    if not cfg.events.include_motion or cfg.practice.library_max == 0:
        return None  # no motion to keep: nothing imported, no thread
    from edge.practice import SlipLibrary, Store

    try:
        store = Store(cfg.state.dir / "practice.db")
    except (OSError, sqlite3.Error) as exc:
        log.error("practice: slips are not kept: cannot open %s: %s", cfg.state.dir, exc)
        return None
    library = SlipLibrary(store, cfg.practice.library_max, cfg.practice.library_days * 86400)
    service.add_listener(library)
    return library
