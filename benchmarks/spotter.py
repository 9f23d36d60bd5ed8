"""Micro-event model, features and spotter timing on one core (run by hand, not in CI).

    .venv/bin/python benchmarks/spotter.py [--core 0] [--runtime litert|tflite] [--model M]

Prints the median and p99 of: one int8 model window (set input, invoke, read outputs); the
features of one face (pose normalisation, AU proxies, baseline) on real landmarks; one
spotter push at 30 fps and at 120 fps input (resampling, scoring, segmentation). Target:
<= 0.2 ms per model window. Numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.brain.features import FEATURE_NAMES, FRAME_NAMES, FeatureExtractor  # noqa: E402
from edge.brain.spotting import Spotter, default_model_path  # noqa: E402
from edge.runtime.interpreter import Interpreter  # noqa: E402
from edge.types import AUFrame, Face, FaceFrame  # noqa: E402
from training.generator import GenConfig, generate  # noqa: E402


def stats(name: str, seconds: list[float]) -> None:
    """Print median and p99 in milliseconds."""
    ms = np.array(seconds) * 1e3
    print(f"{name:<34} median {np.median(ms):.4f} ms   p99 {np.percentile(ms, 99):.4f} ms")


def main() -> None:
    """Run the three timings."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--runtime", default=None)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--model", type=Path, default=None, help="a .tflite (default: packaged)")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})

    interp = Interpreter(args.model or default_model_path(), runtime=args.runtime, num_threads=1)
    rng = np.random.default_rng(0)
    win = rng.normal(0, 0.3, (1, 32, len(FRAME_NAMES))).astype(np.float32)  # AUs + flow
    times = []
    for _ in range(args.n):
        t0 = time.perf_counter()
        interp.set_input(win)
        interp.invoke()
        interp.output_float(0)
        interp.output_float(1)
        times.append(time.perf_counter() - t0)
    stats(f"model window ({interp.runtime})", times[100:])

    d = np.load(REPO / "training" / "data" / "WolfgangLanger_Pexels.npz")
    fx = FeatureExtractor()
    times = []
    for i in np.flatnonzero(d["present"]):
        ff = FaceFrame(int(i), int(d["t_ns"][i]), (Face(1, (0, 0, 1, 1), d["landmarks"][i], 1.0),))
        t0 = time.perf_counter()
        fx.update(ff)
        times.append(time.perf_counter() - t0)
    stats("features per face", times)

    for fps in (30.0, 120.0):
        cfg = GenConfig(fps_choices=(fps,), duration_s=(20.0, 20.0))
        seq = generate(np.random.default_rng(1), cfg)
        assert seq.native_t is not None and seq.native_x is not None
        sp = Spotter("bench", args.model, runtime=args.runtime)
        times = []
        for t, x in zip(seq.native_t, seq.native_x, strict=True):
            f = AUFrame(int(t), 1, x, FEATURE_NAMES)
            t0 = time.perf_counter()
            sp.push(f)
            times.append(time.perf_counter() - t0)
        stats(f"spotter push at {fps:.0f} fps input", times)


if __name__ == "__main__":
    main()
