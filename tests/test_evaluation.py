"""Spotting metrics: IoU matching, per-class P/R/F1, emotion UF1/UAR, false slips per minute."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.errors import InputError
from edge.evaluation.annotations import Segment
from edge.evaluation.metrics import (
    EvalReport,
    Stream,
    evaluate,
    interval_iou,
    match_intervals,
)
from edge.evaluation.report import format_report, report_to_dict
from edge.events import EMOTIONS, SlipEvent, event_to_json, validate

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


# --- the `microslip eval` command -------------------------------------------------------

ANNOTATIONS = Path(__file__).parents[1] / "annotations"


def _write_events(path: Path, events: list[SlipEvent]) -> None:
    path.write_text("".join(event_to_json(e) + "\n" for e in events))


def test_eval_command_on_event_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "truth.jsonl"
    _write_events(truth, [pred(1000, 1300, "happiness"), pred(5000, 7000, "sadness")])
    predicted = tmp_path / "pred.jsonl"
    _write_events(
        predicted,
        [pred(1010, 1290, "happiness"), pred(5100, 6900, "anger"), pred(9000, 9200, "fear")],
    )
    out = tmp_path / "report.json"
    rc = main(["eval", "--pred", str(predicted), "--truth", str(truth), "--fps", "30",
               "--duration", "60", "--json", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "micro" in text and "UF1" in text
    d = json.loads(out.read_text())
    assert d["spotting"]["micro"]["tp"] == 1 and d["spotting"]["micro"]["n_pred"] == 2
    assert d["spotting"]["macro"]["f1"] == 1.0
    assert d["false_slips"]["count"] == 1
    assert d["emotion"]["per_class"]["sadness"]["recall"] == 0.0
    assert d["per_stream"][0]["hits"] == 2
    # --plot draws the events against the truth (the viz helper's timeline).
    pytest.importorskip("matplotlib")
    assert main(["eval", "--pred", str(predicted), "--truth", str(truth), "--plot",
                 str(tmp_path / "plots")]) == 0  # fmt: skip
    assert (tmp_path / "plots" / "pred.jsonl.png").stat().st_size > 1000


def test_eval_command_against_a_dataset_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CASME II sample 01/EP02_01f: frames 46..86 at 200 fps, frame 46 = t 0.
    predicted = tmp_path / "pred.jsonl"
    _write_events(predicted, [pred(0, 200, "happiness")])
    table = Path(__file__).parent / "data" / "datasets" / "casme2_coding.csv"
    out = tmp_path / "r.json"
    args = ["eval", "--pred", str(predicted), "--truth", str(table), "--first-frame", "46"]
    assert main([*args, "--video", "01/EP02_01f", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["spotting"]["micro"]["tp"] == 1 and d["spotting"]["micro"]["tp_with_emotion"] == 1
    # A SAMM Long Videos video (006_1) holds all its expressions (006_1_2, 006_1_3).
    samm = Path(__file__).parent / "data" / "datasets" / "samm_codes.csv"
    assert main(["eval", "--pred", str(predicted), "--truth", str(samm), "--video", "006/006_1",
                 "--json", str(out)]) == 0  # fmt: skip
    assert json.loads(out.read_text())["spotting"]["all"]["n_true"] == 2
    # Without --video the error lists what is there; a bad payload names the line.
    assert main(args) == 2
    assert "--video" in capsys.readouterr().err
    predicted.write_text('{"id": "x"}\n')
    assert main([*args, "--video", "01/EP02_01f"]) == InputError.exit_code
    assert "pred.jsonl:1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "bad", [["--fps", "0"], ["--fps", "inf"], ["--duration", "nan"], ["--duration", "-5"]]
)
def test_eval_command_rejects_non_positive_fps_and_duration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]
) -> None:
    events = tmp_path / "e.jsonl"
    _write_events(events, [pred(1000, 1300, "happiness")])
    assert main(["eval", "--pred", str(events), "--truth", str(events), *bad]) == 2
    assert f"{bad[0]} must be a positive number" in capsys.readouterr().err


def test_eval_json_report_never_overwrites_an_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "truth.jsonl"
    _write_events(truth, [pred(1000, 1300, "happiness")])
    before = truth.read_text()
    assert main(["eval", "--pred", str(truth), "--truth", str(truth), "--json", str(truth)]) == 2
    assert "would overwrite an input file" in capsys.readouterr().err
    assert truth.read_text() == before


@pytest.mark.parametrize("which", ["--pred", "--truth"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_eval_command_on_binary_files_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str, suffix: str
) -> None:
    good = tmp_path / "good.jsonl"
    _write_events(good, [pred(1000, 1300, "happiness")])
    binary = tmp_path / f"binary{suffix}"
    binary.write_bytes(b"\xff\xfe\x00junk")
    files = {"--pred": good, "--truth": good, which: binary}
    assert (
        main(["eval", "--pred", str(files["--pred"]), "--truth", str(files["--truth"])])
        == InputError.exit_code
    )
    assert f"binary{suffix}" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_command_runs_the_pipeline_on_a_real_clip(
    tmp_path: Path, pyfeat_dir: Path, face_models: Path
) -> None:
    out = tmp_path / "r.json"
    clip = pyfeat_dir / "single_face.mp4"
    rc = main(["eval", str(clip), "--truth-dir", str(ANNOTATIONS), "--json", str(out),
               "--save-events", str(tmp_path)])  # fmt: skip
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["per_stream"][0]["name"] == "single_face.mp4" and d["per_stream"][0]["true"] == 1
    # The full-length real smile (1.8 s) must come out as a macro happiness, not a micro.
    assert d["spotting"]["macro"]["tp"] == 1 and d["spotting"]["macro"]["tp_with_emotion"] == 1
    assert d["spotting"]["micro"]["n_pred"] == 0
    saved = (tmp_path / "single_face.mp4.events.jsonl").read_text().splitlines()
    for line in saved:
        validate(json.loads(line))
