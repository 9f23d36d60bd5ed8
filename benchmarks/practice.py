"""Practice trainer cost: round build time, page smoothness, the camera loop during practice.

Run by hand (not part of the test suite), pinned to one core as the target says:

    taskset -c 1 nice .venv/bin/python benchmarks/practice.py [--rounds 500] [--frames 1200]
        [--loop-rounds 5] [--browser 60]

1. Round build: ``GET /api/practice/next`` handled end to end in the API (coach, deck,
   motion, JSON) for the built-in and the device deck, plus ``POST answer``; median, p99, max.
   Target: a round ready in <= 50 ms on one core.
2. Camera loop side by side (as benchmarks/web.py does for the live page): the real
   pipeline on single_face.mp4 (decoded once, looped, interleaved rounds) with (a) no web,
   (b) the live page open (an SSE reader), (c) the server with the practice page idle,
   (d) a player taking a round every 3 s over HTTP (next + answer: a quick person's pace)
   and (e) four rounds a second (stress), in the same process as on the device. Median and
   p90 per frame.
3. ``--browser SECONDS``: headless chromium plays rounds with the keyboard for that long;
   animation frame gaps (median, p99, max). Target p99 <= 50 ms on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.device.web.server import LiveHub, WebServer  # noqa: E402
from edge.practice import PracticeAPI, Store  # noqa: E402


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1)))]


def _line(name: str, ts: list[float]) -> str:
    ms = [1000 * t for t in ts]
    return (f"  {name:34s} median {statistics.median(ms):6.2f} ms  p99 {_pct(ms, 0.99):6.2f} ms"
            f"  max {max(ms):6.2f} ms")  # fmt: skip


def _fill_library(store: Store, n: int) -> None:
    """n device slips with real recorded motion shapes (from built-in rounds' slips)."""
    import numpy as np

    from edge.events.motion import Motion
    from edge.practice.deck import build_builtin
    from tests.broker import make_event

    rng = np.random.default_rng(0)
    for i in range(n):
        ev = make_event(i, "bench")
        rnd = build_builtin(rng, ev.emotion, (150, 450), False)
        m = Motion.from_dict(rnd.motion)
        keep = [k for k, t in enumerate(m.t_ms) if rnd.onset_ms <= t <= rnd.offset_ms]
        pick = keep[:: max(1, len(keep) // 14)][:15]
        t0 = m.t_ms[pick[0]]
        motion = Motion(tuple(m.t_ms[k] - t0 for k in pick), m.points[pick])
        store.save_slip(dataclasses.replace(ev, motion=motion), 1000, 3600)


def round_build(n: int) -> None:
    """Time next (and answer) through the API object: what a request costs the server."""
    print(f"round build, {n} rounds per deck, CPU affinity {sorted(os.sched_getaffinity(0))}:")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "practice.db")
        _fill_library(store, 200)
        from edge.practice.faces import face_fields

        face_fields.cache_clear()
        t = time.perf_counter()
        api = PracticeAPI(store, seed=1)
        print(
            f"  start-up (AU fields for every face shape) {1000 * (time.perf_counter() - t):.1f} ms"
        )
        for deck in ("builtin", "device"):
            nxt, ans, size = [], [], []
            for i in range(n):
                t = time.perf_counter()
                r = api.handle("GET", "/api/practice/next", f"deck={deck}&person=p{i % 3}", None)
                nxt.append(time.perf_counter() - t)
                assert r is not None and r.status == 200, r
                size.append(len(r.body))
                rid = json.loads(r.body)["id"]
                right = i % 4 != 0
                answer = api.truth_of(rid) if right else "none"
                body = json.dumps({"id": rid, "answer": answer, "person": f"p{i % 3}"}).encode()
                t = time.perf_counter()
                a = api.handle("POST", "/api/practice/answer", "", body)
                ans.append(time.perf_counter() - t)
                assert a is not None and a.status == 200, a
            print(_line(f"{deck}: next (round ready, JSON)", nxt))
            print(_line(f"{deck}: answer (scored, stored)", ans))
            print(f"  {deck}: round JSON {statistics.median(size) / 1e3:.0f} kB median")
        server = WebServer(LiveHub(), port=0, practice=api)
        server.start()
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        http_t = []
        for _ in range(min(n, 200)):
            t = time.perf_counter()
            conn.request("GET", "/api/practice/next?person=http")
            conn.getresponse().read()
            http_t.append(time.perf_counter() - t)
        conn.close()
        server.stop()
        print(_line("builtin: next over HTTP (localhost)", http_t))
        store.close()


class _Player(threading.Thread):
    """Takes a round every `period` s over HTTP, answering right three times in four."""

    def __init__(self, port: int, api: PracticeAPI, period: float) -> None:
        super().__init__(daemon=True)
        self.port, self.api, self.period = port, api, period
        self.stop = threading.Event()
        self.rounds = 0
        self.start()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            conn.request("GET", "/api/practice/next?person=player")
            rid = json.loads(conn.getresponse().read())["id"]
            ans = self.api.truth_of(rid) if self.rounds % 4 else "none"
            body = json.dumps({"id": rid, "answer": ans, "person": "player"})
            conn.request("POST", "/api/practice/answer", body=body)
            conn.getresponse().read()
            self.rounds += 1
            self.stop.wait(self.period)
        conn.close()


class _Page:
    """A live page: an open SSE stream read by a thread (what benchmarks/web.py compares)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/stream")
        self.resp = self.conn.getresponse()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while self.resp.read1(65536):
                pass
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        self.resp.close()
        self.conn.close()


def loop_cost(frames_n: int, rounds: int) -> None:
    """Median per-frame pipeline time with no web / practice idle / someone practising."""
    from edge.pipeline import Pipeline
    from edge.runtime.downloads import pyfeat_data_dir
    from edge.sources import open_source

    with open_source(pyfeat_data_dir() / "single_face.mp4") as src:
        clip = list(src)
    # The clip is short: loop it with timestamps running on, as a camera's would.
    span = clip[-1].t_ns - clip[0].t_ns + (clip[1].t_ns - clip[0].t_ns)
    frames = [
        dataclasses.replace(f, index=k, t_ns=f.t_ns + (k // len(clip)) * span)
        for k, f in ((k, clip[k % len(clip)]) for k in range(frames_n))
    ]
    pipe = Pipeline(device_id="bench", include_motion=True)
    for f in frames[:20]:
        pipe.process(f)
    modes = ("no web", "live page open", "practice page idle", "a round every 3 s",
             "4 rounds/s (stress)")  # fmt: skip
    times: dict[str, list[float]] = {m: [] for m in modes}
    played = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for mode in modes:
                server = api = player = page = None
                if mode != "no web":
                    api = PracticeAPI(Store(Path(tmp) / "practice.db"))
                    server = WebServer(LiveHub(), port=0, practice=api)
                    server.start()
                    if mode.startswith("a round"):
                        player = _Player(server.port, api, 3.0)
                    if mode.startswith("4 rounds"):
                        player = _Player(server.port, api, 0.25)
                    if mode.startswith("live"):
                        page = _Page(server.port)
                for f in frames:
                    t = time.perf_counter()
                    pipe.process(f)
                    times[mode].append(time.perf_counter() - t)
                if page is not None:
                    page.close()
                if player is not None:
                    player.stop.set()
                    player.join()
                    played += player.rounds
                if server is not None and api is not None:
                    server.stop()
                    api.store.close()
    print(f"camera loop, {len(frames)} frames x {rounds} interleaved rounds ({played} practice "
          f"rounds played meanwhile):")  # fmt: skip
    for mode, ts in times.items():
        print(f"  {mode:24s} median {1000 * statistics.median(ts):7.3f} ms  p90 "
              f"{1000 * _pct(ts, 0.9):7.3f} ms")  # fmt: skip


def browser(seconds: float) -> None:
    """Headless chromium plays rounds by keyboard; animation frame gaps while it does."""
    from tests.test_practice_browser import KEY, Keyboard
    from tests.webdriver import find_browser

    found = find_browser()
    if found is None:
        print("browser: chromium/chromedriver not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        api = PracticeAPI(Store(Path(tmp) / "practice.db"), seed=2)
        server = WebServer(LiveHub(), port=0, practice=api)
        server.start()
        b = Keyboard(*found, log_path=Path(tmp) / "chromedriver.log")
        try:
            b.get(f"{server.url}practice?person=bench")
            b.wait("return document.body.dataset.phase === 'ready'")
            b.run("window.__gaps = []; let last = performance.now();"
                  "const tick = (t) => { window.__gaps.push(t - last); last = t;"
                  " requestAnimationFrame(tick); }; requestAnimationFrame(tick);")  # fmt: skip
            end, played, last = time.monotonic() + seconds, 0, ""
            b.press("\ue007")
            while time.monotonic() < end:
                rid = b.wait("const d = document.body.dataset; return d.phase === 'ask'"
                             f" && d.roundId !== {last!r} && d.roundId;", timeout=60)  # fmt: skip
                last = rid
                b.press(KEY[api.truth_of(rid) or "none"])
                b.wait("return document.body.dataset.phase === 'feedback'")
                time.sleep(1.0)  # watch the slow replay for a moment
                b.press("\ue007")
                played += 1
            gaps: list[float] = sorted(b.run("return window.__gaps.slice(5)"))
            print(f"browser, {seconds:.0f} s, {played} rounds played to the end by keyboard:")
            print(f"  animation frame gap: median {statistics.median(gaps):.1f} ms, "
                  f"p99 {_pct(gaps, 0.99):.1f} ms, max {gaps[-1]:.1f} ms")  # fmt: skip
        finally:
            b.close()
            server.stop()
            api.store.close()


def main() -> None:
    """Parse arguments and run the measurements."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=500)
    ap.add_argument("--frames", type=int, default=1200)
    ap.add_argument("--loop-rounds", type=int, default=5)
    ap.add_argument("--browser", type=float, default=0.0, metavar="SECONDS")
    ap.add_argument("--only", choices=("build", "loop", "browser"))
    args = ap.parse_args()
    if args.only in (None, "build"):
        round_build(args.rounds)
    if args.only in (None, "loop"):
        loop_cost(args.frames, args.loop_rounds)
    if args.browser > 0 and args.only in (None, "browser"):
        browser(args.browser)


if __name__ == "__main__":
    main()
