"""Wire a configured device together: source, outbox, publisher, signals, optional web page.

``serve(cfg, processor)`` is what ``microslip run`` and ``microslip demo`` call; it blocks
until the service stops and returns it (for its counters).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from edge.config import Config
from edge.errors import ConfigError
from edge.outbox import Outbox
from edge.service import Processor, Service, ServiceListener, Source
from edge.sysinfo import cpu_temperature_c


def source_opener(cfg: Config) -> Callable[[], Source]:
    """A function opening the configured source (again, for ``loop = true``)."""
    if cfg.camera.is_live:

        def open_camera() -> Source:
            from edge.camera import PiCameraSource

            size = (cfg.camera.width, cfg.camera.height)
            return PiCameraSource(fps=cfg.camera.fps or 30.0, size=size)

        return open_camera

    def open_file() -> Source:
        from edge.frames import open_source

        src: Source = open_source(cfg.camera.source, fps=cfg.camera.fps)
        return src

    return open_file


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

    from edge.publisher import Publisher

    db = cfg.state.dir / "outbox.db"
    try:
        outbox = Outbox(db, max_events=cfg.state.outbox_max, synchronous=cfg.state.synchronous)
    except (OSError, sqlite3.Error) as exc:  # read-only or missing dir, a file in the way, junk db
        raise ConfigError(f"state.dir: cannot open the outbox {db}: {exc}") from exc
    publisher = Publisher(
        cfg, outbox, backoff=backoff, with_temperature=cpu_temperature_c() is not None
    )
    opener = open_source or source_opener(cfg)
    service = Service(cfg, processor, opener, outbox, publisher, realtime=realtime)
    for listener in listeners:
        service.add_listener(listener)
    web = start_web(cfg, service)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: service.stop())
    publisher.start()
    try:
        service.run()
    finally:
        outbox.close()
        if web is not None:
            web.stop()
    return service


def start_web(cfg: Config, service: Service) -> Any:
    """Start the live page when ``[web] enabled``; a busy port is logged, never fatal."""
    if not cfg.web.enabled:
        return None  # nothing imported, no thread, no listener: zero cost
    from edge.web import LiveHub, WebServer

    hub = LiveHub(max_clients=cfg.web.max_clients)
    hub.set_status("online")
    server = WebServer(hub, bind=cfg.web.bind, port=cfg.web.port)
    if not server.start():
        return None
    service.add_listener(hub)
    service.web = server
    return server
