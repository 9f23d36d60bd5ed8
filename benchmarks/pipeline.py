"""Face-stage benchmark on a real clip, side by side with MediaPipe's Python FaceMesh.

    .venv/bin/python benchmarks/pipeline.py [--clip WolfgangLanger_Pexels.mp4] [--core 1]

Decodes the clip once (timed), stores the RGB frames in a temporary .npy, then - pinned
to one core with os.sched_setaffinity - runs our FaceTracker (468 mesh, tracking) and, in
a subprocess of the reference venv (.venv-ref, mediapipe 0.10.21), MediaPipe's
solutions.face_mesh in tracking mode on the very same frames. Prints per-stage median and
p99, frames per second and the ratio ours/theirs; then, in a fresh process that streams the
clip like `microslip replay`, start-up time (models verified and loaded, first face out)
and peak RSS. Also compares the ROI crop: cv2.warpAffine against a numpy bilinear crop.
Run by hand; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from reference import run_reference  # benchmarks/ is the script's own folder

REPO = Path(__file__).resolve().parents[1]

# Runs inside .venv-ref: MediaPipe FaceMesh over the shared frames, one time per frame.
MEDIAPIPE_CHILD = r"""
import json, os, sys, time
import numpy as np
import mediapipe as mp
os.sched_setaffinity(0, {int(sys.argv[2])})
frames = np.load(sys.argv[1], mmap_mode="r")
times, cpu, found = [], [], 0
with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                     refine_landmarks=False) as mesh:
    mesh.process(np.ascontiguousarray(frames[0]))  # warm-up, as on our side
    for f in frames:
        img = np.ascontiguousarray(f)
        c = time.process_time()
        t = time.perf_counter()
        res = mesh.process(img)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        found += bool(res.multi_face_landmarks)
print(json.dumps({"times": times, "cpu": cpu, "found": found}))
"""


def pct(values: list[float], q: float) -> float:
    """Percentile in milliseconds."""
    return float(np.percentile(np.asarray(values) * 1e3, q)) if values else float("nan")


def decode(clip: Path, limit: int) -> tuple[npt.NDArray[np.uint8], list[float]]:
    """All RGB frames of a clip and the per-frame decode+convert time."""
    cap = cv2.VideoCapture(str(clip))
    frames, times = [], []
    while not limit or len(frames) < limit:
        t = time.perf_counter()
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        times.append(time.perf_counter() - t)
    cap.release()
    return np.stack(frames), times


def run_ours(frames: npt.NDArray[np.uint8], mesh: str) -> dict[str, list[float]]:
    """Our tracker over the frames; per-frame stage times and total process() time."""
    from edge.face.tracker import STAGES, FaceTracker
    from edge.types import Frame

    tracker = FaceTracker(mesh=mesh, max_faces=1, tiles_per_pass=0)
    tracker.process(Frame(0, 0, np.ascontiguousarray(frames[0])))  # warm-up
    tracker.reset()
    out: dict[str, list[float]] = {k: [] for k in (*STAGES, "total", "tracking", "cpu")}
    found = 0
    for i, f in enumerate(frames):
        img = np.ascontiguousarray(f)
        c = time.process_time()
        t = time.perf_counter()
        res = tracker.process(Frame(i, i, img))
        total = time.perf_counter() - t
        out["cpu"].append(time.process_time() - c)
        found += bool(res.faces)
        for k in STAGES:
            out[k].append(tracker.stage_times[k])
        out["total"].append(total)
        if tracker.stage_times["detect"] == 0.0:
            out["tracking"].append(total)
    out["found"] = [float(found)]
    return out


def run_full(frames: npt.NDArray[np.uint8], mesh: str) -> list[float]:
    """The whole pipeline (faces + features + spotter) per frame, as the service runs it."""
    from edge.face.tracker import FaceTracker
    from edge.pipeline import Pipeline
    from edge.types import Frame

    def make() -> Pipeline:
        tracker = FaceTracker(mesh=mesh, max_faces=1, tiles_per_pass=0)
        return Pipeline(device_id="bench", mesh=mesh, spot=True, tracker=tracker)

    make().process(Frame(0, 0, np.ascontiguousarray(frames[0])))  # warm-up (model load)
    pipe = make()
    period_ns = 33_333_333  # clip time at 30 fps so the spotter sees a plausible stream
    totals: list[float] = []
    for i, f in enumerate(frames):
        frame = Frame(i, i * period_ns, np.ascontiguousarray(f))
        t = time.perf_counter()
        pipe.process(frame)
        totals.append(time.perf_counter() - t)
    pipe.finish()
    return totals


def run_mediapipe(npy: Path, core: int) -> dict[str, list[float]] | None:
    """MediaPipe FaceMesh in .venv-ref on the same frames; None when that venv is absent."""
    doc = run_reference(MEDIAPIPE_CHILD, str(npy), str(core))
    if doc is None:
        return None
    return {"total": doc["times"], "cpu": doc["cpu"], "found": [float(doc["found"])]}


def numpy_crop(
    img: npt.NDArray[np.uint8], m: npt.NDArray[np.float64], n: int
) -> npt.NDArray[np.float32]:
    """Bilinear crop in plain numpy (the alternative to cv2.warpAffine we measure)."""
    v, u = np.mgrid[0:n, 0:n].astype(np.float32)
    x = m[0, 0] * u + m[0, 1] * v + m[0, 2]
    y = m[1, 0] * u + m[1, 1] * v + m[1, 2]
    h, w = img.shape[:2]
    x = np.clip(x, 0, w - 1.001)
    y = np.clip(y, 0, h - 1.001)
    x0 = x.astype(np.int32)
    y0 = y.astype(np.int32)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    f = img.astype(np.float32)
    top = f[y0, x0] * (1 - fx) + f[y0, x0 + 1] * fx
    bot = f[y0 + 1, x0] * (1 - fx) + f[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bot * fy


def crop_compare(img: npt.NDArray[np.uint8], reps: int = 200) -> tuple[float, float, float]:
    """Median ms of a 192x192 rotated crop: cv2.warpAffine vs numpy; and max pixel difference."""
    from edge.face.geometry import Roi, crop_matrix

    h, w = img.shape[:2]
    m = crop_matrix(Roi(w / 2, h / 2, min(w, h) * 0.8, 0.3), 192, 192)
    dst = np.empty((192, 192, 3), np.uint8)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    tc, tn = [], []
    for _ in range(reps):
        t = time.perf_counter()
        cv2.warpAffine(img, m, (192, 192), dst=dst, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        tc.append(time.perf_counter() - t)
    for _ in range(max(reps // 10, 5)):
        t = time.perf_counter()
        ref = numpy_crop(img, m, 192)
        tn.append(time.perf_counter() - t)
    return pct(tc, 50), pct(tn, 50), float(np.abs(ref - dst).max())


def child_startup(clip: Path, started: float) -> None:
    """Fresh process: time to the first face out, then stream the clip; print JSON."""
    from edge.face.tracker import FaceTracker
    from edge.types import Frame

    tracker = FaceTracker(mesh="468")
    cap = cv2.VideoCapture(str(clip))
    first = None
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        tracker.process(Frame(i, i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        if first is None:
            first = time.time() - started
        i += 1
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
    status = Path("/proc/self/status").read_text()
    rss = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps({"startup_s": first, "peak_rss_mb": rss, "frames": i}))


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="WolfgangLanger_Pexels.mp4")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--frames", type=int, default=0, help="limit (0: whole clip)")
    parser.add_argument("--mesh", default="468", choices=["468", "478"])
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each side")
    parser.add_argument(
        "--full", action="store_true", help="also time the whole pipeline (features + spotter)"
    )
    parser.add_argument("--child-startup", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    from edge.runtime.downloads import pyfeat_data_dir

    clip = Path(args.clip) if Path(args.clip).exists() else pyfeat_data_dir() / args.clip
    if args.child_startup is not None:
        child_startup(clip, args.child_startup)
        return 0

    os.sched_setaffinity(0, {args.core})
    frames, decode_times = decode(clip, args.frames)
    h, w = frames.shape[1:3]
    print(f"clip {clip.name}: {len(frames)} frames {w}x{h}, pinned to core {args.core}")
    # Alternate ours and MediaPipe a few times and keep each side's best run: on a shared
    # machine a burst of other load would otherwise decide the ratio.
    runs_ours: list[dict[str, list[float]]] = []
    runs_mp: list[dict[str, list[float]]] = []
    runs_full: list[list[float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "frames.npy"
        np.save(npy, frames)
        for _ in range(args.repeat):
            runs_ours.append(run_ours(frames, args.mesh))
            if args.full:
                runs_full.append(run_full(frames, args.mesh))
            theirs = run_mediapipe(npy, args.core)
            if theirs is not None:
                runs_mp.append(theirs)
    ours = min(runs_ours, key=lambda r: pct(r["total"], 50))

    print(f"{f'stage (best of {args.repeat} runs)':<26}{'median ms':>10}{'p99 ms':>10}")
    rows = [("decode (excluded)", decode_times)] + [
        (k, ours[k]) for k in ("detect", "crop", "mesh", "track", "tracking", "total", "cpu")
    ]
    labels = {
        "tracking": "tracking-path frame",
        "total": "all frames (wall)",
        "cpu": "all frames (CPU time)",
    }
    for name, vals in rows:
        shown = [v for v in vals if v > 0] if name == "detect" else vals
        label = f"detect ({len(shown)} runs)" if name == "detect" else labels.get(name, name)
        print(f"{label:<26}{pct(shown, 50):>10.3f}{pct(shown, 99):>10.3f}")
    fps = len(ours["total"]) / sum(ours["total"])
    fps_cpu = len(ours["cpu"]) / sum(ours["cpu"])
    print(
        f"ours: {fps:.0f} frames/s wall, {fps_cpu:.0f} frames/s of CPU time, "
        f"face in {int(ours['found'][0])}/{len(frames)} frames"
    )
    if not runs_mp:
        print("MediaPipe reference: .venv-ref missing, skipped")
    else:
        mp = min(runs_mp, key=lambda r: pct(r["total"], 50))
        mp_fps = len(mp["total"]) / sum(mp["total"])
        mp_fps_cpu = len(mp["cpu"]) / sum(mp["cpu"])
        print(
            f"MediaPipe FaceMesh: median {pct(mp['total'], 50):.3f} ms (CPU "
            f"{pct(mp['cpu'], 50):.3f}), p99 {pct(mp['total'], 99):.3f} ms, {mp_fps:.0f} "
            f"frames/s wall, {mp_fps_cpu:.0f} of CPU time, face in "
            f"{int(mp['found'][0])}/{len(frames)} frames"
        )
        print(
            f"ratio ours/MediaPipe frames/s: {fps / mp_fps:.2f}x wall, "
            f"{fps_cpu / mp_fps_cpu:.2f}x CPU time"
        )
    if runs_mp and args.repeat > 1:
        # Per frame, the fastest of the repeats: an estimate of the uncontended cost that a
        # burst of other load on a shared machine cannot inflate; same treatment both sides.
        best_ours = np.min([r["total"] for r in runs_ours], axis=0)
        best_mp = np.min([r["total"] for r in runs_mp], axis=0)
        print(
            f"per-frame best of {args.repeat}: ours median {np.median(best_ours) * 1e3:.3f} ms "
            f"({len(best_ours) / best_ours.sum():.0f} frames/s), MediaPipe "
            f"{np.median(best_mp) * 1e3:.3f} ms ({len(best_mp) / best_mp.sum():.0f} frames/s), "
            f"ratio {best_mp.sum() / best_ours.sum():.2f}x"
        )
    if runs_full:
        full = min(runs_full, key=lambda r: pct(r, 50))
        full_fps = len(full) / sum(full)
        line = (
            f"whole pipeline (faces + features + spotter): median {pct(full, 50):.3f} ms, "
            f"p99 {pct(full, 99):.3f} ms, {full_fps:.0f} frames/s wall"
        )
        if runs_mp:
            mp = min(runs_mp, key=lambda r: pct(r["total"], 50))
            mp_fps = len(mp["total"]) / sum(mp["total"])
            line += f", ratio to MediaPipe FaceMesh {full_fps / mp_fps:.2f}x"
        print(line)
    cv_ms, np_ms, diff = crop_compare(np.ascontiguousarray(frames[0]))
    print(
        f"192x192 crop: cv2.warpAffine {cv_ms:.3f} ms, numpy bilinear {np_ms:.3f} ms "
        f"(max pixel difference {diff:.1f})"
    )

    started = time.time()
    proc = subprocess.run(
        [sys.executable, __file__, "--clip", str(clip), "--child-startup", str(started)],
        capture_output=True,
        text=True,
        check=True,
    )
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"fresh process streaming {child['frames']} frames: start-up to first face "
        f"{child['startup_s']:.2f} s, peak RSS {child['peak_rss_mb']:.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
