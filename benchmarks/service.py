"""Service cost: idle (no face) vs busy per-frame cost, RSS, and memory over a long replay.

Run by hand (not part of the test suite):

    nice .venv/bin/python benchmarks/service.py [--minutes 3]

1. Per-frame processing time of the real pipeline on no_face.mp4 (idle) and on
   single_face.mp4 (busy), after a warm-up; target: idle <= 20 % of busy.
2. The whole service (real pipeline, outbox, publisher to a local mosquitto) replaying
   WolfgangLanger_Pexels.mp4 in a loop at full speed (lossless, no pacing) for
   ``--minutes``, printing RSS from each stats message; target: RSS <= 200 MB and no growth
   (the slope over the second half of the run is printed in MB per hour of stream).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.config import parse_config  # noqa: E402
from edge.device.outbox import Outbox  # noqa: E402
from edge.device.publisher import Publisher  # noqa: E402
from edge.device.service import Service  # noqa: E402
from edge.device.stats import Stats
from edge.device.wiring import source_opener  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.runtime.downloads import pyfeat_data_dir  # noqa: E402
from tests.broker import Mosquitto  # noqa: E402


def clip_opener(cfg: Any, passes: int, on_done: Callable[[], None]) -> Callable[[], Any]:
    """Opens the configured clip for each of ``passes`` loops, then calls ``on_done``."""
    opened = [0]
    open_clip = source_opener(cfg)

    def opener() -> Any:
        opened[0] += 1
        if opened[0] > passes:
            on_done()
        return open_clip()

    return opener


def cost_per_frame_ms(clip: Path, passes: int) -> tuple[float, int, int]:
    """Processing time per delivered frame of the service over ``passes`` loops of a clip."""
    cfg = parse_config(
        {
            "device": {"id": "bench"},
            "camera": {"source": str(clip), "loop": True},
            "state": {"dir": "/tmp"},
        },  # fmt: skip
        env={},
    )
    opener = clip_opener(cfg, passes, lambda: svc.stop())

    with tempfile.TemporaryDirectory() as tmp, Outbox(Path(tmp) / "o.db") as box:
        svc = Service(cfg, Pipeline(device_id="bench"), opener, box, None, realtime=False)
        svc.run()
    return 1000.0 * svc.process_s_total / max(svc.captured, 1), svc.captured, svc.idle_skipped


class RssLog:
    """ServiceListener keeping (stream seconds, RSS MB) from every stats message."""

    def __init__(self, fps: float) -> None:
        self.samples: list[tuple[float, float, int]] = []
        self.fps = fps

    def on_event(self, event: Any) -> None:
        pass

    def on_stats(self, stats: Stats) -> None:
        stream_s = stats.frames / self.fps
        self.samples.append((stream_s, float(stats.rss_mb), int(stats.slips_total)))
        print(f"  stream {stream_s / 60:6.1f} min  rss {stats.rss_mb:6.1f} MB  "
              f"fps {stats.fps:6.1f}  slips {stats.slips_total}", flush=True)  # fmt: skip


def main() -> int:
    """Run both measurements."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="wall minutes of replay")
    ap.add_argument("--cost-only", action="store_true", help="skip the long replay")
    args = ap.parse_args()
    data = pyfeat_data_dir()
    if not args.cost_only:
        replay_memory(data / "WolfgangLanger_Pexels.mp4", args.minutes)
    # Cost last, so that the RSS above is the service's alone.
    idle, n_idle, skipped = cost_per_frame_ms(data / "no_face.mp4", passes=8)
    busy, n_busy, _ = cost_per_frame_ms(data / "single_face.mp4", passes=8)
    print(
        f"per delivered frame: idle {idle:.2f} ms ({n_idle} frames, {skipped} skipped by the "
        f"duty cycle), busy {busy:.2f} ms ({n_busy} frames): idle = {100 * idle / busy:.0f} %"
    )
    return 0


def replay_memory(clip: Path, minutes: float) -> None:
    """The whole service over a looped clip at full speed; RSS from every stats message."""
    with tempfile.TemporaryDirectory(prefix="microslip-svc-") as tmp:
        broker = Mosquitto(Path(tmp)).start()
        cfg = parse_config(
            {
                "device": {"id": "bench"},
                "camera": {"source": str(clip), "loop": True},
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "stats_interval": 15,
                    "discovery": False,
                },
                "state": {"dir": tmp},
            },  # fmt: skip
            env={},
        )
        log = RssLog(23.976)
        outbox = Outbox(Path(tmp) / "outbox.db")
        publisher = Publisher(cfg, outbox)
        svc = Service(cfg, Pipeline(device_id="bench"), source_opener(cfg), outbox, publisher,
                      realtime=False)  # fmt: skip
        svc.add_listener(log)
        timer = threading.Timer(minutes * 60, svc.stop)
        timer.start()
        publisher.start()
        try:
            svc.run()
        finally:
            timer.cancel()
            outbox.close()
            broker.stop()
    half = [s for s in log.samples if s[0] >= log.samples[-1][0] / 2] if log.samples else []
    if len(half) >= 2:
        (t0, r0, _), (t1, r1, _) = half[0], half[-1]
        slope = (r1 - r0) / max(t1 - t0, 1e-9) * 3600
        print(f"replayed {svc.frames} frames ({svc.frames / 23.976 / 60:.1f} min of stream), "
              f"{svc.slips} slips; peak rss {max(s[1] for s in log.samples):.1f} MB; "
              f"second-half slope {slope:+.1f} MB per stream hour")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
