"""Ground truth: our clip annotation format and the CASME II / SAMM / CAS(ME)^2 readers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from edge.errors import InputError
from edge.evaluation.annotations import (
    FORMAT,
    annotation_from_dict,
    load_annotation,
    save_annotation,
)
from edge.evaluation.datasets import (
    detect_format,
    read_casme2,
    read_casme_sq,
    read_dataset,
    read_samm,
    to_segments,
)
from edge.evaluation.xlsx import read_sheet, sheet_names

DATA = Path(__file__).parent / "data" / "datasets"


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    """A minimal valid .xlsx (shared strings for text, numbers inline), as Excel writes it."""
    strings: list[str] = []

    def cell(ref: str, v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, (int, float)):
            return f'<c r="{ref}"><v>{v}</v></c>'
        strings.append(str(v))
        return f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>'

    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    with zipfile.ZipFile(path, "w") as z:
        entries, rels = [], []
        for k, (name, rows) in enumerate(sheets.items(), start=1):
            xml_rows = "".join(
                f'<row r="{i + 1}">'
                + "".join(cell(f"{chr(65 + j)}{i + 1}", v) for j, v in enumerate(r))
                + "</row>"
                for i, r in enumerate(rows)
                if r
            )
            z.writestr(
                f"xl/worksheets/sheet{k}.xml",
                f"<worksheet {ns}><sheetData>{xml_rows}</sheetData></worksheet>",
            )
            entries.append(f'<sheet name="{escape(name)}" sheetId="{k}" r:id="rId{k}"/>')
            rels.append(
                f'<Relationship Id="rId{k}" Type="http://schemas.openxmlformats.org/'
                f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{k}.xml"/>'
            )
        book = f"<workbook {ns} {rns}><sheets>{''.join(entries)}</sheets></workbook>"
        z.writestr("xl/workbook.xml", book)
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(rels) + "</Relationships>",
        )  # fmt: skip
        sst = "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
        z.writestr("xl/sharedStrings.xml", f"<sst {ns}>{sst}</sst>")


def test_casme2_reader() -> None:
    rows = read_casme2(DATA / "casme2_coding.csv")
    assert len(rows) == 4
    first = rows[0]
    frames = (first.onset_frame, first.apex_frame, first.offset_frame)
    assert (first.subject, first.video, frames) == ("01", "EP02_01f", (46, 59, 86))
    assert first.emotion == "happiness" and first.kind == "micro"
    assert rows[1].emotion is None and rows[1].label == "others"
    assert rows[2].apex_frame == (1 + 56) // 2  # '/' apex -> midpoint
    assert rows[3].action_units == ("4", "7") and rows[3].emotion == "disgust"
    assert detect_format(DATA / "casme2_coding.csv") == "casme2"


def test_samm_reader_skips_title_rows_and_reads_type() -> None:
    rows = read_samm(DATA / "samm_codes.csv")
    assert [r.kind for r in rows] == ["micro", "macro", "micro"]
    assert [r.emotion for r in rows] == ["anger", "happiness", "contempt"]
    assert rows[0].subject == "006" and rows[0].onset_frame == 5562
    assert rows[2].apex_frame == (1001 + 1042) // 2  # apex 0 = not coded
    assert detect_format(DATA / "samm_codes.csv") == "samm"


def test_casme_sq_reader_positional_columns() -> None:
    rows = read_casme_sq(DATA / "casme_sq_code_final.csv")
    assert [r.kind for r in rows] == ["macro", "micro", "macro", "micro"]
    assert rows[0].video == "anger1" and rows[0].subject == "1"
    assert rows[0].emotion == "anger"  # 'negative' estimate -> self-report
    assert rows[1].emotion == "sadness"
    assert rows[2].offset_frame == 1362  # offset 0 -> apex
    assert rows[2].emotion == "happiness"
    assert detect_format(DATA / "casme_sq_code_final.csv") == "casme_sq"


def test_xlsx_reader_on_casme_sq_layout(tmp_path: Path) -> None:
    p = tmp_path / "CAS(ME)^2code_final.xlsx"
    write_xlsx(
        p,
        {
            "CASFEcode_final": [
                [1, "anger1_1", 557, 572, 608, "4+10", "negative", "macro-expression", "anger"],
                [],
                [16, "happy1_4", 1020, 1026, 1033, "12", "positive", "micro-expression", "happy"],
            ],
            "naming rule1": [["15", "s15", 1]],
        },
    )  # fmt: skip
    assert sheet_names(p) == ["CASFEcode_final", "naming rule1"]
    assert read_sheet(p, "naming rule1") == [["15", "s15", 1.0]]
    rows = read_dataset(p, "auto")
    assert [(r.subject, r.video, r.kind, r.emotion) for r in rows] == [
        ("1", "anger1", "macro", "anger"),
        ("16", "happy1", "micro", "happiness"),
    ]
    segs = to_segments(rows[1:], fps=30.0, first_frame=1000)
    assert segs[0].onset_ns == round(20 * 1e9 / 30) and segs[0].offset_ns == round(33 * 1e9 / 30)
    with pytest.raises(InputError, match="no sheet"):
        read_sheet(p, "missing")


def test_samm_xlsx_with_title_rows(tmp_path: Path) -> None:
    p = tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx"
    write_xlsx(
        p,
        {
            "FACS_Movement_Only": [
                ["SAMM"],
                [],
                ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
                 "Offset Frame", "Duration", "Type", "Action Units", "Notes", "Estimated Emotion"],
                [6, "006_1_2", 1, 5562, 5588, 5632, 71, "Micro - 1/2", "4+7", None, "Anger"],
            ]
        },
    )  # fmt: skip
    (row,) = read_dataset(p)
    assert (row.dataset, row.subject, row.emotion, row.offset_frame) == ("samm", "6", "anger", 5632)


def test_bad_table_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.xlsx"
    bad.write_text("not a zip")
    with pytest.raises(InputError):
        read_dataset(bad, "casme2")
    with pytest.raises(InputError, match="no header"):
        read_casme2(DATA / "casme_sq_code_final.csv")


def _annotation(**over: object) -> dict[str, object]:
    d: dict[str, object] = {
        "format": FORMAT,
        "clip": "x.mp4",
        "fps": 30.0,
        "frames": 60,
        "duration_ms": 2000.0,
        "segments": [
            {"kind": "macro", "emotion": "happiness", "onset_frame": 3, "onset_ms": 100.0,
             "apex_frame": 9, "apex_ms": 300.0, "offset_frame": 30, "offset_ms": 1000.0},
            {"kind": "blink", "onset_ms": 1200.0, "apex_ms": 1300.0, "offset_ms": 1400.0},
        ],
    }  # fmt: skip
    d.update(over)
    return d


def test_annotation_round_trip(tmp_path: Path) -> None:
    a = annotation_from_dict(_annotation())
    assert [s.kind for s in a.segments] == ["macro", "blink"]
    assert a.expressions[0].apex_ns == 300_000_000 and a.expressions[0].apex_frame == 9
    p = tmp_path / "a.json"
    save_annotation(a, p)
    assert load_annotation(p) == a
    assert json.loads(p.read_text())["segments"][1]["kind"] == "blink"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "format"),
        ({"segments": [{"kind": "wink", "onset_ms": 0, "apex_ms": 0, "offset_ms": 1}]}, "kind"),
        ({"segments": [{"kind": "micro", "onset_ms": 5, "apex_ms": 1, "offset_ms": 9}]}, "onset"),
        (
            {
                "segments": [
                    {
                        "kind": "blink",
                        "emotion": "fear",
                        "onset_ms": 0,
                        "apex_ms": 0,
                        "offset_ms": 1,
                    }
                ]
            },
            "no emotion",
        ),  # fmt: skip
        (
            {
                "segments": [
                    {"kind": "micro", "emotion": "joy", "onset_ms": 0, "apex_ms": 0, "offset_ms": 1}
                ]
            },
            "emotion",
        ),  # fmt: skip
        (
            {"segments": [{"kind": "micro", "onset_ms": 0, "apex_ms": 0, "offset_ms": 9000}]},
            "ends after",
        ),  # fmt: skip
    ],
)
def test_bad_annotation_is_rejected(change: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        annotation_from_dict(_annotation(**change))


ANNOTATIONS = Path(__file__).parents[1] / "annotations"
PYFEAT_CLIPS = (
    "single_face.mp4",
    "WolfgangLanger_Pexels.mp4",
    "no_face.mp4",
    "face_noface.mov",
    "noface_face.mov",
)


@pytest.mark.parametrize("name", PYFEAT_CLIPS)
def test_committed_annotations_match_the_real_clips(name: str, pyfeat_dir: Path) -> None:
    import hashlib

    from edge.evaluation.clips import frame_times_ms

    a = load_annotation(ANNOTATIONS / f"{name}.json")
    clip = pyfeat_dir / name
    assert a.clip == name
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == a.sha256
    times = frame_times_ms(clip)
    assert len(times) == a.frames
    for s in a.segments:
        for which in ("onset", "apex", "offset"):
            frame = getattr(s, f"{which}_frame")
            assert frame is not None and 0 <= frame < a.frames
            assert getattr(s, f"{which}_ns") == pytest.approx(times[frame] * 1e6, abs=1e3)
        if s.kind == "blink":  # real blinks last 100-400 ms; at 24 fps allow a frame less
            assert 80 <= s.duration_ms <= 400, s
        if s.is_expression:
            assert s.emotion is not None and s.kind == "macro"


def test_single_face_ground_truth_content() -> None:
    a = load_annotation(ANNOTATIONS / "single_face.mp4.json")
    (smile,) = a.expressions
    assert (smile.emotion, smile.onset_frame, smile.apex_frame) == ("happiness", 16, 21)
    assert smile.duration_ms > 1500 and smile.release_frame == 68
    assert [s.kind for s in a.segments] == ["macro", "blink"]
    # face_noface / noface_face splice the same footage: same smile, shifted.
    later = load_annotation(ANNOTATIONS / "noface_face.mov.json")
    (smile2,) = later.expressions
    assert smile2.onset_frame == 16 + 96 and smile2.offset_frame == 71 + 96
    assert [s.kind for s in load_annotation(ANNOTATIONS / "no_face.mp4.json").segments] == [
        "no_face"
    ]


def test_compressed_clip_decodes_and_its_smiles_last_150_to_450_ms(
    tmp_path: Path, pyfeat_dir: Path
) -> None:
    from edge.evaluation.clips import frame_times_ms
    from tools.make_compressed_clips import build

    smiles_clip, neutral_clip = build(tmp_path)
    a = load_annotation(f"{smiles_clip}.json")
    assert len(frame_times_ms(smiles_clip)) == a.frames > 300
    assert len(a.expressions) == 3
    for s in a.expressions:
        assert s.kind == "micro" and s.emotion == "happiness"
        assert 150 <= s.duration_ms <= 450, s.duration_ms
        assert s.onset_ns < s.apex_ns < s.offset_ns
    # Every frame is a real source frame: the smile frames come from the annotated smile.
    src = a.extra["source_frames"]
    first = a.expressions[0]
    assert first.onset_frame is not None and first.offset_frame is not None
    assert src[first.onset_frame] == 16 and src[first.offset_frame] == 71
    calm = load_annotation(f"{neutral_clip}.json")
    assert calm.segments == () and len(frame_times_ms(neutral_clip)) == calm.frames
    assert set(calm.extra["source_frames"]) <= set(range(16))
