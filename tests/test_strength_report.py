"""training.strength_report: a true expression is judged by IoU and binned by its strength."""

from __future__ import annotations

import dataclasses

from edge.evaluation.annotations import Segment
from tests.broker import make_event
from training.strength_report import Expression, judge, table

S = 1_000_000_000


def test_an_expression_counts_as_spotted_only_at_the_evaluations_iou_and_right_by_name() -> None:
    seg = Segment("micro", 2 * S, 2 * S + S // 10, 2 * S + S * 3 // 10, emotion="fear")
    t0 = 5 * S  # events carry device clock times; the annotation counts from the first frame
    ev = dataclasses.replace(make_event(0), emotion="fear")
    hit = dataclasses.replace(ev, onset_ns=t0 + 2 * S, offset_ns=t0 + 2 * S + S * 3 // 10)
    assert judge(seg, [hit], t0) == (True, True)
    assert judge(seg, [dataclasses.replace(hit, emotion="surprise")], t0) == (True, False)
    # overlapping a third of it is not a hit
    shifted = dataclasses.replace(
        hit, onset_ns=hit.onset_ns + S // 5, offset_ns=hit.offset_ns + S // 5
    )
    assert judge(seg, [shifted], t0) == (False, False)
    assert judge(seg, [], t0) == (False, False)


def test_the_table_bins_each_emotion_by_peak_intensity() -> None:
    rows = [
        Expression("anger", "micro", 0.3, 50.0, "pls", False, False),
        Expression("anger", "micro", 0.8, 50.0, "pls", True, True),
        Expression("anger", "micro", 1.2, 50.0, "template", False, False),
        Expression("happiness", "macro", 0.6, 30.0, "template", True, False),
    ]
    by = {cells[0]: cells[1:] for cells in table(rows)}
    assert by["anger"] == ["0.00 (1)", "-", "0.50 (2)"]
    assert by["happiness"] == ["-", "1.00 (1)", "-"]
    assert by["sadness"] == ["-", "-", "-"]
    assert by["all"] == ["0.00 (1)", "1.00 (1)", "0.50 (2)"]
