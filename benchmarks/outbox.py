"""Outbox throughput under both fsync policies, alone and drained through a real mosquitto.

Run by hand (not part of the test suite):

    nice .venv/bin/python benchmarks/outbox.py [--events 5000] [--dir /path/on/the/sd/card]

Prints, for ``synchronous = normal`` and ``full``: events/s stored (one committed
transaction per event, as the service does), and events/s sustained end to end (stored,
published QoS 1 to a local mosquitto, deleted on PUBACK). Target: >= 500 events/s.
Measure on the device's own storage (``--dir``): an SD card fsyncs far slower than an SSD.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import parse_config  # noqa: E402
from edge.device.outbox import Outbox  # noqa: E402
from edge.device.publisher import Publisher  # noqa: E402
from edge.events import event_to_json  # noqa: E402
from tests.broker import Mosquitto, find_mosquitto, make_event  # noqa: E402


def store_rate(path: Path, sync: str, payloads: list[tuple[str, bytes]]) -> float:
    """Events/s for put() alone, one transaction per event."""
    with Outbox(path, synchronous=sync, max_events=len(payloads) + 1) as box:
        t = time.perf_counter()
        for event_id, payload in payloads:
            box.put(event_id, "bench/events", payload)
        return len(payloads) / (time.perf_counter() - t)


def end_to_end_rate(path: Path, sync: str, payloads: list[tuple[str, bytes]], port: int) -> float:
    """Events/s stored, published QoS 1 and deleted on PUBACK, with the publisher running."""
    cfg = parse_config(
        {
            "device": {"id": "bench"},
            "mqtt": {"host": "127.0.0.1", "port": port, "discovery": False},
            "state": {"dir": str(path.parent)},
        },  # fmt: skip
        env={},
    )
    with Outbox(path, synchronous=sync, max_events=len(payloads) + 1) as box:
        pub = Publisher(cfg, box)
        pub.start()
        if not pub.wait_connected(10):
            raise SystemExit("benchmark broker did not accept the connection")
        t = time.perf_counter()
        for event_id, payload in payloads:
            box.put(event_id, "bench/events", payload)
            pub.wake()
        if not pub.wait_drained(120):
            raise SystemExit(f"not drained: {box.depth} left")
        rate = len(payloads) / (time.perf_counter() - t)
        pub.stop()
        return rate


def main() -> int:
    """Run both policies and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--dir", type=Path, default=None, help="where the database goes")
    args = ap.parse_args()
    events = [make_event(i, "bench") for i in range(args.events)]
    payloads = [(e.id, event_to_json(e).encode()) for e in events]
    size = sum(len(p) for _, p in payloads) / len(payloads)
    print(f"{args.events} events of {size:.0f} bytes")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        broker = Mosquitto(Path(tmp)).start() if find_mosquitto() else None
        try:
            for sync in ("normal", "full"):
                stored = store_rate(Path(tmp) / f"store-{sync}.db", sync, payloads)
                line = f"synchronous={sync:6}  store {stored:8.0f} events/s"
                if broker is not None:
                    e2e = end_to_end_rate(Path(tmp) / f"e2e-{sync}.db", sync, payloads, broker.port)
                    line += f"   stored+published+acked+deleted {e2e:7.0f} events/s"
                print(line)
        finally:
            if broker is not None:
                broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
