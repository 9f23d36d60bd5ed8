"""Fit the emotion fusion's weights on the image-space training cache; report NLL, accuracy, ECE.

    PYTHONPATH=. .venv/bin/python training/calibrate_fusion.py [CACHE_OR_OBSERVED_DIR ...]

Each cached sequence (``training/imagespace``: real faces warped by AU displacement fields,
seen by the real face stage and the appearance model) is replayed through the runtime's
FeatureExtractor and Spotter with its cached appearance readings fed on the runtime's
reading schedule (``ReadingSchedule``), exactly as ``Pipeline`` would. Spotted events are
matched to the script's expressions (IoU >= 0.3) and the inputs of their fusion recorded; the
weights in
``fusion.FITTED`` are then fitted by negative log-likelihood of the true emotion (coordinate
search), with 2-fold cross-validation against the current ``fusion.DEFAULT_WEIGHTS``.
``appearance_long`` and ``temporal_floor`` are not fitted (see ``edge.brain.fusion``).
Labels come from the cache's manifest or, while a render is still
running, from the same seeded scripts the renderer used. WolfgangLanger is never in the cache.
Directories of observed annotated clips (``training.offline_eval observe``, e.g. the
development set of ``make eval-dev``) are read with their annotations instead. The weights in
``edge.brain.fusion`` were fitted on the development set with ``--keep-long`` for the current
model (a full refit there made the real crying macro happiness: that set has no long crying).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.brain import fusion, slips, spotting  # noqa: E402
from edge.evaluation.metrics import calibration_error, interval_iou  # noqa: E402
from edge.events import EMOTIONS, SlipEvent  # noqa: E402


def entries(cache: Path) -> list[dict[str, object]]:
    """Manifest entries of the sequences present (rebuilt from the seeded scripts if needed),
    or, for a directory of observed annotated clips (``training.offline_eval observe``), one
    entry per clip with its annotated expressions."""
    man = cache / "manifest.json"
    if man.exists():
        return list(json.loads(man.read_text())["sequences"])
    if any(cache.glob("*.npz")) and not any(cache.glob("seq_*.npz")):
        from edge.evaluation.annotations import load_annotation

        out: list[dict[str, object]] = []
        for npz in sorted(cache.glob("*.npz")):
            segs = load_annotation(npz.with_suffix(".json")).segments
            events = [[s.onset_ns / 1e9, s.onset_ns / 1e9, s.offset_ns / 1e9, s.emotion, s.kind]
                      for s in segs if s.is_expression]  # fmt: skip
            out.append({"file": npz.name, "events": events})
        return out
    from training.imagespace.cache import TRAIN_N, TRAIN_SEEDS, _script_for, settings_key
    from training.imagespace.faces import SPECS
    from training.imagespace.script import RenderConfig

    cfg = RenderConfig()
    seeds = [s for s in TRAIN_SEEDS if settings_key(cfg, "train", s, TRAIN_N) == cache.name]
    if not seeds:
        raise SystemExit(f"{cache}: no manifest and not a default training render")
    faces = [s.name for s in SPECS if s.split == "train"]
    out = []
    for path in sorted(cache.glob("seq_[0-9][0-9][0-9][0-9][0-9].npz")):
        i = int(path.stem.split("_")[1])
        script, _ = _script_for(seeds[0], i, cfg, faces)
        out.append({"file": path.name, "events": [list(e) for e in script.events]})
    return out


def replay(data: dict[str, np.ndarray], spotter: spotting.Spotter) -> list[SlipEvent]:
    """One cached sequence through features (gated by appearance) and the spotter."""
    from training.imagespace.dataset import observed_au_frames

    events: list[SlipEvent] = []
    for au in observed_au_frames(data, track_id=1):
        events += spotter.push(au)
    return events + spotter.flush()


def matched(events: list[SlipEvent], truth: list[list[object]]) -> list[tuple[SlipEvent, int]]:
    """(event, true emotion index) for events overlapping a scripted expression."""
    out = []
    for ev in events:
        best, emo = 0.3, None
        for on, _apex, off, e, _kind in truth:
            iou = interval_iou((ev.onset_ns, ev.offset_ns), (int(on * 1e9), int(off * 1e9)))
            if iou >= best:
                best, emo = iou, str(e)
        if emo is not None:
            out.append((ev, EMOTIONS.index(emo)))
    return out


FITTED = ("temporal", "temporal_long", "appearance", "au", "temperature")


class Recorder:
    """Keeps the inputs of every fusion the spotter makes, keyed by the scores it returned."""

    def __init__(self) -> None:
        self.inputs: dict[tuple[float, ...], tuple[object, ...]] = {}

    def __call__(  # type: ignore[no-untyped-def]
        self, temporal, au, app, duration_ms, weights=fusion.DEFAULT_WEIGHTS, relative_long=True
    ):
        out = fusion.fuse(temporal, au, app, duration_ms, weights, relative_long)
        self.inputs[_key(out.scores)] = (temporal, au, app, duration_ms, relative_long)
        return out


def _key(scores: object) -> tuple[float, ...]:
    return tuple(round(float(v), 4) for v in np.asarray(scores).reshape(-1))


def evaluate(w: fusion.Weights, rows: list[tuple[tuple[object, ...], int]]) -> tuple[float, ...]:
    """NLL of the true emotion, accuracy and ECE of ``confidence`` under weights ``w``."""
    p = np.stack([fusion.fuse(*inp[:4], w, inp[4]).scores for inp, _ in rows])  # type: ignore[arg-type]
    y = np.array([k for _, k in rows])
    nll = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1.0)).mean())
    ece = calibration_error(
        [(float(q.max()), int(q.argmax()) == k) for q, k in zip(p, y, strict=True)]
    )
    return nll, float((p.argmax(1) == y).mean()), ece


def hold_long(w: fusion.Weights, base: fusion.Weights = fusion.DEFAULT_WEIGHTS) -> fusion.Weights:
    """``w`` with the long-expression channels (temporal_long, appearance_long) rescaled to the
    same weight relative to the temperature as in ``base``: for a set with few long
    expressions (the development set has no long crying), which cannot weigh them."""
    k = w.temperature / base.temperature
    return dataclasses.replace(
        w, temporal_long=base.temporal_long * k, appearance_long=base.appearance_long * k
    )


def fit(rows: list[tuple[tuple[object, ...], int]], keep_long: bool = False) -> fusion.Weights:
    """Coordinate search (x0.5 .. x2 per step) on the FITTED weights, minimising the NLL
    (``keep_long``: temporal_long not fitted, the long channels held, ``hold_long``)."""
    w = fusion.DEFAULT_WEIGHTS
    best = evaluate(w, rows)[0]
    names = [n for n in FITTED if not (keep_long and n == "temporal_long")]
    for _ in range(4):
        for name in names:
            for f in (0.5, 0.7, 1.4, 2.0):
                cand = dataclasses.replace(w, **{name: getattr(w, name) * f})
                cand = hold_long(cand) if keep_long else cand
                v = evaluate(cand, rows)[0]
                if v < best - 1e-4:
                    best, w = v, cand
    return w


def main() -> None:
    """Replay with a recorder, match, fit with 2-fold cross-validation, report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache", nargs="*", type=Path, help="cache or observed-clip directories")
    ap.add_argument(
        "--keep-long", action="store_true",
        help="fit the brief-expression weights only; hold the long channels (hold_long)",
    )  # fmt: skip
    args = ap.parse_args()
    caches = args.cache or [
        max((ROOT / "build" / "imagespace").glob("*/"), key=lambda p: p.stat().st_mtime)
    ]
    rec = Recorder()
    slips.fuse = rec  # the spotter's own call (in edge.brain.slips), recorded (a training tool)
    spotter = spotting.Spotter(device_id="calib")
    rows: list[tuple[tuple[object, ...], int]] = []
    seqs = [(cache, e) for cache in caches for e in entries(cache)]
    for cache, entry in seqs:
        with np.load(cache / str(entry["file"])) as z:
            data = {
                k: z[k] for k in ("t_ns", "landmarks", "presence", "appearance", "quality", "crops")
            }
        for ev, k in matched(replay(data, spotter), list(entry["events"])):  # type: ignore[arg-type]
            inp = rec.inputs.get(_key([s for _, s in ev.scores]))
            if inp is not None:
                rows.append((inp, k))
    if not rows:
        raise SystemExit(f"{caches}: no matched events in {len(seqs)} sequences")
    order = np.random.default_rng(0).permutation(len(rows))
    folds = [[rows[i] for i in order[: len(rows) // 2]], [rows[i] for i in order[len(rows) // 2 :]]]
    report: dict[str, object] = {
        "fitted_on": f"{[c.name for c in caches]}: {len(seqs)} sequences, {len(rows)} events"
    }
    for n, (train, test) in enumerate([(folds[0], folds[1]), (folds[1], folds[0])]):
        w = fit(train, args.keep_long)
        report[f"fold{n}"] = {
            "weights": {k: round(getattr(w, k), 3) for k in (*FITTED, "appearance_long")},
            "test_nll_acc_ece": [round(x, 3) for x in evaluate(w, test)],
            "current_on_test": [round(x, 3) for x in evaluate(fusion.DEFAULT_WEIGHTS, test)],
        }
    w = fit(rows, args.keep_long)
    report["all"] = {
        "weights": {k: round(getattr(w, k), 3) for k in (*FITTED, "appearance_long")},
        "nll_acc_ece": [round(x, 3) for x in evaluate(w, rows)],
        "current": [round(x, 3) for x in evaluate(fusion.DEFAULT_WEIGHTS, rows)],
    }
    print(json.dumps(report, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
