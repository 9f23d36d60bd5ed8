"""Spotting metrics: IoU matching, per-class P/R/F1, emotion UF1/UAR, false slips per minute."""

from __future__ import annotations

import pytest

from edge.evaluation.annotations import Segment
from edge.evaluation.metrics import (
    EvalReport,
    Stream,
    evaluate,
    interval_iou,
    match_intervals,
)
from edge.evaluation.report import format_report, report_to_dict
from edge.events import EMOTIONS, SlipEvent

MS = 1_000_000


def pred(on_ms: int, off_ms: int, emotion: str = "happiness", kind: str | None = None) -> SlipEvent:
    """A predicted event; type follows the duration unless given."""
    kind = kind or ("micro" if off_ms - on_ms <= 500 else "macro")
    scores = tuple((e, 1.0 if e == emotion else 0.0) for e in EMOTIONS)
    return SlipEvent(
        id=f"p{on_ms}", device="d", track_id=0, type=kind, emotion=emotion, confidence=1.0,
        scores=scores, onset_ns=on_ms * MS, apex_ns=on_ms * MS, offset_ns=off_ms * MS,
        intensity=0.5, action_units=(), laterality="both", partial=False,
        time="2026-01-01T00:00:00Z",
    )  # fmt: skip


def seg(kind: str, on_ms: int, off_ms: int, emotion: str | None = None) -> Segment:
    """A true segment."""
    return Segment(kind, on_ms * MS, on_ms * MS, off_ms * MS, emotion)


def test_iou_basics() -> None:
    assert interval_iou((0, 10), (0, 10)) == 1.0
    assert interval_iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert interval_iou((0, 10), (10, 20)) == 0.0
    # Frame-inclusive (MEGC counts frames): touching single frames overlap.
    assert interval_iou((0, 0), (0, 0), frame_ns=1) == 1.0
    assert interval_iou((0, 9), (10, 19), frame_ns=1) == 0.0


def test_matching_is_one_to_one_and_prefers_best_iou() -> None:
    preds = [(0, 100), (10, 110)]
    truths = [(10, 110)]
    pairs = match_intervals(preds, truths)
    assert pairs == [(1, 0, 1.0)]
    # Below threshold is no hit.
    assert match_intervals([(0, 100)], [(60, 200)]) == []


def test_micro_and_macro_scored_separately() -> None:
    truths = (
        seg("micro", 1000, 1300, "happiness"),
        seg("micro", 5000, 5250, "disgust"),
        seg("macro", 8000, 10000, "sadness"),
        seg("blink", 12000, 12200),
    )
    preds = (
        pred(1020, 1310, "happiness"),  # micro hit, right emotion
        pred(5000, 5250, "anger"),  # micro hit, wrong emotion
        pred(8100, 9900, "sadness"),  # macro hit
        pred(12000, 12180, "happiness"),  # blink reported as a slip: false
        pred(20000, 20200, "fear"),  # neutral false slip
    )
    rep = evaluate([Stream("s", 30.0, 60_000 * MS, truths, preds)])
    micro, macro, everything = (rep.spotting[k] for k in ("micro", "macro", "all"))
    assert (micro.tp, micro.n_pred, micro.n_true, micro.tp_emotion) == (2, 4, 2, 1)
    assert micro.precision == 0.5 and micro.recall == 1.0
    assert micro.f1 == pytest.approx(2 / 3)
    assert (macro.tp, macro.n_pred, macro.n_true) == (1, 1, 1)
    assert macro.f1 == 1.0
    assert (everything.tp, everything.n_pred, everything.n_true) == (3, 5, 3)
    assert rep.false_slips == 2 and rep.false_micro_slips == 2
    neutral_s = 60.0 - 0.3 - 0.25 - 2.0
    assert rep.neutral_ns == pytest.approx(neutral_s * 1e9)
    assert rep.false_slips_per_min == pytest.approx(2 / (neutral_s / 60))
    assert rep.nuisances == {"blink": [1, 1]}
    # Emotion: happiness 1/1, disgust predicted as anger, sadness 1/1.
    per = rep.emotion_per_class()
    assert per["happiness"]["f1"] == 1.0 and per["disgust"]["recall"] == 0.0
    assert rep.uar == pytest.approx(2 / 3)
    assert rep.uf1 == pytest.approx((1 + 0 + 1) / 3)
    assert rep.confusion[EMOTIONS.index("disgust")][EMOTIONS.index("anger")] == 1


def test_long_smile_reported_as_micro_is_a_type_error_not_a_hit() -> None:
    truths = (seg("macro", 0, 2000, "happiness"),)
    preds = (pred(0, 2000, "happiness", kind="micro"),)
    rep = evaluate([Stream("s", 30.0, 3000 * MS, truths, preds)])
    assert rep.spotting["macro"].tp == 0 and rep.spotting["micro"].n_pred == 1
    assert rep.spotting["all"].tp == 1
    assert rep.type_confusion["macro"]["micro"] == 1
    assert rep.false_slips == 0  # it overlaps a real expression: wrong type, not a false slip


def test_no_face_time_is_not_neutral_time_and_fps_groups() -> None:
    a = Stream("a", 30.0, 10_000 * MS, (seg("no_face", 0, 5000),), ())
    b = Stream("b", 90.0, 10_000 * MS, (), (pred(100, 300),))
    rep = evaluate([a, b])
    assert rep.neutral_ns == 15_000 * MS
    assert set(rep.per_fps) == {"30", "90"}
    assert rep.per_fps["90"].false_slips == 1 and rep.per_fps["30"].false_slips == 0
    d = report_to_dict(rep)
    assert d["false_slips"]["per_min"] == pytest.approx(4.0)
    assert d["per_fps"]["90"]["false_slips"]["count"] == 1
    text = format_report(rep)
    assert "false slips: 1 (4.00/min)" in text and "per fps" in text


def test_empty_report_is_all_zero() -> None:
    rep = EvalReport()
    assert rep.uf1 == rep.uar == rep.false_slips_per_min == 0.0
    assert rep.spotting["micro"].f1 == 0.0
