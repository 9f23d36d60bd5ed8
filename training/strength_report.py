"""Spot-recall of a rendered held-out set by how strong each true expression was.

    python -m training.strength_report build/heldout:build/observed/heldout [more dir pairs]

Each pair is a set written by ``training.heldout`` (its ``settings.json`` names the seed, split
and render settings) and the same clips observed by ``training.offline_eval observe``. The
clips' scripts are re-made from their seeds (nothing is rendered), which gives each true
expression its peak AU intensity (the largest AU curve during it; 1.0 = the full action), the
face's size and the displacement source; the observed clips are replayed through the spotter
and a true expression counts as spotted when an event hits it at the evaluation's IoU. It
answers "how strong must a slip be to be found", which the held-out F1 alone does not.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.evaluation.annotations import Segment, load_annotation
from edge.evaluation.metrics import IOU_HIT, interval_iou
from edge.events import EMOTIONS, SlipEvent

STRENGTH_BINS = (0.0, 0.5, 0.7, float("inf"))


@dataclass(frozen=True, slots=True)
class Expression:
    """One true expression of a rendered clip and what the spotter made of it."""

    emotion: str
    kind: str
    peak: float  # largest AU curve during it (1.0 = full action; the set's scale can exceed 1)
    iod_px: float
    source: str
    spotted: bool  # an event hit it at IOU_HIT, whatever its emotion
    right: bool  # ... and named its emotion


def judge(seg: Segment, events: Iterable[SlipEvent], t0_ns: int) -> tuple[bool, bool]:
    """Whether ``seg`` was spotted (IoU hit) and named rightly by one of ``events``."""
    hits = [
        e
        for e in events
        if interval_iou((e.onset_ns - t0_ns, e.offset_ns - t0_ns), (seg.onset_ns, seg.offset_ns))
        >= IOU_HIT
    ]
    return bool(hits), any(e.emotion == seg.emotion for e in hits)


def table(rows: Sequence[Expression], bins: Sequence[float] = STRENGTH_BINS) -> list[list[str]]:
    """Rows per emotion (and all): spot-recall (n) per strength bin."""
    out = []
    for emo in (*EMOTIONS, "all"):
        cells = [emo]
        for lo, hi in zip(bins[:-1], bins[1:], strict=True):
            sel = [r for r in rows if (emo == "all" or r.emotion == emo) and lo <= r.peak < hi]
            cells.append(f"{np.mean([r.spotted for r in sel]):.2f} ({len(sel)})" if sel else "-")
        out.append(cells)
    return out


def breakdown(rows: Sequence[Expression]) -> list[str]:
    """Spotted and named-right shares by kind, face size and displacement source."""
    groups = {
        **{f"kind {k}": [r for r in rows if r.kind == k] for k in ("micro", "macro")},
        **{f"iod {lo}-{hi} px": [r for r in rows if lo <= r.iod_px < hi]
           for lo, hi in ((0, 40), (40, 60), (60, 80), (80, 1000))},
        **{f"source {s}": [r for r in rows if r.source == s]
           for s in sorted({r.source for r in rows})},
    }  # fmt: skip
    return [
        f"{name}: n {len(sel)}, spotted {np.mean([r.spotted for r in sel]):.2f}, "
        f"named right {np.mean([r.right for r in sel]):.2f}"
        for name, sel in groups.items()
        if sel
    ]


def collect(clip_dir: Path, obs_dir: Path, model: str | None = None) -> list[Expression]:
    """The true expressions of one observed held-out set with their strength and outcome."""
    from training.heldout import FULL, HELDOUT, clip_script
    from training.offline_eval import au_frames, spot

    settings = json.loads((clip_dir / "settings.json").read_text())
    cfg = FULL if settings["cfg"] == repr(FULL) else HELDOUT
    if settings["cfg"] != repr(cfg):
        raise SystemExit(f"{clip_dir}: render settings are neither HELDOUT nor FULL")
    split = settings.get("split", "heldout")
    rows = []
    for npz in sorted(obs_dir.glob("*.npz")):
        script, _ = clip_script(int(npz.stem.split("_")[1]), settings["seed"], cfg, split)
        truth = [s for s in load_annotation(npz.with_suffix(".json")).segments if s.emotion]
        with np.load(npz) as f:
            z = {k: f[k] for k in f.files}
        events = spot(au_frames(z), model)
        t0 = int(z["t_ns"][0])
        for on, _apex, off, emo, kind in script.events:
            if on * script.fps >= script.n - 1:
                continue  # starts after the last frame: not in the annotation either
            seg = min(truth, key=lambda s: abs(s.onset_ns / 1e9 - on))
            if seg.emotion != emo:
                raise SystemExit(f"{npz}: script and annotation disagree at {on:.2f} s")
            a, b = round(on * script.fps), round(off * script.fps) + 1
            peak = max((float(c[a:b].max()) for c in script.curves.values()), default=0.0)
            spotted, right = judge(seg, events, t0)
            rows.append(
                Expression(emo, kind, peak, script.iod_px, script.source, spotted, right)
            )  # fmt: skip
    return rows


def main() -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="CLIP_DIR:OBSERVED_DIR")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    rows: list[Expression] = []
    for pair in args.pairs:
        clip_dir, _, obs_dir = pair.partition(":")
        rows += collect(Path(clip_dir), Path(obs_dir), args.model)
    bins = STRENGTH_BINS
    head = [f"{lo:g}-{hi:g}" if hi != float("inf") else f">= {lo:g}" for lo, hi in
            zip(bins[:-1], bins[1:], strict=True)]  # fmt: skip
    print("| spot-recall (n) by peak AU intensity | " + " | ".join(head) + " |")  # noqa: T201
    print("|---" * (len(head) + 1) + "|")  # noqa: T201
    for cells in table(rows, bins):
        print("| " + " | ".join(cells) + " |")  # noqa: T201
    print("\n" + "\n".join(breakdown(rows)))  # noqa: T201


if __name__ == "__main__":
    main()
