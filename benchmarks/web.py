"""Live page cost: camera loop with and without the web server, slips at 10/s, memory.

Run by hand (not part of the test suite):

    nice .venv/bin/python benchmarks/web.py [--frames 300] [--rounds 5] [--hours 1] [--browser 60]

1. Camera-loop cost, side by side: the real pipeline on single_face.mp4 (frames decoded once,
   then processed in interleaved rounds) with (a) no web, (b) the web server started with no
   page connected, (c) one page connected to the SSE stream while slips arrive at 10/s.
   Reports the median per-frame processing time of each and the cost of one
   ``LiveHub.publish_event`` call with 0 and 1 pages open.
2. Memory: ``--hours`` of slips at 10/s (36,000 per hour, carrying motion) pushed through a
   hub with one SSE reader; RSS and tracemalloc before/after must stay flat (bounded queues).
3. ``--browser SECONDS``: headless chromium keeps the page open while slips arrive at 10/s;
   reports rows in the table, JS heap before/after and the longest gap between animation
   frames (page responsiveness).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.device.sysinfo import rss_mb  # noqa: E402
from edge.device.web.server import LiveHub, WebServer  # noqa: E402
from edge.pipeline import Pipeline  # noqa: E402
from edge.runtime.downloads import pyfeat_data_dir  # noqa: E402
from edge.sources import open_source  # noqa: E402
from edge.types import Frame  # noqa: E402
from tests.web_support import make_slip  # noqa: E402


def _slip_with_motion() -> Any:
    """A real slip with motion from the clip (so payloads have realistic size)."""
    events: list[Any] = []
    with open_source(pyfeat_data_dir() / "single_face.mp4") as src:
        pipe = Pipeline(device_id="bench", include_motion=True)
        for frame in src:
            events += pipe.process(frame).events
        events += pipe.finish()
    return next(e for e in events if e.motion is not None)


class _Reader(threading.Thread):
    """One page: reads the SSE stream and counts bytes until closed."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/stream")
        self.resp = self.conn.getresponse()
        self.bytes = 0
        self.start()

    def run(self) -> None:
        try:
            while chunk := self.resp.read1(65536):
                self.bytes += len(chunk)
        except OSError:
            pass

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


class _Feeder(threading.Thread):
    """Publishes a slip every 100 ms (10 slips/s) until stopped."""

    def __init__(self, hub: LiveHub, template: Any) -> None:
        super().__init__(daemon=True)
        self.hub, self.template, self.stop = hub, template, threading.Event()
        self.start()

    def run(self) -> None:
        import dataclasses

        n = 0
        while not self.stop.wait(0.1):
            self.hub.publish_event(dataclasses.replace(self.template, id=f"bench-{n}"))
            n += 1


def loop_cost(frames_n: int, rounds: int, slip: Any) -> None:
    """Median per-frame processing time with no web / idle server / page + 10 slips/s."""
    with open_source(pyfeat_data_dir() / "single_face.mp4") as src:
        frames: list[Frame] = [f for _, f in zip(range(frames_n), src, strict=False)]
    pipe = Pipeline(device_id="bench", include_motion=True)
    for f in frames[:20]:
        pipe.process(f)  # warm up models and caches
    times: dict[str, list[float]] = {"no web": [], "server, no page": [], "page + 10 slips/s": []}
    for _ in range(rounds):
        for mode in times:
            hub = LiveHub()
            server = WebServer(hub, port=0) if mode != "no web" else None
            reader = feeder = None
            if server is not None:
                server.start()
                if mode.startswith("page"):
                    reader = _Reader(server.port)
                    feeder = _Feeder(hub, slip)
            for f in frames:
                t = time.perf_counter()
                result = pipe.process(f)
                for ev in result.events:
                    hub.on_event(ev)  # what the service's listener call does
                times[mode].append(time.perf_counter() - t)
            if feeder is not None:
                feeder.stop.set()
                feeder.join()
            if reader is not None:
                reader.close()
            if server is not None:
                server.stop()
    print(f"camera loop, {len(frames)} frames x {rounds} interleaved rounds (median per frame):")
    for mode, ts in times.items():
        print(f"  {mode:20s} {1000 * statistics.median(ts):7.3f} ms  p90 "
              f"{1000 * statistics.quantiles(ts, n=10)[-1]:7.3f} ms")  # fmt: skip

    for pages in (0, 1):
        hub = LiveHub()
        server = WebServer(hub, port=0)
        server.start()
        readers = [_Reader(server.port) for _ in range(pages)]
        time.sleep(0.2)
        n = 20000
        batch = [slip if i % 2 else make_slip(i) for i in range(n)]  # built outside the timing
        t = time.perf_counter()
        for ev in batch:
            hub.publish_event(ev)
        dt = (time.perf_counter() - t) / n
        print(f"  publish_event with {pages} page(s): {1e6 * dt:.2f} us per slip")
        for r in readers:
            r.close()
        server.stop()


def memory(hours: float, slip: Any) -> None:
    """Slips for `hours` at 10/s through a hub with one reading page: memory must stay flat.

    Slips go in one-minute batches (600) as fast as possible, then the page is given time to
    drain, so an hour takes a minute or two. RSS and the live Python object count are taken
    every quarter; tracemalloc is not used because it slows the page thread so much that
    in-flight data would look like growth.
    """
    import dataclasses
    import gc

    hub = LiveHub()
    server = WebServer(hub, port=0)
    server.start()
    reader = _Reader(server.port)
    time.sleep(0.2)
    minutes = int(hours * 60)
    print(f"memory, {minutes * 600} slips ({hours} h at 10/s) with one page reading:")
    n = 0
    for minute in range(minutes + 1):
        if minute % 15 == 0:
            gc.collect()
            print(f"  after {n:6d} slips: RSS {rss_mb():7.1f} MB, live objects "
                  f"{len(gc.get_objects()):7d}, streamed {reader.bytes / 1e6:6.1f} MB")  # fmt: skip
        if minute == minutes:
            break
        for _ in range(600):
            hub.publish_event(dataclasses.replace(slip, id=f"m-{n}"))
            n += 1
        before = -1
        while reader.bytes != before:  # drained when the page stops receiving
            before = reader.bytes
            time.sleep(0.1)
    reader.close()
    server.stop()


def browser(seconds: float, slip: Any) -> None:
    """Headless chromium on the page while slips arrive at 10/s: rows, JS heap, frame gaps."""
    from tests.webdriver import Browser, find_browser

    found = find_browser()
    if found is None:
        print("browser: chromium/chromedriver not installed")
        return
    hub = LiveHub()
    server = WebServer(hub, port=0)
    server.start()
    b = Browser(*found, log_path=Path("/tmp/microslip-bench-chromedriver.log"))
    try:
        b.get(server.url)
        b.run(
            "window.__gaps = []; let last = performance.now();"
            "const tick = (t) => { window.__gaps.push(t - last); last = t;"
            " requestAnimationFrame(tick); }; requestAnimationFrame(tick);"
        )
        heap0 = b.run("return performance.memory ? performance.memory.usedJSHeapSize : 0")
        feeder = _Feeder(hub, slip)
        time.sleep(seconds)
        feeder.stop.set()
        feeder.join()
        time.sleep(0.5)
        rows = b.run("return document.querySelectorAll('#slips tbody tr').length")
        heap1 = b.run("return performance.memory ? performance.memory.usedJSHeapSize : 0")
        gaps = b.run("return window.__gaps.slice(5)")
        gaps.sort()
        print(f"browser, {seconds:.0f} s at 10 slips/s ({hub.events_seen} slips):")
        print(f"  table rows {rows} (cap 100); JS heap {heap0 / 1e6:.1f} -> {heap1 / 1e6:.1f} MB")
        print(f"  animation frame gap: median {statistics.median(gaps):.1f} ms, "
              f"p99 {gaps[int(0.99 * (len(gaps) - 1))]:.1f} ms, max {gaps[-1]:.1f} ms")  # fmt: skip
    finally:
        b.close()
        server.stop()


def main() -> None:
    """Parse arguments and run the selected measurements."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--browser", type=float, default=0.0, metavar="SECONDS")
    args = ap.parse_args()
    slip = _slip_with_motion()
    loop_cost(args.frames, args.rounds, slip)
    memory(args.hours, slip)
    if args.browser > 0:
        browser(args.browser, slip)


if __name__ == "__main__":
    main()
