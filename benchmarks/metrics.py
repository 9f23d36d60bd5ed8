"""Cost of Prometheus ``/metrics``: one scrape, and the camera loop with and without it.

Run by hand (not part of the test suite):

    nice .venv/bin/python benchmarks/metrics.py [--passes 12] [--rounds 3] [--scrape-hz 10]

The whole process is pinned to one CPU core, so the HTTP thread answering a scrape competes
with the camera loop for that core: the worst case (a Pi has four).

1. Scrape cost, after a real pipeline run has filled every family: the registry render
   (``generate_latest``) and a whole ``GET /metrics`` over loopback (client included),
   median and p99. Target: <= 5 ms.
2. The camera loop side by side: the service with the real pipeline on single_face.mp4,
   lossless (every frame processed, as fast as the core allows), metrics off and on in
   alternation, a scraper hitting ``/metrics`` ``--scrape-hz`` times a second while on
   (Prometheus's default is once per 15 s). Per-frame processing time and frames per wall
   second. Target: the difference within the spread between rounds.
3. ``LoopMetrics.observe`` alone, with the real stage names: what the loop pays per frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import generate_latest  # noqa: E402

from benchmarks.service import clip_opener  # noqa: E402
from edge.config import parse_config  # noqa: E402
from edge.device.metrics import (  # noqa: E402
    DeviceCollector,
    LoopMetrics,
    MetricsServer,
    build_info,
    make_registry,
)
from edge.device.outbox import Outbox  # noqa: E402
from edge.device.service import Service  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.runtime.downloads import pyfeat_data_dir  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank."""
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def run_service(clip: Path, passes: int, scrape_hz: float, tmp: Path) -> dict[str, Any]:
    """One lossless run of the real pipeline over ``passes`` loops of ``clip``."""
    cfg = parse_config(
        {
            "device": {"id": "bench"},
            "camera": {"source": str(clip), "loop": True},
            "state": {"dir": str(tmp)},
            "metrics": {"enabled": scrape_hz > 0, "port": 0},
        },  # fmt: skip
        env={},
    )
    opener = clip_opener(cfg, passes, lambda: svc.stop())

    with Outbox(tmp / f"o{time.monotonic_ns()}.db") as box:
        svc = Service(cfg, Pipeline(device_id="bench"), opener, box, None, realtime=False)
        server = scraper = None
        stop = threading.Event()
        scrapes: list[float] = []
        if scrape_hz > 0:
            loop = LoopMetrics()
            svc.metrics = loop
            svc.add_listener(loop)
            collector = DeviceCollector(loop, svc, None, build_info(cfg))
            server = MetricsServer(make_registry(collector), "127.0.0.1", 0)
            assert server.start()
            url = f"http://127.0.0.1:{server.port}/metrics"

            def scrape_loop() -> None:
                while not stop.wait(1.0 / scrape_hz):
                    t = time.perf_counter()
                    with urllib.request.urlopen(url, timeout=5) as resp:
                        resp.read()
                    scrapes.append(time.perf_counter() - t)

            scraper = threading.Thread(target=scrape_loop, daemon=True)
            scraper.start()
        t0, c0 = time.perf_counter(), time.process_time()
        svc.run()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        stop.set()
        if scraper is not None:
            scraper.join()
        result = {
            "frames": svc.frames,
            "process_ms": 1000.0 * svc.process_s_total / max(svc.frames, 1),
            "fps": svc.frames / wall,
            "cpu_ms": 1000.0 * cpu / max(svc.frames, 1),  # whole process, scraper included
            "scrapes": len(scrapes),
            "svc": svc,
            "server": server,
        }
        if server is not None:
            server.stop()
    return result


def scrape_cost(svc: Service, n: int) -> None:
    """Render and GET cost with the families of a real run."""
    loop = svc.metrics
    assert loop is not None
    collector = DeviceCollector(loop, svc, None, build_info(svc.cfg))
    registry = make_registry(collector)
    body = generate_latest(registry)
    renders = []
    for _ in range(n):
        t = time.perf_counter()
        generate_latest(registry)
        renders.append(1000.0 * (time.perf_counter() - t))
    server = MetricsServer(registry, "127.0.0.1", 0)
    assert server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    gets = []
    c0 = time.process_time()
    try:
        for _ in range(n):
            t = time.perf_counter()
            with urllib.request.urlopen(url, timeout=5) as resp:
                resp.read()
            gets.append(1000.0 * (time.perf_counter() - t))
    finally:
        cpu_per_get = 1000.0 * (time.process_time() - c0) / n
        server.stop()
    c0 = time.thread_time()
    for _ in range(n):
        generate_latest(registry)
    cpu_per_render = 1000.0 * (time.thread_time() - c0) / n
    families = sum(1 for line in body.decode().splitlines() if line.startswith("# TYPE"))
    samples = sum(1 for line in body.decode().splitlines() if not line.startswith("#"))
    print(f"scrape ({families} families, {samples} samples, {len(body)} bytes), {n} each:")
    print(f"  render  median {statistics.median(renders):.2f} ms  p99 {pct(renders, 0.99):.2f} ms")
    print(f"  GET     median {statistics.median(gets):.2f} ms  p99 {pct(gets, 0.99):.2f} ms")
    # CPU time, not wall: what a scrape takes from the core, whatever else the machine runs
    print(f"  CPU per render {cpu_per_render:.2f} ms; per GET, server and client "
          f"{cpu_per_get:.2f} ms")  # fmt: skip


def observe_cost(svc: Service, n: int) -> None:
    """ns per LoopMetrics.observe with the stage names and times of the real pipeline."""
    stages = {name: 0.001 for name in (svc.metrics.stages if svc.metrics else {})}
    loop = LoopMetrics()
    t = time.perf_counter()
    for _ in range(n):
        loop.observe(0.004, stages)
    per = (time.perf_counter() - t) / n
    print(f"LoopMetrics.observe ({len(stages)} stages): {per * 1e9:.0f} ns per frame")


def main() -> int:
    """Run the three measurements."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=12, help="loops of the 72-frame clip per run")
    ap.add_argument("--rounds", type=int, default=3, help="off/on pairs")
    ap.add_argument("--scrape-hz", type=float, default=10.0, help="scrapes per second when on")
    ap.add_argument("--n", type=int, default=300, help="scrapes timed in part 1")
    args = ap.parse_args()
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    print(f"pinned to core {core}")
    clip = pyfeat_data_dir() / "single_face.mp4"
    rows: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="microslip-metrics-") as tmp:
        run_service(clip, 2, 0, Path(tmp))  # warm-up: model load, caches
        for _ in range(args.rounds):
            for mode, hz in (("off", 0.0), ("on", args.scrape_hz)):
                r = run_service(clip, args.passes, hz, Path(tmp))
                rows[mode].append(r)
                print(f"  metrics {mode:3s}: {r['frames']} frames, {r['process_ms']:.3f} ms/frame"
                      f", {r['fps']:.1f} frames/s, CPU {r['cpu_ms']:.3f} ms/frame, "
                      f"{r['scrapes']} scrapes")  # fmt: skip
        for mode in ("off", "on"):
            ms = [r["process_ms"] for r in rows[mode]]
            fps = [r["fps"] for r in rows[mode]]
            cpu = [r["cpu_ms"] for r in rows[mode]]
            print(f"metrics {mode:3s}: process {statistics.median(ms):.3f} ms/frame "
                  f"(range {min(ms):.3f}-{max(ms):.3f}), {statistics.median(fps):.1f} frames/s "
                  f"(range {min(fps):.1f}-{max(fps):.1f}), CPU {statistics.median(cpu):.3f} "
                  f"ms/frame (range {min(cpu):.3f}-{max(cpu):.3f})")  # fmt: skip
        svc = rows["on"][-1]["svc"]
        scrape_cost(svc, args.n)
        observe_cost(svc, 100_000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
