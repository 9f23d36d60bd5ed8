"""Evaluate the committed micro-event model + spotter on held-out generated streams.

Held-out means other seeds *and* other generator settings than training (other frame rates,
timing, intensity, jitter and frame-drop distributions). Every stream is fed at its native
frame rate through ``edge.brain.spotting.Spotter`` exactly as on a device, and scored with
``edge.evaluation.metrics`` (MEGC-style IoU >= 0.5 matching).

    .venv/bin/python -m training.evaluate [--n 300] [--json training/out/eval.json]
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.brain.features import FEATURE_NAMES
from edge.brain.spotting import Spotter
from edge.evaluation.annotations import Segment
from edge.evaluation.generated import run_generated
from edge.evaluation.metrics import EvalReport, Stream
from edge.events import EMOTIONS, SlipEvent
from edge.types import AUFrame
from training.generator import GenConfig, Sequence, generate_set

HELD_OUT = GenConfig(
    fps_choices=(24.0, 25.0, 30.0, 50.0, 60.0, 100.0, 120.0),
    duration_s=(10.0, 20.0),
    micro_total_ms=(300.0, 0.35),
    intensity_beta=(1.3, 3.5),
    jitter_scale=(0.6, 1.8),
    drop_rate=(0.0, 0.08),
    n_events=(0, 3),
    n_nuisance=(2, 6),
    pose_xtalk=0.025,
    p_partial=0.6,
)
_NUISANCE_KIND = {
    "blink": "blink",
    "double_blink": "blink",
    "head": "head_turn",
    "speech": "speech",
}


def to_stream(name: str, seq: Sequence, events: list[SlipEvent]) -> Stream:
    """Truth segments + predictions of one generated sequence."""
    truths = [Segment(kind, on, apex, off, emotion=emo) for on, apex, off, emo, kind in seq.events]
    truths += [
        Segment(_NUISANCE_KIND[k], on, on, off)
        for on, off, k in seq.nuisances
        if k in _NUISANCE_KIND
    ]
    dur = int(seq.native_t[-1]) if seq.native_t is not None else int(seq.t_ns[-1])
    return Stream(name, seq.fps, dur, tuple(truths), tuple(events))


def twitch_rate(seqs: list[Sequence], preds: list[list[SlipEvent]]) -> tuple[int, int]:
    """(twitches, twitches overlapped by a false slip)."""
    n = hit = 0
    for seq, evs in zip(seqs, preds, strict=True):
        true_iv = [(a, c) for a, _b, c, _e, _k in seq.events]
        for on, off, kind in seq.nuisances:
            if kind != "twitch":
                continue
            n += 1
            for ev in evs:
                overl = min(ev.offset_ns, off) >= max(ev.onset_ns, on)
                touches_truth = any(min(ev.offset_ns, b) >= max(ev.onset_ns, a) for a, b in true_iv)
                if overl and not touches_truth:
                    hit += 1
                    break
    return n, hit


def summary(rep: EvalReport) -> dict[str, object]:
    """The figures that go into the model card."""
    sp = rep.spotting
    out: dict[str, object] = {
        f"{k}_{m}": round(getattr(sp[k], m), 3)
        for k in ("micro", "macro", "all")
        for m in ("precision", "recall", "f1")
    }
    out["uf1"] = round(rep.uf1, 3)
    out["uar"] = round(rep.uar, 3)
    out["false_slips_per_min"] = round(rep.false_slips_per_min, 2)
    out["false_micro_per_min"] = round(rep.false_micro_slips_per_min, 2)
    out["nuisance_slipped"] = {
        k: f"{v[1]}/{v[0]} ({100 * v[1] / max(v[0], 1):.1f}%)" for k, v in rep.nuisances.items()
    }
    out["per_class"] = {
        k: {m: round(float(x), 3) for m, x in v.items()} for k, v in rep.emotion_per_class().items()
    }
    out["confusion"] = rep.confusion
    out["type_confusion"] = rep.type_confusion
    return out


def run(seed: int, n: int, cfg: GenConfig, model: str | None = None) -> dict[str, object]:
    """Generate, spot and score ``n`` held-out sequences."""
    seqs = generate_set(seed, n, cfg)
    spotter = Spotter(device_id="eval", model_path=model)
    items = []
    for i, seq in enumerate(seqs):
        assert seq.native_t is not None and seq.native_x is not None
        frames = [
            AUFrame(int(t), 1, x, FEATURE_NAMES)
            for t, x in zip(seq.native_t, seq.native_x, strict=True)
        ]
        items.append((f"gen-{seed}-{i}", seq.fps, frames, to_stream("", seq, []).truths))
    rep, streams = run_generated(items, spotter)
    preds = [list(s.preds) for s in streams]
    res = summary(rep)
    res["per_fps"] = {
        k: {m: v for m, v in summary(r).items() if m in ("micro_f1", "all_f1", "uf1")}
        for k, r in sorted(rep.per_fps.items(), key=lambda kv: float(kv[0]))
    }
    tw_n, tw_hit = twitch_rate(seqs, preds)
    res["twitch_slipped"] = f"{tw_hit}/{tw_n} ({100 * tw_hit / max(tw_n, 1):.1f}%)"
    contempt = rep.emotion_per_class()["contempt"]
    res["contempt_recall"] = round(contempt["recall"], 3)
    res["streams"] = len(streams)
    res["minutes"] = round(rep.duration_ns / 6e10, 1)
    return res


def main() -> None:
    """Evaluate on the held-out settings and on the training settings with a fresh seed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=90210)
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "out" / "eval.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    res = {
        "held_out_settings": run(args.seed, args.n, HELD_OUT, args.model),
        "training_settings_new_seed": run(args.seed + 1, args.n // 2, GenConfig(), args.model),
        "held_out_micro_only": run(
            args.seed + 2, args.n // 2, replace(HELD_OUT, p_macro=0.0), args.model
        ),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1) + "\n")
    for name, r in res.items():
        keys = ("micro_f1", "macro_f1", "uf1", "nuisance_slipped", "twitch_slipped")
        print(name, {k: r[k] for k in keys}, "emotions:", EMOTIONS and r["per_class"])  # noqa: T201
    np.set_printoptions(precision=3)


if __name__ == "__main__":
    main()
