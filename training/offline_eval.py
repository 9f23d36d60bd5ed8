"""Observe annotated clips once, then score spotter/model variants on them in seconds.

    python -m training.offline_eval observe build/heldout/heldout_*.mp4 --out build/observed/heldout
    python -m training.offline_eval score build/observed/heldout [--model m.tflite] [--json r.json]

``observe`` runs the face stage that costs (detector + mesh + appearance crop and fer, every
frame) over each clip and stores it in the image-space cache format (``training.imagespace``),
with the clip's annotation beside it. ``score`` then replays what a device does after the face
stage (baseline taught by the appearance verdicts at 10 Hz, features, spotter, fusion) and
scores the events like ``microslip eval``. It is a development loop, not the release number:
the release number comes from ``microslip eval`` over the clips themselves (``make
eval-heldout``), which also re-runs the face stage.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from edge.evaluation.annotations import load_annotation
from edge.evaluation.metrics import EvalReport, Stream, evaluate
from edge.events import SlipEvent
from edge.types import AUFrame

log = logging.getLogger("offline_eval")


def observe_clip(path: Path, out_dir: Path) -> Path:
    """Run the face stage over one clip; writes ``<clip>.npz`` (+ its annotation) to out_dir."""
    import cv2

    from edge.evaluation.clips import frame_times_ms
    from training.imagespace.render import observe

    dest = out_dir / (path.stem + ".npz")
    if dest.exists():
        return dest
    times = frame_times_ms(path)
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0)

    def frames():  # type: ignore[no-untyped-def]
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    obs = observe(frames(), fps, len(times))
    cap.release()
    obs.t_ns[:] = np.round(np.asarray(times) * 1e6).astype(np.int64)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        dest, t_ns=obs.t_ns, landmarks=obs.landmarks, presence=obs.presence,
        appearance=obs.appearance, quality=obs.quality, crops=obs.crops, fps=np.float64(fps),
    )  # fmt: skip
    ann = Path(f"{path}.json")
    if ann.exists():
        (out_dir / (path.stem + ".json")).write_text(ann.read_text())
    return dest


def au_frames(z: dict[str, np.ndarray], track_id: int = 0) -> list[AUFrame]:
    """The AUFrames a device would hand the spotter, from one observed clip."""
    from training.imagespace.dataset import observed_au_frames

    return observed_au_frames(z, track_id)


def spot(frames: list[AUFrame], model: str | None = None, **kw: float) -> list[SlipEvent]:
    """Feed AUFrames through a fresh Spotter; all its events."""
    from edge.brain.spotting import Spotter

    sp = Spotter("eval", model, **kw)  # type: ignore[arg-type]
    events: list[SlipEvent] = []
    for f in frames:
        events += sp.push(f)
    return events + sp.flush()


def score_dirs(obs_dirs: list[Path], model: str | None = None, **kw: float) -> EvalReport:
    """Score every observed clip of some directories."""
    streams = []
    for npz in sorted(p for d in obs_dirs for p in d.glob("*.npz")):
        ann = load_annotation(npz.with_suffix(".json"))
        with np.load(npz) as f:
            z = {k: f[k] for k in f.files}
        preds = spot(au_frames(z), model, **kw)
        dur = int(z["t_ns"][-1] - z["t_ns"][0])
        streams.append(Stream(npz.stem, float(z["fps"]), dur, tuple(ann.segments), tuple(preds)))
    return evaluate(streams)


def main() -> None:
    """Command-line entry point."""
    from edge.evaluation.report import format_report, report_to_dict

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ob = sub.add_parser("observe")
    ob.add_argument("clips", nargs="+", type=Path)
    ob.add_argument("--out", type=Path, required=True)
    sc = sub.add_parser("score")
    sc.add_argument("dirs", nargs="+", type=Path)
    sc.add_argument("--model", default=None)
    sc.add_argument("--json", type=Path, default=None)
    logging.basicConfig(level=logging.WARNING)
    args = ap.parse_args()
    if args.cmd == "observe":
        for clip in args.clips:
            observe_clip(clip, args.out)
        return
    rep = score_dirs(args.dirs, args.model)
    print(format_report(rep))  # noqa: T201
    if args.json:
        args.json.write_text(json.dumps(report_to_dict(rep), indent=1) + "\n")


if __name__ == "__main__":
    main()
