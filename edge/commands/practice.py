"""``microslip practice``: the practice page on localhost, without a camera (or --clear)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, MicroslipError


def register(sub: Any) -> None:
    """Add the ``practice`` subcommand to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "practice",
        help="train your eye on slips: the practice page on localhost, no camera needed",
        description="Serve the practice page (rounds of face motion with one brief slip, "
        "feedback, progress per person) at http://127.0.0.1:PORT/practice. The built-in "
        "deck works with no camera; the device's own slips (kept with [events] "
        "include_motion) are read from the state dir. Progress is kept there too.",
    )
    parser.add_argument("--port", type=int, default=8089, help="port (default 8089; 0 = any)")
    parser.add_argument("--bind", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--config", type=Path, help="take the state dir from this config")
    parser.add_argument("--state-dir", type=Path, help="where progress and slips are kept")
    parser.add_argument(
        "--clear", action="store_true", help="forget this device's kept slips and exit"
    )
    parser.add_argument("--seed", type=int, help="seed the deck (reproducible rounds)")
    parser.set_defaults(func=run)


def _state_dir(args: argparse.Namespace) -> Path:
    if args.state_dir is not None:
        return Path(args.state_dir)
    if args.config is not None:
        from edge.config import load_config

        return load_config(args.config).state.dir
    from edge.config import default_state_dir

    return default_state_dir()


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted, or clear the library."""
    import sqlite3

    from edge.practice import PracticeAPI, Store

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port: {args.port} is not a port (0-65535)")
    path = _state_dir(args) / "practice.db"
    try:
        store = Store(path)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"state dir: cannot open {path}: {exc}") from exc
    if args.clear:
        n = store.clear_library()
        store.close()
        print(f"practice: forgot {n} kept slip(s) in {path}")
        return 0
    from edge.device.web.server import LiveHub, WebServer

    hub = LiveHub()
    hub.set_status("practice")
    server = WebServer(
        hub, bind=args.bind, port=args.port, practice=PracticeAPI(store, seed=args.seed)
    )
    if not server.start():
        store.close()
        raise MicroslipError(f"practice: cannot listen on {args.bind}:{args.port}")
    print(f"practice page at {server.url}practice (Ctrl-C to stop)", flush=True)
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: done.set())
    try:
        done.wait()
    finally:
        server.stop()
        store.close()
    return 0
