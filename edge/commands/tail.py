"""``microslip tail``: subscribe to any broker and pretty-print events and status."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from edge.commands.args import require_positive
from edge.errors import ConfigError, MicroslipError


def register(sub: Any) -> None:
    """Add the ``tail`` subcommand to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "tail",
        help="print events and status of microslip devices from an MQTT broker",
        description="Subscribe to <prefix>/<device>/events and /status (and /stats with "
        "--stats) and print one line per message. Consumers should dedupe by event id: "
        "delivery is at-least-once.",
    )
    parser.add_argument("--config", type=Path, help="take broker settings from this config")
    parser.add_argument("--host", help="broker host (default localhost)")
    parser.add_argument("--port", type=int, help="broker port (default 1883)")
    parser.add_argument("--prefix", help="topic prefix (default microslip)")
    parser.add_argument("--device", default="+", help="device id (default: all devices)")
    parser.add_argument("--stats", action="store_true", help="also print stats")
    parser.add_argument("--json", action="store_true", help="print raw JSON payloads")
    parser.add_argument("--count", type=int, help="exit after this many events")
    parser.add_argument("--timeout", type=float, help="exit after this many seconds")
    parser.set_defaults(func=run)


def format_message(topic: str, payload: bytes, raw: bool = False) -> str:
    """One human line for one message on a microslip topic."""
    parts = topic.split("/")
    device, kind = (parts[-2], parts[-1]) if len(parts) >= 2 else ("?", topic)
    text = payload.decode("utf-8", "replace")
    if raw:
        return f"{topic} {text}"
    now = datetime.now().strftime("%H:%M:%S")
    if kind == "status":
        return f"{now} {device} status {text}"
    try:
        d = json.loads(text)
    except json.JSONDecodeError:
        return f"{now} {device} {kind} (not JSON) {text[:200]}"
    try:
        if kind == "events" and isinstance(d, dict):
            au = d.get("action_units", {})
            aus = "+".join(sorted(au, key=lambda a: -float(au[a]))[:4])  # the strongest four
            return (
                f"{now} {device} {d.get('type', '?'):5} {d.get('emotion', '?'):9} "
                f"conf {d.get('confidence', 0):.2f} int {d.get('intensity', 0):.2f} "
                f"{d.get('duration_ms', 0):4.0f} ms track {d.get('track_id', '?')} "
                f"{d.get('laterality', '')} {aus} id={d.get('id', '?')}"
            )
        if kind == "stats" and isinstance(d, dict):
            temp = d.get("cpu_temperature_c")
            degrees = f" {temp:.1f}°C" if temp is not None else ""
            return (
                f"{now} {device} stats fps {d.get('fps', 0)} faces {d.get('faces', 0)} "
                f"dropped {d.get('dropped_frames', 0)} slips/h {d.get('slips_last_hour', 0)} "
                f"outbox {d.get('outbox_depth', 0)}{degrees}"
            )
    except (TypeError, ValueError, AttributeError):
        # another publisher (or an older version) on our topic: show it, keep subscribing
        return f"{now} {device} {kind} (unexpected fields) {text[:200]}"
    return f"{now} {device} {kind} {text[:200]}"


def run(args: argparse.Namespace) -> int:
    """Subscribe and print until interrupted, --count events or --timeout."""

    from edge.config import load_config, parse_config
    from edge.device.hints import connect_error_hint, refused_hint
    from edge.device.publisher import make_client

    cfg = load_config(args.config) if args.config else parse_config({}, env={})
    host = args.host or (cfg.mqtt.host if args.config else "localhost")
    # `or` would turn --port 0 into the default port: a silent connection to another broker
    port = args.port if args.port is not None else (cfg.mqtt.port if args.config else 1883)
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    prefix = args.prefix or cfg.mqtt.prefix
    require_positive("--timeout", args.timeout)
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count must be at least 1, got {args.count}")
    kinds = ["events", "status"] + (["stats"] if args.stats else [])
    topics = [f"{prefix}/{args.device}/{k}" for k in kinds]
    client = make_client(cfg, client_id=f"microslip-tail-{uuid.uuid4().hex[:10]}")
    done = threading.Event()
    connected = threading.Event()
    seen = {"events": 0}
    out: IO[str] = sys.stdout

    failure: list[str] = []  # why the broker would not have us: the exit is non-zero

    def on_connect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            failure.append(refused_hint(reason))
            done.set()
            return
        connected.set()
        c.subscribe([(t, 1) for t in topics])

    def on_disconnect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        if not connected.is_set() and not failure:
            hint = "" if cfg.mqtt.tls else " (a TLS port? use --config with mqtt.tls_ca)"
            failure.append(f"the broker closed the connection before CONNACK{hint}")
            done.set()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        out.write(format_message(msg.topic, msg.payload, args.json) + "\n")
        out.flush()
        if msg.topic.endswith("/events"):
            seen["events"] += 1
            if args.count is not None and seen["events"] >= args.count:
                done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        why = connect_error_hint(exc, cfg)
        raise MicroslipError(f"cannot connect to MQTT broker {host}:{port}: {why}") from exc
    client.loop_start()
    try:
        done.wait(args.timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    if failure:
        raise MicroslipError(f"MQTT broker {host}:{port}: {failure[0]}")
    return 0
