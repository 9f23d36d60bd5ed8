"""``microslip check --config PATH``: validate config, models, camera, state dir and broker."""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.commands.args import require_positive
from edge.config import DEFAULT_PATH, Config
from edge.errors import MicroslipError


def register(sub: Any) -> None:
    """Add the ``check`` subcommand to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="check config, model checksums, camera, state dir and broker; non-zero on failure",
        description="Validate everything `microslip run` needs and print one line per check. "
        "Exit 2 on a bad config, 1 if any other check fails, 0 if all pass.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help=f"TOML config (default {DEFAULT_PATH})"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait for the broker (default 5)",
    )
    parser.set_defaults(func=run)


def check_models(cfg: Config) -> str:
    """Verify the face models this config needs against the manifest's sha256."""
    from edge.face.landmarks import MESHES
    from edge.runtime.manifest import verify

    names = ["face_detection_short_range", MESHES[cfg.pipeline.mesh].model]
    for name in names:
        verify(name)
    return ", ".join(names) + " (sha256 verified)"


def check_camera(cfg: Config) -> str:
    """Open the source and read one frame."""
    from edge.device.wiring import source_opener

    src = source_opener(cfg)()
    try:
        first = next(iter(src), None)
        if first is None:
            raise MicroslipError(f"{cfg.camera.source}: no frames")
        what = getattr(first, "image", None)
        size = f"{what.shape[1]}x{what.shape[0]}" if what is not None else "landmarks"
        return f"{cfg.camera.source}: first frame {size} at {src.fps:.3g} fps"
    finally:
        src.close()


def check_state(cfg: Config) -> str:
    """The state dir is writable, has room, is not in use, and holds a usable outbox."""
    from edge.device.outbox import CorruptOutbox
    from edge.device.wiring import lock_holder, open_outbox

    d = cfg.state.dir
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MicroslipError(f"{d}: cannot create it: {exc.strerror}") from exc
    if not os.access(d, os.W_OK):
        raise MicroslipError(f"{d} is not writable by this user")
    holder = lock_holder(d)
    if holder is not None:
        raise MicroslipError(
            f"{d} is in use by a running microslip (pid {holder}): stop it first "
            "(systemctl stop microslip) to check this state dir"
        )
    free = _write_probe(d)
    try:
        box = open_outbox(cfg, repair=False)
    except CorruptOutbox as exc:
        raise MicroslipError(
            f"{exc}; `microslip run` will move it aside and start a fresh outbox"
        ) from exc
    with box:
        if box.fault is not None:
            raise MicroslipError(f"{box.path}: {box.fault}")
        return (
            f"{d} writable ({free // 1024} KiB free), {box.depth} events queued, "
            f"{box.dropped} ever dropped"
        )


PROBE_BYTES = 64 * 1024  # room for a few events and their WAL frames


def _write_probe(d: Path) -> int:
    """Write and remove PROBE_BYTES in ``d``; returns the free bytes, raises if it is full."""
    probe = d / f".microslip-check-{uuid.uuid4().hex[:8]}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise MicroslipError(
            f"{d} has no room for events ({exc.strerror}): free some space; until then "
            "`microslip run` keeps events in memory only"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    st = os.statvfs(d)
    return st.f_bavail * st.f_frsize


def check_broker(cfg: Config, timeout: float) -> str:
    """Connect once (same protocol, TLS and credentials as the service) and wait for CONNACK."""
    from edge.device.hints import connect_error_hint, refused_hint
    from edge.device.publisher import make_client

    client = make_client(cfg, client_id=f"{cfg.mqtt.client_id}-check-{uuid.uuid4().hex[:6]}")
    answered = threading.Event()
    result: list[str] = []

    def on_connect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        result.append(refused_hint(reason) if reason.is_failure else "")
        answered.set()

    def on_disconnect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        if not answered.is_set():
            hint = "" if cfg.mqtt.tls else " (a TLS port? set mqtt.tls_ca for TLS)"
            result.append(f"the broker closed the connection before CONNACK{hint}")
            answered.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    where = f"{cfg.mqtt.host}:{cfg.mqtt.port}"
    try:
        client.connect(cfg.mqtt.host, cfg.mqtt.port, keepalive=10)
    except (OSError, ValueError) as exc:
        raise MicroslipError(f"{where}: {connect_error_hint(exc, cfg)}") from exc
    client.loop_start()
    try:
        if not answered.wait(timeout):
            raise MicroslipError(
                f"{where}: no CONNACK within {timeout:g} s (not an MQTT broker, or a TLS port?)"
            )
        if result[0]:
            raise MicroslipError(f"{where}: {result[0]}")
    finally:
        client.disconnect()
        client.loop_stop()
    tls = "TLS" if cfg.mqtt.tls else "no TLS"
    return f"{where} accepted the connection (MQTT {cfg.mqtt.protocol}, {tls})"


def run(args: argparse.Namespace) -> int:
    """Run every check, print a report, return 0 only if all pass."""
    from edge.config import load_config

    require_positive("--timeout", args.timeout)
    cfg = load_config(args.config)  # a bad config raises ConfigError: exit 2, naming the key
    print(f"ok    config  {cfg.path}: device {cfg.device.id}, camera {cfg.camera.source}")
    checks: list[tuple[str, Callable[[], str]]] = [
        ("models", lambda: check_models(cfg)),
        ("camera", lambda: check_camera(cfg)),
        ("state ", lambda: check_state(cfg)),
        ("broker", lambda: check_broker(cfg, args.timeout)),
    ]
    failed = 0
    for name, check in checks:
        try:
            detail = check()
        except (MicroslipError, OSError) as exc:
            failed += 1
            print(f"FAIL  {name}  {exc}")
        else:
            print(f"ok    {name}  {detail}")
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 1 if failed else 0
