"""A broker outage of ``--seconds`` (default 60) during steady slips: does every event arrive?

Run by hand (not part of the test suite; takes about the outage plus 20 s):

    nice .venv/bin/python benchmarks/outage.py [--seconds 60] [--rate 10]

The service runs a processor emitting ``--rate`` events per second at 30 fps through the
outbox and publisher to a local mosquitto (sessions persisted, like a production broker).
After 10 s the broker is stopped for ``--seconds``, then started again; once the outbox
has drained the service stops. A persistent-session subscriber must have received every event id.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import parse_config  # noqa: E402
from edge.device.outbox import Outbox  # noqa: E402
from edge.device.publisher import Publisher  # noqa: E402
from edge.device.service import Service  # noqa: E402
from tests.broker import Mosquitto  # noqa: E402
from tests.fake_device import SlipEveryNth, TickSource  # noqa: E402
from tests.test_service import PersistentSubscriber  # noqa: E402


def main() -> int:
    """Run the outage and report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=10.0, help="events per second")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="microslip-outage-") as tmp:
        broker = Mosquitto(Path(tmp), persistence=True).start()
        cfg = parse_config(
            {
                "device": {"id": "bench"},
                "camera": {"source": "synthetic", "fps": 30},
                "mqtt": {"host": "127.0.0.1", "port": broker.port, "discovery": False},
                "state": {"dir": tmp},
            },  # fmt: skip
            env={},
        )
        sub = PersistentSubscriber(broker.port, "microslip/bench/events")
        proc = SlipEveryNth(10**9, max(1, round(30 / args.rate)))
        box = Outbox(Path(tmp) / "outbox.db")
        pub = Publisher(cfg, box)
        svc = Service(cfg, proc, lambda: TickSource(30, 10**9), box, pub)
        pub.start()
        runner = threading.Thread(target=svc.run)
        runner.start()
        time.sleep(10)
        broker.stop()
        before = len(proc.emitted)
        print(f"broker down after {before} events", flush=True)
        time.sleep(args.seconds)
        during = len(proc.emitted) - before
        print(f"{during} events stored during the outage, outbox depth {box.depth}", flush=True)
        broker.start()
        t_back = time.monotonic()
        # The device retries with backoff (up to 30 s between attempts): wait for the drain.
        while (box.depth or not pub.connected.is_set()) and time.monotonic() - t_back < 120:
            time.sleep(0.1)
        print(
            f"reconnected and drained {time.monotonic() - t_back:.1f} s after the broker came back"
        )
        svc.stop()
        runner.join(60)
        box.close()
        sub.wait_count(len(proc.emitted), timeout=30)
        missing = {e.id for e in proc.emitted} - sub.ids
        sub.close()
        broker.stop()
    print(
        f"{len(proc.emitted)} events emitted, {len(sub.ids)} distinct received, "
        f"{len(missing)} missing; {svc.dropped_frames} frames dropped"
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
