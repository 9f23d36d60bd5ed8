"""Fit the emotion fusion's temperature on the image-space training cache; report its ECE.

    PYTHONPATH=. .venv/bin/python training/calibrate_fusion.py [CACHE_DIR]

Each cached sequence (``training/imagespace``: real faces warped by AU displacement fields,
seen by the real face stage and the appearance model) is replayed through the runtime's
FeatureExtractor and Spotter with its cached appearance readings fed at the runtime's 10 Hz
schedule, exactly as ``Pipeline`` would. Spotted events are matched to the script's
expressions (IoU >= 0.3); the fused scores of the matched events then give the temperature
that minimises the negative log-likelihood of the true emotion (a rescaling of the fused
logits: ``p ~ scores ** (1 / t)``), and the expected calibration error before and after.
A fitted ``t`` would multiply ``edge.brain.fusion.Weights.temperature`` (not done yet: the
cache was still rendering). Labels come from the cache's manifest or, while a render is still
running, from the same seeded scripts the renderer used. WolfgangLanger is never in the cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.brain.appearance import QUALITIES, RATE_HZ  # noqa: E402
from edge.brain.features import FeatureExtractor  # noqa: E402
from edge.brain.spotting import Spotter  # noqa: E402
from edge.evaluation.metrics import calibration_error, interval_iou  # noqa: E402
from edge.events import EMOTIONS, SlipEvent  # noqa: E402
from edge.types import Appearance, Face, FaceFrame  # noqa: E402


def entries(cache: Path) -> list[dict[str, object]]:
    """Manifest entries of the sequences present (rebuilt from the seeded scripts if needed)."""
    man = cache / "manifest.json"
    if man.exists():
        return list(json.loads(man.read_text())["sequences"])
    from training.imagespace.cache import TRAIN_N, TRAIN_SEEDS, _script_for, settings_key
    from training.imagespace.faces import SPECS
    from training.imagespace.script import RenderConfig

    cfg = RenderConfig()
    seeds = [s for s in TRAIN_SEEDS if settings_key(cfg, "train", s, TRAIN_N) == cache.name]
    if not seeds:
        raise SystemExit(f"{cache}: no manifest and not a default training render")
    faces = [s.name for s in SPECS if s.split == "train"]
    out = []
    for path in sorted(cache.glob("seq_*.npz")):
        i = int(path.stem.split("_")[1])
        script, _ = _script_for(seeds[0], i, cfg, faces)
        out.append({"file": path.name, "events": [list(e) for e in script.events]})
    return out


def replay(data: dict[str, np.ndarray], spotter: Spotter) -> list[SlipEvent]:
    """One cached sequence through features (gated by appearance) and the spotter."""
    feats = FeatureExtractor()
    period, due = int(1e9 / RATE_HZ), -1
    events: list[SlipEvent] = []
    for i, t in enumerate(data["t_ns"].tolist()):
        lm = data["landmarks"][i]
        if not np.isfinite(lm[:, 0]).all():
            continue
        face = Face(1, (0.0, 0.0, 0.0, 0.0), lm, float(data["presence"][i]))
        readings: tuple[Appearance, ...] = ()
        if t >= due - 5_000_000:
            due = max((t if due < 0 else due) + period, t)
            q = int(data["quality"][i])
            probs = data["appearance"][i] if q == 0 else None
            readings = (Appearance(t, 1, QUALITIES[max(q, 0)], probs),)
        for au in feats.update(FaceFrame(i, t, (face,)), readings):
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


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the NLL of ``softmax(log(scores) / t)`` (grid, then refine)."""
    logit = np.log(np.clip(scores, 1e-9, 1.0))

    def nll(t: float) -> float:
        z = logit / t
        z -= z.max(1, keepdims=True)
        lp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return float(-lp[np.arange(len(y)), y].mean())

    grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 81))
    t = float(grid[int(np.argmin([nll(g) for g in grid]))])
    for step in (0.05, 0.01):
        near = t * np.exp(np.arange(-5, 6) * step)
        t = float(near[int(np.argmin([nll(g) for g in near]))])
    return t


def main() -> None:
    """Replay, match, fit, report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cache", nargs="?", type=Path)
    args = ap.parse_args()
    cache = args.cache or max(
        (ROOT / "build" / "imagespace").glob("*/"), key=lambda p: p.stat().st_mtime
    )
    spotter = Spotter(device_id="calib")
    pairs: list[tuple[SlipEvent, int]] = []
    seqs = entries(cache)
    for entry in seqs:
        with np.load(cache / str(entry["file"])) as z:
            data = {k: z[k] for k in ("t_ns", "landmarks", "presence", "appearance", "quality")}
        pairs += matched(replay(data, spotter), list(entry["events"]))  # type: ignore[arg-type]
    if not pairs:
        raise SystemExit(f"{cache}: no matched events in {len(seqs)} sequences")
    scores = np.array([[dict(ev.scores)[e] for e in EMOTIONS] for ev, _ in pairs])
    y = np.array([k for _, k in pairs])
    t = fit_temperature(scores, y)
    after = np.exp(np.log(np.clip(scores, 1e-9, 1.0)) / t)
    after /= after.sum(1, keepdims=True)
    ece = [
        calibration_error(
            [(float(p.max()), int(p.argmax()) == k) for p, k in zip(s, y, strict=True)]
        )
        for s in (scores, after)
    ]
    report = {
        "temperature": round(t, 3),
        "fitted_on": f"{cache.name}: {len(seqs)} sequences, {len(pairs)} matched events",
        "accuracy": round(float((scores.argmax(1) == y).mean()), 3),
        "ece_before": round(ece[0], 3),
        "ece_after": round(ece[1], 3),
        "with_appearance": sum(
            1 for ev, _ in pairs if ev.evidence and "appearance" in ev.evidence.channels
        ),
    }
    print(json.dumps(report, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
