"""Event latency: from the frame at an event's offset to the event arriving at a subscriber.

Run by hand (not part of the test suite):

    nice .venv/bin/python benchmarks/latency.py [--fps 60] [--clip WolfgangLanger_Pexels.mp4]
    nice .venv/bin/python benchmarks/latency.py --fake [--fps 60] [--events 300]

The real mode plays a clip through the real pipeline at ``--fps`` (the clip's frames with
timestamps re-labelled to that rate, paced like a camera) through the outbox, the publisher
and a local mosquitto; a separate subscriber timestamps each event on arrival. Latency =
arrival - the moment the frame at the event's ``offset_ns`` reached the service loop, so it
includes the spotter's look-ahead (it can only close an interval after seeing its end),
processing, the SQLite commit, and MQTT QoS 1 over loopback. ``--fake`` replaces the
pipeline with a processor that emits an event exactly at its offset frame: what is left is
the service/outbox/MQTT overhead alone. Target: median <= 300 ms at 60 fps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import parse_config  # noqa: E402
from edge.device.service import Service  # noqa: E402
from edge.device.wiring import serve  # noqa: E402
from edge.types import Frame  # noqa: E402
from tests.broker import Mosquitto, Subscriber  # noqa: E402
from tests.fake_device import SlipEveryNth, TickSource  # noqa: E402


class Relabelled:
    """A clip whose frames are stamped as if a camera delivered them at ``fps``."""

    def __init__(self, path: Path, fps: float) -> None:
        from edge.sources import VideoFileSource

        self._src = VideoFileSource(path)
        self.fps = fps
        self.bad_frames = 0

    @property
    def dropped(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Frame]:
        for i, frame in enumerate(self._src):
            yield Frame(index=i, t_ns=10**9 + round(i * 1e9 / self.fps), image=frame.image)

    def close(self) -> None:
        self._src.close()


def main() -> int:
    """Run, then print median / p90 / max latency."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=60.0)
    ap.add_argument("--clip", type=Path, default=None)
    ap.add_argument("--fake", action="store_true", help="service/outbox/MQTT overhead only")
    ap.add_argument("--events", type=int, default=300, help="--fake: events to send")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="microslip-latency-")
    broker = Mosquitto(Path(tmp.name)).start()
    cfg = parse_config(
        {
            "device": {"id": "bench"},
            "camera": {"source": "synthetic", "fps": args.fps},
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "discovery": False},
            "state": {"dir": tmp.name},
        },  # fmt: skip
        env={},
    )
    sub = Subscriber(broker.port, ["microslip/bench/events"])
    received: dict[str, tuple[float, int]] = {}
    lock = threading.Lock()
    original = sub.client.on_message

    def on_message(c: Any, u: Any, msg: Any) -> None:
        d = json.loads(msg.payload)
        with lock:
            received.setdefault(d["id"], (time.monotonic(), int(d["offset_ns"])))
        original(c, u, msg)

    sub.client.on_message = on_message
    service: Service
    try:
        if args.fake:
            n = max(1, round(args.fps / 10))  # ten events a second
            frames = args.events * n + 10
            proc: Any = SlipEveryNth(args.events, n)
            service = serve(cfg, proc, open_source=lambda: TickSource(args.fps, frames))
        else:
            from edge.pipeline import Pipeline
            from edge.runtime.downloads import pyfeat_data_dir

            clip = args.clip or pyfeat_data_dir() / "WolfgangLanger_Pexels.mp4"
            pipe = Pipeline(device_id="bench")
            service = serve(cfg, pipe, open_source=lambda: Relabelled(clip, args.fps))
        sub.wait_for(lambda m: len(received) >= service.slips, timeout=10)
    finally:
        sub.close()
        broker.stop()
    lat = []
    for arrival, offset_ns in received.values():
        seen = service.frame_arrival(offset_ns)
        if seen is not None:
            lat.append((arrival - seen) * 1000.0)
    mode = "fake processor" if args.fake else "real pipeline"
    print(
        f"{mode} at {args.fps:g} fps: {service.frames} frames, {service.dropped_frames} "
        f"dropped, {service.overruns} overruns, {service.slips} events, {len(received)} received"
    )
    if lat:
        lat.sort()
        p90 = lat[int(0.9 * (len(lat) - 1))]
        print(f"offset -> subscriber latency: median {statistics.median(lat):.1f} ms, "
              f"p90 {p90:.1f} ms, max {lat[-1]:.1f} ms over {len(lat)} events")  # fmt: skip
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
