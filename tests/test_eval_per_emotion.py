"""Per-emotion spotting recall/precision and the calibration error of `confidence`."""

from __future__ import annotations

import pytest

from edge.evaluation.annotations import Segment
from edge.evaluation.metrics import Stream, calibration_error, evaluate
from edge.evaluation.report import format_report, report_to_dict
from edge.events import EMOTIONS, SlipEvent

MS = 1_000_000


def pred(on_ms: int, off_ms: int, emotion: str, confidence: float) -> SlipEvent:
    """A predicted micro event."""
    scores = tuple((e, confidence if e == emotion else 0.0) for e in EMOTIONS)
    return SlipEvent(
        id=f"p{on_ms}", device="d", track_id=0, type="micro", emotion=emotion,
        confidence=confidence, scores=scores, onset_ns=on_ms * MS, apex_ns=on_ms * MS,
        offset_ns=off_ms * MS, intensity=0.5, action_units=(), laterality="both",
        partial=False, time="2026-01-01T00:00:00Z",
    )  # fmt: skip


def seg(on_ms: int, off_ms: int, emotion: str) -> Segment:
    """A true micro expression."""
    return Segment("micro", on_ms * MS, on_ms * MS, off_ms * MS, emotion)


def test_per_emotion_spotting_recall_and_precision() -> None:
    truths = (seg(1000, 1300, "sadness"), seg(3000, 3300, "sadness"), seg(5000, 5300, "fear"))
    preds = (
        pred(1000, 1300, "sadness", 0.9),  # found, right
        pred(3000, 3300, "disgust", 0.8),  # found, named wrong
        pred(8000, 8300, "sadness", 0.7),  # false slip
    )
    rep = evaluate([Stream("s", 30.0, 10_000 * MS, truths, preds)])
    sad, fear, disgust = (rep.by_emotion[e] for e in ("sadness", "fear", "disgust"))
    assert (sad.n_true, sad.spotted, sad.spotted_right) == (2, 2, 1)
    assert sad.spot_recall == 1.0 and sad.recall == 0.5
    assert (sad.n_pred, sad.pred_right) == (2, 1) and sad.precision == 0.5
    assert (fear.n_true, fear.spotted, fear.spot_recall) == (1, 0, 0.0)
    assert (disgust.n_pred, disgust.precision) == (1, 0.0)
    d = report_to_dict(rep)["emotion"]
    assert d["spotting_per_emotion"]["sadness"]["spot_recall"] == 1.0
    assert "per emotion" in format_report(rep)
    # confidence of hits: 0.9 right, 0.8 wrong -> |1-0.9| and |0-0.8| in their own bins
    assert rep.confidence_ece == pytest.approx((0.1 + 0.8) / 2)
    assert len(rep.conf_all) == 3


def test_calibration_error_is_zero_when_confidence_matches_accuracy() -> None:
    pairs = [(0.75, True)] * 3 + [(0.75, False)]
    assert calibration_error(pairs) == pytest.approx(0.0)
    assert calibration_error([(1.0, False)]) == pytest.approx(1.0)
    assert calibration_error([]) == 0.0
