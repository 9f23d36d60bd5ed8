"""Cost of the appearance channel per frame, on a real clip and one pinned core.

    .venv/bin/python benchmarks/appearance.py [--clip single_face.mp4] [--core 1] [--repeat 3]

Decodes the clip and tracks its faces once (not timed), then - pinned to one core with
os.sched_setaffinity - times, per face: the quality check and similarity fit (``assess``), the
aligned 64x64 crop (``cv2.warpAffine`` + grey) and the classifier invoke; and the whole
``AppearanceStage.observe`` per frame at its default 15 Hz and at every frame. The issue's
target is <= 0.3 ms per frame on average on one x86 core. Run by hand; numbers depend on the
machine and its load.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from edge.brain.appearance import (
    RATE_HZ,
    AppearanceModel,
    AppearanceStage,
    aligned_crop,
    assess,
)
from edge.face.tracker import FaceTracker
from edge.runtime.downloads import pyfeat_data_dir
from edge.sources.video import VideoFileSource
from edge.types import FaceFrame, Frame


def ms(values: list[float], cpu: list[float] | None = None) -> str:
    """Mean / median / p99 wall milliseconds (and mean CPU ms: robust to a busy machine)."""
    a = np.asarray(values) * 1e3
    out = f"mean {a.mean():.3f}  median {np.median(a):.3f}  p99 {np.percentile(a, 99):.3f} ms"
    if cpu is not None:
        out += f"  (cpu mean {np.mean(cpu) * 1e3:.3f} ms)"
    return out


def main() -> None:
    """Track once, then time the appearance parts and the stage."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", default="single_face.mp4")
    ap.add_argument("--core", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tracker = FaceTracker(mesh="468")
    pairs: list[tuple[Frame, FaceFrame]] = []
    with VideoFileSource(pyfeat_data_dir() / args.clip) as src:
        for frame in src:
            pairs.append((frame, tracker.process(frame)))
    os.sched_setaffinity(0, {args.core})
    model = AppearanceModel()
    faces = [(fr, f) for fr, ff in pairs for f in ff.faces]
    t_assess, t_crop, t_model = [], [], []
    for _ in range(args.repeat):
        for fr, face in faces:
            h, w = fr.image.shape[:2]
            t0 = time.perf_counter()
            quality, m = assess(face.landmarks, face.presence, w, h)
            t1 = time.perf_counter()
            crop = aligned_crop(fr.image, m)
            t2 = time.perf_counter()
            model.probs(crop)
            t3 = time.perf_counter()
            t_assess.append(t1 - t0)
            t_crop.append(t2 - t1)
            t_model.append(t3 - t2)
    print(f"{args.clip}: {len(pairs)} frames, {len(faces)} faces, core {args.core}")
    print(f"  assess (quality + similarity)  {ms(t_assess)}")
    print(f"  aligned crop (warpAffine+grey) {ms(t_crop)}")
    print(f"  classifier invoke              {ms(t_model)}")
    for rate in (RATE_HZ, 1e6):
        per_frame: list[float] = []
        cpu: list[float] = []
        for _ in range(args.repeat):
            stage = AppearanceStage(model, rate_hz=rate)
            for fr, ff in pairs:
                c0, t0 = time.process_time(), time.perf_counter()
                stage.observe(fr, ff)
                per_frame.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        label = "every frame" if rate > 1e3 else f"{rate:.0f} Hz"
        print(f"  stage per frame at {label:11s}   {ms(per_frame, cpu)}  ok {stage.counts['ok']}")


if __name__ == "__main__":
    main()
