"""Turn an EvalReport into the JSON written by ``--json`` and the text printed by the CLI."""

from __future__ import annotations

from typing import Any

from edge.evaluation.metrics import EvalReport
from edge.events import EMOTIONS


def _r(x: float) -> float:
    return round(x, 4)


def report_to_dict(rep: EvalReport, per_fps: bool = True) -> dict[str, Any]:
    """A JSON-ready summary: spotting per class, emotion, false slips, nuisances, per fps."""
    d: dict[str, Any] = {
        "streams": rep.streams,
        "duration_s": _r(rep.duration_ns / 1e9),
        "spotting": {
            k: {
                "tp": c.tp,
                "n_pred": c.n_pred,
                "n_true": c.n_true,
                "precision": _r(c.precision),
                "recall": _r(c.recall),
                "f1": _r(c.f1),
                "tp_with_emotion": c.tp_emotion,
            }
            for k, c in rep.spotting.items()
        },
        "type_confusion": rep.type_confusion,
        "emotion": {
            "uf1": _r(rep.uf1),
            "uar": _r(rep.uar),
            "labels": list(EMOTIONS),
            "confusion": rep.confusion,
            "per_class": {
                k: {m: _r(v) for m, v in c.items()} for k, c in rep.emotion_per_class().items()
            },
            # spotting per true emotion (recall) and per named emotion (precision), end to end
            "spotting_per_emotion": {
                k: {
                    "n_true": c.n_true,
                    "spotted": c.spotted,
                    "spot_recall": _r(c.spot_recall),
                    "recall": _r(c.recall),
                    "n_pred": c.n_pred,
                    "precision": _r(c.precision),
                }
                for k, c in rep.by_emotion.items()
            },
            "confidence_ece": _r(rep.confidence_ece),
            "confidence_ece_all": _r(rep.confidence_ece_all),
        },
        "false_slips": {
            "neutral_s": _r(rep.neutral_ns / 1e9),
            "count": rep.false_slips,
            "micro_count": rep.false_micro_slips,
            "per_min": _r(rep.false_slips_per_min),
            "micro_per_min": _r(rep.false_micro_slips_per_min),
        },
        "nuisances": {
            k: {"total": n, "slipped": s, "rate": _r(s / n if n else 0.0)}
            for k, (n, s) in sorted(rep.nuisances.items())
        },
    }
    if per_fps:
        d["per_fps"] = {k: report_to_dict(v, False) for k, v in sorted(rep.per_fps.items())}
    return d


def format_report(rep: EvalReport) -> str:
    """A human-readable report (what `microslip eval` prints)."""
    lines = [
        f"streams {rep.streams}, {rep.duration_ns / 1e9:.1f} s "
        f"(neutral/nuisance {rep.neutral_ns / 1e9:.1f} s)",
        "spotting (IoU >= 0.5)   TP  pred  true  precision  recall     F1  +emotion",
    ]
    for k, c in rep.spotting.items():
        lines.append(
            f"  {k:<20}{c.tp:5d}{c.n_pred:6d}{c.n_true:6d}"
            f"{c.precision:11.3f}{c.recall:8.3f}{c.f1:7.3f}{c.tp_emotion:10d}"
        )
    tc = rep.type_confusion
    lines.append(
        "type of hits (true->pred): "
        + ", ".join(f"{t}->{p} {n}" for t, row in tc.items() for p, n in row.items())
    )
    lines.append(f"emotion: UF1 {rep.uf1:.3f}  UAR {rep.uar:.3f}  (confusion: rows true)")
    lines.append("  " + " " * 10 + "".join(f"{e[:5]:>6}" for e in EMOTIONS))
    for name, row in zip(EMOTIONS, rep.confusion, strict=True):
        if sum(row):
            lines.append(f"  {name:<10}" + "".join(f"{n:6d}" for n in row))
    lines.append("per emotion  true  spotted  spot-recall  recall(+emotion)  pred  precision")
    for name, ec in rep.by_emotion.items():
        if ec.n_true or ec.n_pred:
            lines.append(
                f"  {name:<10}{ec.n_true:6d}{ec.spotted:9d}{ec.spot_recall:13.3f}"
                f"{ec.recall:18.3f}{ec.n_pred:6d}{ec.precision:11.3f}"
            )
    lines.append(
        f"confidence calibration error (ECE, 10 bins): hits {rep.confidence_ece:.3f} "
        f"({len(rep.conf_hits)}), all predictions {rep.confidence_ece_all:.3f} "
        f"({len(rep.conf_all)})"
    )
    lines.append(
        f"false slips: {rep.false_slips} ({rep.false_slips_per_min:.2f}/min), "
        f"micro {rep.false_micro_slips} ({rep.false_micro_slips_per_min:.2f}/min)"
    )
    for kind, (n, s) in sorted(rep.nuisances.items()):
        lines.append(f"  {kind:<14} {s}/{n} reported as slips")
    if len(rep.per_fps) > 1:
        lines.append("per fps      micro F1  macro F1  all F1    UF1  false/min")
        for key, r in sorted(rep.per_fps.items(), key=lambda kv: float(kv[0])):
            sp = r.spotting
            lines.append(
                f"  {key:>6}  {sp['micro'].f1:9.3f}{sp['macro'].f1:10.3f}{sp['all'].f1:8.3f}"
                f"{r.uf1:7.3f}{r.false_slips_per_min:10.2f}"
            )
    return "\n".join(lines)
