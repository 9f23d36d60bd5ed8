"""A whole ``microslip replay`` against MediaPipe's Python FaceMesh, both streaming the clip.

    .venv/bin/python benchmarks/replay_speed.py [--clip WolfgangLanger_Pexels.mp4] [--core 1]

Unlike benchmarks/pipeline.py (frames decoded once up front, each side fed from memory),
both sides here decode the clip as they go, as ``microslip replay`` does: ours is
edge.replay.replay over a VideoFileSource into a Pipeline (faces, appearance, features,
spotter), MediaPipe is cv2 decoding plus ``solutions.face_mesh`` in .venv-ref. Both are
pinned to one core and alternate ``--repeat`` times; each side's fastest run counts. Models
load before the clock starts on both sides. Run by hand; nothing in the tests is timed.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from reference import run_reference  # benchmarks/ is the script's own folder

REPO = Path(__file__).resolve().parents[1]

# Runs inside .venv-ref: decode + FaceMesh per frame, the decode and the mesh timed apart.
MEDIAPIPE_CHILD = r"""
import json, os, sys, time
import cv2
import mediapipe as mp
os.sched_setaffinity(0, {int(sys.argv[2])})
cap = cv2.VideoCapture(sys.argv[1])
decode, mesh_t = [], []
with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                     refine_landmarks=False) as mesh:
    ok, bgr = cap.read()
    mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # warm-up, as on our side
    cap = cv2.VideoCapture(sys.argv[1])  # from the start again
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t1 = time.perf_counter()
        mesh.process(rgb)
        decode.append(t1 - t0)
        mesh_t.append(time.perf_counter() - t1)
    wall = time.perf_counter() - start
print(json.dumps({"decode": decode, "work": mesh_t, "wall": wall}))
"""


@dataclass(frozen=True)
class Run:
    """One side's run: per-frame work (decode excluded), wall time, median decode."""

    work: list[float]
    wall: float
    decode_ms: float

    @property
    def fps(self) -> float:
        """Frames per wall-clock second, decode included."""
        return len(self.work) / self.wall


def run_ours(clip: Path, max_faces: int) -> Run:
    """One replay of the clip through a fresh pipeline; per-frame work time and wall time."""
    from edge.face.tracker import FaceTracker
    from edge.pipeline import Pipeline, PipelineResult
    from edge.replay import replay
    from edge.sources.video import VideoFileSource

    # max_faces 1 without tiles is what MediaPipe is asked for; 4 with tiles is the CLI's.
    tiles = 0 if max_faces == 1 else 1
    tracker = FaceTracker(max_faces=max_faces, tiles_per_pass=tiles)
    pipe = Pipeline(device_id="bench", tracker=tracker)
    _ = pipe.tracker  # load the appearance model too, before the clock starts
    work: list[float] = []

    def on_result(result: PipelineResult) -> None:
        work.append(sum(v for k, v in result.stage_times.items() if k not in tracker.stage_times))

    with VideoFileSource(clip) as source:
        summary = replay(source, pipe, on_result=on_result)
    decode = summary.stage_timings["decode"]
    return Run(work, summary.wall_s, decode.median_ms)


def run_mediapipe(clip: Path, core: int) -> Run | None:
    """MediaPipe streaming the clip in .venv-ref; None when that venv is absent."""
    doc = run_reference(MEDIAPIPE_CHILD, str(clip), str(core))
    if doc is None:
        return None
    return Run(doc["work"], doc["wall"], float(np.median(doc["decode"]) * 1e3))


def _ms(values: list[float]) -> float:
    return float(np.median(np.asarray(values)) * 1e3)


def main() -> int:
    """Run the benchmark and print one line per side plus the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="WolfgangLanger_Pexels.mp4")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--max-faces", type=int, default=1, help="1 as MediaPipe; 4 as the CLI")
    args = parser.parse_args()

    from edge.runtime.downloads import pyfeat_data_dir

    clip = Path(args.clip) if Path(args.clip).exists() else pyfeat_data_dir() / args.clip
    os.sched_setaffinity(0, {args.core})
    ours, theirs = [], []
    for _ in range(args.repeat):
        ours.append(run_ours(clip, args.max_faces))
        mp = run_mediapipe(clip, args.core)
        if mp is not None:
            theirs.append(mp)
    o = min(ours, key=lambda r: r.wall)
    print(
        f"{clip.name}, {len(o.work)} frames, core {args.core}, best of {args.repeat}, load "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"ours (replay, max_faces {args.max_faces}): work median {_ms(o.work):.3f} ms, "
        f"decode median {o.decode_ms:.3f} ms, wall {o.fps:.0f} frames/s"
    )
    if not theirs:
        print("MediaPipe reference: .venv-ref missing, skipped")
        return 0
    t = min(theirs, key=lambda r: r.wall)
    print(
        f"MediaPipe FaceMesh: work median {_ms(t.work):.3f} ms, decode median "
        f"{t.decode_ms:.3f} ms, wall {t.fps:.0f} frames/s"
    )
    work_ratio = (sum(t.work) / len(t.work)) / (sum(o.work) / len(o.work))
    print(
        f"ratio ours/MediaPipe frames/s: {o.fps / t.fps:.2f}x wall (decode included), "
        f"{work_ratio:.2f}x work (decode excluded), {_ms(t.work) / _ms(o.work):.2f}x by medians"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
