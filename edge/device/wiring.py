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

from edge import __version__
from edge.config import Config
from edge.device.outbox import CorruptOutbox, Outbox, OutboxError, is_storage_fault
from edge.device.protocols import Processor, ServiceListener
from edge.device.service import Service
from edge.device.sysinfo import cpu_temperature_c
from edge.errors import ConfigError, StorageError
from edge.sources.base import Source

log = logging.getLogger(__name__)


def source_opener(cfg: Config) -> Callable[[], Source[Any]]:
    """A function opening the configured source (again, for ``loop = true``)."""
    from edge.sources import open_source

    def open_configured() -> Source[Any]:
        size = (cfg.camera.width, cfg.camera.height) if cfg.camera.is_live else None
        src: Source[Any] = open_source(cfg.camera.source, fps=cfg.camera.fps, size=size)
        return src

    return open_configured


def serve(
    cfg: Config,
    processor: Processor,
    *,
    realtime: bool = True,
    backoff: tuple[float, float] = (1.0, 30.0),
    listeners: tuple[ServiceListener, ...] = (),
    open_source: Callable[[], Source[Any]] | None = None,
) -> Service:
    """Wire outbox, publisher, notifier and signals around ``processor``; returns after the run."""
    import signal

    from edge.device.publisher import Publisher

    # the lock first: a second instance must not touch (or set aside) the running one's outbox
    lock = _lock_state_dir(cfg.state.dir)
    try:
        outbox = open_outbox(cfg)
    except BaseException:
        lock.close()
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
    m = cfg.mqtt
    log.info(
        "microslip %s: device %s, source %s, broker %s:%d (%s), topics %s/{status,events,stats}, "
        "outbox %s",
        __version__,
        cfg.device.id,
        cfg.camera.source,
        m.host,
        m.port,
        "TLS" if m.tls else "no TLS",
        cfg.base_topic,
        outbox.path,
    )
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


def open_outbox(cfg: Config, *, repair: bool = True) -> Outbox:
    """The configured outbox; a full disk is not an error (it starts in memory), junk is set aside.

    Raises ConfigError when the state dir cannot be used (read-only, a file in the way, no
    permission), StorageError when setting a bad file aside fails for lack of space.
    """
    db = cfg.state.dir / "outbox.db"
    try:
        return Outbox(
            db,
            max_events=cfg.state.outbox_max,
            synchronous=cfg.state.synchronous,
            repair=repair,
        )
    except CorruptOutbox:
        raise
    except (OutboxError, OSError, sqlite3.Error) as exc:
        cause = exc.__cause__ if isinstance(exc, OutboxError) else exc
        if cause is not None and is_storage_fault(cause):
            raise StorageError(f"state.dir: cannot use the outbox {db}: {exc}") from exc
        raise ConfigError(f"state.dir: cannot open the outbox {db}: {exc}") from exc


def lock_holder(state_dir: Path) -> str | None:
    """The pid (as text, ``?`` if unknown) of a running microslip holding ``state_dir``, or None."""
    path = state_dir / "microslip.lock"
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return fh.read().strip() or "?"
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def _lock_state_dir(state_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the state dir for the run (released by the kernel on exit).

    Two services on one state dir share a device id: they would take the MQTT session from
    each other forever and publish every event twice.
    """
    path = state_dir / "microslip.lock"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open until the run ends
    except OSError as exc:
        if is_storage_fault(exc):
            raise StorageError(f"state.dir: cannot create {path}: {exc.strerror}") from exc
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
    try:
        # unbuffered: a pid that did not fit on a full disk must not fail again at close
        os.ftruncate(fh.fileno(), 0)
        os.pwrite(fh.fileno(), f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:  # a full disk: the lock holds without the pid in it
        log.warning("%s: cannot write the pid (%s); the lock holds anyway", path, exc.strerror)
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
