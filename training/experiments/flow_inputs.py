"""Experiment (not shipped): region optical flow on the aligned face crop as extra model inputs.

    PYTHONPATH=. .venv-train/bin/python -m training.experiments.flow_inputs train --flow --root R
    PYTHONPATH=. .venv/bin/python -m training.experiments.flow_inputs score \
        R/models/microevent.tflite --flow build/observed/dev build/observed/dev2

Why: the mesh sees only part of a slip's image motion (anger and sadness barely rise above its
still-face noise, models/MODEL_CARD.md). Farneback flow between the 64x64 aligned grey crop
(the appearance channel's crop, cached for every rendered frame) and the crop 0.4 s earlier,
averaged in 7x7 windows at 17 facial points (vertical motion) and 4 (horizontal), minus the
crop's median flow (what the alignment did not remove), in units of 0.05 inter-ocular
distances, gives 21 more input channels. ``train`` builds the image-space sequences of the
``make train`` caches with (``--flow``) or without them, trains the usual model on them only
(no generated sequences: the generator has no pixels; 64 channels wide, off-slip weight 4)
and exports under ``--root``; ``score`` replays observed clips (``training.offline_eval``)
with the same channels. It patches ``training.train`` and ``edge.brain.features`` names in
process rather than changing them: the runtime has no flow stage yet.

Measured, one seed each (offline replay of observed clips; the committed model in brackets):

- development set, 120 clips: without flow F1 0.526, recall 0.47, UF1 0.76 (0.531 / 0.45 /
  0.74); with flow F1 0.607, recall 0.55, UF1 0.90, false slips 1.33 -> 1.11/min, blinks
  4 % -> 1 %, anger 0.14 -> 0.43, sadness 0.29 -> 0.42;
- held-out main set, 60 clips (measured once, not used for any choice): without flow F1
  0.467, with flow 0.554 (0.468), recall 0.52 (0.40), UF1 0.82 (0.81), false micro-slips
  0.78/min (1.02), sadness 0.47 (0.33), fear 0.75 (0.58), contempt 0.44 (0.32), anger 0.13;
- real clips: the same as the committed model (8/9 found, 0 false, UF1 1.00; no micro-slip
  inside the crying).

Flow costs about 0.3-0.5 ms a frame per face on one x86 core (a crop every frame plus
Farneback on 64x64).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np

from edge.brain.appearance import QUALITIES, ReadingSchedule, _key_points, similarity, template
from edge.brain.au_geometry import canonical_face, measure
from edge.brain.features import FEATURE_NAMES, NeutralBaseline, looks_neutral, relative_features
from edge.brain.resample import resample_sequence
from edge.events import EMOTIONS
from training.generator import JITTER, MODEL_RATE, Sequence

_PTS = {"brow_in_R": 107, "brow_in_L": 336, "brow_out_R": 70, "brow_out_L": 300,
        "lid_up_R": 159, "lid_up_L": 386, "lid_lo_R": 145, "lid_lo_L": 374, "cheek_R": 50,
        "cheek_L": 280, "ala_R": 129, "ala_L": 358, "corner_R": 61, "corner_L": 291,
        "lip_up": 0, "lip_lo": 17, "chin": 152}  # fmt: skip
CHANNELS = [(n, 1) for n in _PTS] + [(n, 0) for n in ("corner_R", "corner_L", "brow_in_R",
                                                       "brow_in_L")]  # fmt: skip
FLOW_NAMES = tuple(f"FL_{n}_{'xy'[c]}" for n, c in CHANNELS)
LAG_S = 0.4
UNIT = 32.0 * 0.05  # crop pixels per 0.05 inter-ocular distance (the crop is 2 IOD wide)


def _crop_points() -> dict[str, np.ndarray]:
    canon = canonical_face()
    m = similarity(_key_points(canon), template())
    return {n: canon[i, :2] @ m[:, :2].T + m[:, 2] for n, i in _PTS.items()}


def flow_features(crops: np.ndarray, ok: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
    """T x 21 flow channels of one observed sequence (zeros until a reference exists)."""
    n = len(crops)
    out = np.zeros((n, len(CHANNELS)), np.float32)
    if n < 2:
        return out
    k = max(1, int(round(LAG_S / max(float(np.median(np.diff(t_ns))) / 1e9, 1e-3))))
    pts = _crop_points()
    for t in range(k, n):
        if not (ok[t] and ok[t - k]):
            continue
        fl = cv2.calcOpticalFlowFarneback(crops[t - k], crops[t], None, 0.5, 2, 9, 3, 5, 1.1, 0)
        g = np.median(fl[8:56, 8:56].reshape(-1, 2), 0)
        for j, (name, c) in enumerate(CHANNELS):
            x0, y0 = (int(round(v)) for v in pts[name])
            win = fl[max(0, y0 - 3) : y0 + 4, max(0, x0 - 3) : x0 + 4, c]
            out[t, j] = (win.mean() - g[c]) / UNIT
    return np.clip(out, -4.0, 4.0)


def _features(z: dict[str, np.ndarray], use_flow: bool) -> tuple[np.ndarray, np.ndarray, list]:  # type: ignore[type-arg]
    """Native-rate (t_ns, features, appearance readings) as a device would compute them."""
    from edge.types import Appearance

    lm, t_all = z["landmarks"], z["t_ns"]
    ok = np.isfinite(lm[:, 0, 0])
    fl = flow_features(z["crops"], ok, t_all) if use_flow else None
    base, sched = NeutralBaseline(), ReadingSchedule()
    rows, apps = [], []
    for i in np.flatnonzero(ok):
        t, app = int(t_all[i]), None
        if sched.due(0, t, base.frozen):
            p = z["appearance"][i]
            probs = p.astype(np.float32) if np.isfinite(p).all() else None
            app = Appearance(t, 0, QUALITIES[int(z["quality"][i])], probs)
        verdict = None if app is None or app.probs is None else looks_neutral(app.probs)
        raw_au, pose = measure(lm[i])
        x = relative_features(raw_au, pose, base, t, verdict)
        rows.append(np.concatenate([x, fl[i]]) if fl is not None else x)
        apps.append(app)
    return t_all[ok].astype(np.int64), np.stack(rows).astype(np.float32), apps


def _sequence(entry: dict, z: dict[str, np.ndarray], use_flow: bool) -> Sequence | None:  # type: ignore[type-arg]
    if np.isfinite(z["landmarks"][:, 0, 0]).sum() < 32:
        return None
    t_ns, x, _ = _features(z, use_flow)
    g_t, g_x, _ = resample_sequence(t_ns, x, MODEL_RATE)
    tg = g_t / 1e9
    active = np.zeros(len(tg), np.float32)
    emotion = np.full(len(tg), -1, np.int64)
    for on, _apex, off, emo, _kind in entry["events"]:
        m = (tg >= on) & (tg <= off)
        active[m], emotion[m] = 1.0, EMOTIONS.index(emo)
    return Sequence(g_t, g_x, active, emotion, [], [], float(entry["fps"]), t_ns, x)


def train(use_flow: bool, root: str) -> None:
    """Image-space sequences (+ flow) -> training.train's model and export, under ``root``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import edge.brain.features as features_module
    import training.train as tr
    from training.imagespace import mix

    seqs = []
    for cache in mix.default_caches():
        for entry in json.loads((cache / "manifest.json").read_text())["sequences"]:
            with np.load(cache / entry["file"]) as f:
                z = {k: f[k] for k in ("landmarks", "t_ns", "appearance", "quality", "crops")}
            s = _sequence(entry, z, use_flow)
            if s is not None:
                seqs.append(s)
    k = seqs[0].x.shape[1]
    trn, val = mix.split(seqs)
    extra = np.full(k - len(JITTER), 0.05, np.float32)  # still jitter of the flow channels
    mix.JITTER = np.concatenate([JITTER, extra])  # type: ignore[attr-defined]
    trn = mix.augment(trn, 10, 7)
    tr.K = k  # type: ignore[misc]
    tr.generate_set = lambda seed, n, cfg: []  # type: ignore[assignment]
    mix.load = lambda caches, copies, seed: (trn, val)  # type: ignore[assignment]
    features_module.FEATURE_NAMES = FEATURE_NAMES + (FLOW_NAMES if use_flow else ())  # type: ignore[misc]
    args = argparse.Namespace(seed=7, n_train=0, n_val=0, epochs=12, lr=2e-3, threads=2,
                              width=64, imagespace="auto", imagespace_copies=10,
                              neg_weight=4.0, root=root)  # fmt: skip
    tr.train(args)


def score(model: str, use_flow: bool, dirs: list[Path]) -> dict:  # type: ignore[type-arg]
    """Observed annotated clips through the spotter with this model; the eval report."""
    from edge.brain.spotting import Spotter
    from edge.evaluation.annotations import load_annotation
    from edge.evaluation.metrics import Stream, evaluate
    from edge.evaluation.report import report_to_dict
    from edge.types import AUFrame

    names = FEATURE_NAMES + (FLOW_NAMES if use_flow else ())
    streams = []
    for npz in sorted(p for d in dirs for p in d.glob("*.npz")):
        with np.load(npz) as f:
            z = {k: f[k] for k in f.files}
        if np.isfinite(z["landmarks"][:, 0, 0]).sum() < 2:
            continue
        t_ns, x, apps = _features(z, use_flow)
        sp = Spotter("experiment", model)
        events = []
        for t, v, app in zip(t_ns, x, apps, strict=True):
            events += sp.push(AUFrame(int(t), 0, v, names, app))
        events += sp.flush()
        truth = tuple(load_annotation(npz.with_suffix(".json")).segments)
        dur = int(z["t_ns"][-1] - z["t_ns"][0])
        streams.append(Stream(npz.stem, float(z["fps"]), dur, truth, tuple(events)))
    return report_to_dict(evaluate(streams))


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--flow", action="store_true")
    t.add_argument("--root", required=True)
    s = sub.add_parser("score")
    s.add_argument("model")
    s.add_argument("dirs", nargs="+", type=Path)
    s.add_argument("--flow", action="store_true")
    s.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.cmd == "train":
        train(args.flow, args.root)
        return
    rep = score(args.model, args.flow, args.dirs)
    sp = rep["spotting"]["all"]
    print(json.dumps({"f1": sp["f1"], "recall": sp["recall"], "uf1": rep["emotion"]["uf1"],  # noqa: T201
                      "false_per_min": rep["false_slips"]["per_min"]}))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rep, indent=1) + "\n")


if __name__ == "__main__":
    main()
