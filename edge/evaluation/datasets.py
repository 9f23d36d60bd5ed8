"""Readers for the annotation tables of the licensed micro-expression datasets.

The datasets cannot ship; a licensed user points ``microslip eval`` at their own copy.
- CASME II (``CASME2-coding-*.xlsx`` or a CSV export): header row with Subject, Filename,
  OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion; 200 fps; all micro.
- SAMM (``SAMM_Micro_FACS_Codes*.xlsx``, SAMM Long Videos): a few title rows, then a header
  with Subject, Filename, (Inducement Code), Onset Frame, Apex Frame, Offset Frame, Duration,
  Type, Action Units, Estimated Emotion (the long-video release says Onset/Apex/Offset); 200 fps.
- CAS(ME)^2 (``CAS(ME)^2code_final.xlsx``, first sheet): no header; columns participant,
  clip ``<video>_<n>``, onset, apex, offset (0 = not coded), AUs, estimated emotion, type
  (micro-expression|macro-expression), self-reported emotion; 30 fps.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import InputError
from edge.evaluation.annotations import Segment
from edge.evaluation.xlsx import Cell, read_sheet

FORMATS: tuple[str, ...] = ("casme2", "samm", "casme_sq")
NATIVE_FPS: dict[str, float] = {"casme2": 200.0, "samm": 200.0, "casme_sq": 30.0}

# Dataset emotion words -> our seven classes; anything else (others, repression, positive,
# negative) still counts for spotting but not for emotion scores.
_EMOTION_WORDS: dict[str, str] = {
    "happiness": "happiness",
    "happy": "happiness",
    "joy": "happiness",
    "sadness": "sadness",
    "sad": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
    "fear": "fear",
    "fearful": "fear",
    "anger": "anger",
    "angry": "anger",
    "disgust": "disgust",
    "disgusted": "disgust",
    "contempt": "contempt",
}


@dataclass(frozen=True, slots=True)
class DatasetSample:
    """One coded expression of a dataset table, in the dataset's own frame numbers."""

    dataset: str
    subject: str
    video: str
    onset_frame: int
    apex_frame: int
    offset_frame: int
    kind: str  # micro | macro
    emotion: str | None  # one of EMOTIONS, or None when the label is outside them
    label: str  # the dataset's own emotion label
    action_units: tuple[str, ...]


def map_emotion(label: str) -> str | None:
    """A dataset emotion word as one of our seven emotions, or None."""
    return _EMOTION_WORDS.get(label.strip().lower())


def read_rows(path: Path | str, sheet: str | int = 0) -> list[list[Cell]]:
    """Rows of a CSV (comma, semicolon or tab) or of one .xlsx worksheet."""
    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        return read_sheet(p, sheet)
    try:
        text = p.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read table: {exc}") from exc
    # Title rows above the header defeat csv.Sniffer: take the commonest separator instead
    # (European Excel exports use ';').
    delimiter = max(",;\t", key=text[:8192].count)
    return [list(r) for r in csv.reader(text.splitlines(), delimiter=delimiter)]


def _norm(cell: Cell) -> str:
    return re.sub(r"[\s_]+", "", str(cell or "")).lower()


def _frame(cell: Cell) -> int | None:
    """A frame number cell (numbers may arrive as '46', 46.0 or '/' for not coded)."""
    try:
        value = float(str(cell).strip())
    except ValueError:
        return None
    return int(value) if value == value else None


def _aus(cell: Cell) -> tuple[str, ...]:
    return tuple(a.strip() for a in re.split(r"[+,]", str(cell or "")) if a.strip())


def _name(cell: Cell) -> str:
    # Spreadsheet numbers come back as floats: subject 1 must read "1", not "1.0".
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell or "").strip()


def _header(rows: Sequence[Sequence[Cell]], need: Sequence[str]) -> tuple[int, dict[str, int]]:
    for i, row in enumerate(rows[:40]):
        cols = {_norm(c): j for j, c in enumerate(row) if _norm(c)}
        if all(n in cols for n in need):
            return i, cols
    raise InputError(f"no header row with columns {', '.join(need)} in the first 40 rows")


def _pick(cols: dict[str, int], *names: str) -> int | None:
    return next((cols[n] for n in names if n in cols), None)


def _complete(onset: int, apex: int | None, offset: int | None) -> tuple[int, int, int]:
    # Uncoded apex/offset ('/' or 0) happen in CASME II and CAS(ME)^2: fall back to the
    # other boundaries rather than drop the expression.
    if offset is None or offset <= 0 or offset < onset:
        offset = apex if apex and apex >= onset else onset
    if apex is None or apex <= 0 or not onset <= apex <= offset:
        apex = (onset + offset) // 2
    return onset, apex, offset


def _coded(
    rows: Sequence[Sequence[Cell]],
    h: int,
    width: int,
    c_on: int,
    c_apex: int | None,
    c_off: int | None,
) -> Iterator[tuple[list[Any], tuple[int, int, int]]]:
    """(padded row, (onset, apex, offset)) for every row below the header with an onset."""
    for raw in rows[h + 1 :]:
        row = list(raw) + [None] * (width + 8)
        onset = _frame(row[c_on])
        if onset is None:
            continue
        yield (
            row,
            _complete(
                onset,
                _frame(row[c_apex]) if c_apex is not None else None,
                _frame(row[c_off]) if c_off is not None else None,
            ),
        )


def _tabled(
    dataset: str, path: Path | str, sheet: str | int, onset_names: tuple[str, ...],
    apex_names: tuple[str, ...], offset_names: tuple[str, ...],
) -> list[DatasetSample]:  # fmt: skip
    """CASME II and SAMM share a layout: named columns, one expression per row."""
    rows = read_rows(path, sheet)
    h, cols = _header(rows, ("subject", "filename"))
    c_on = _pick(cols, *onset_names)
    if c_on is None:
        raise InputError(f"{path}: no 'Onset Frame' column")
    c_apex, c_off = _pick(cols, *apex_names), _pick(cols, *offset_names)
    c_type, c_au = _pick(cols, "type"), _pick(cols, "actionunits")
    c_emo = _pick(cols, "estimatedemotion", "emotion")
    out = []
    for row, (on, ap, off) in _coded(rows, h, len(cols), c_on, c_apex, c_off):
        typ = str(row[c_type] or "").lower() if c_type is not None else "micro"
        label = _name(row[c_emo]) if c_emo is not None else ""
        out.append(
            DatasetSample(dataset, _name(row[cols["subject"]]), _name(row[cols["filename"]]),
                          on, ap, off, "macro" if "macro" in typ else "micro",
                          map_emotion(label), label, _aus(row[c_au]) if c_au is not None else ())
        )  # fmt: skip
    return out


def read_casme2(path: Path | str, sheet: str | int = 0) -> list[DatasetSample]:
    """CASME II coding table (all samples are micro-expressions)."""
    return _tabled(
        "casme2", path, sheet, ("onsetframe",), ("apexframe", "apexf1"), ("offsetframe",)
    )


def read_samm(path: Path | str, sheet: str | int = 0) -> list[DatasetSample]:
    """SAMM or SAMM Long Videos coding table (Type says micro or macro when present)."""
    return _tabled(
        "samm", path, sheet, ("onsetframe", "onset"), ("apexframe", "apex"),
        ("offsetframe", "offset"),
    )  # fmt: skip


def read_casme_sq(path: Path | str, sheet: str | int = 0) -> list[DatasetSample]:
    """CAS(ME)^2 code_final table (positional columns; a header row, if any, is skipped)."""
    out = []
    for row in read_rows(path, sheet):
        row = list(row) + [None] * 9
        onset = _frame(row[2])
        if onset is None:  # header or blank row
            continue
        on, ap, off = _complete(onset, _frame(row[3]), _frame(row[4]))
        clip = _name(row[1])
        video = clip.rsplit("_", 1)[0] if "_" in clip else clip
        estimated, reported = _name(row[6]), _name(row[8])
        emotion = map_emotion(estimated) or map_emotion(reported)
        kind = "macro" if "macro" in str(row[7] or "").lower() else "micro"
        label = estimated if map_emotion(estimated) or not reported else reported
        out.append(
            DatasetSample("casme_sq", _name(row[0]), video, on, ap, off, kind, emotion,
                          label, _aus(row[5]))
        )  # fmt: skip
    return out


def detect_format(path: Path | str, sheet: str | int = 0) -> str:
    """Guess the dataset from the table's header row."""
    for row in read_rows(path, sheet)[:40]:
        cols = {_norm(c) for c in row}
        if "onsetframe" in cols and "filename" in cols:
            return "samm" if "inducementcode" in cols or "type" in cols else "casme2"
        if {"onset", "filename", "subject"} <= cols:
            return "samm"
    return "casme_sq"


def read_dataset(path: Path | str, fmt: str = "auto", sheet: str | int = 0) -> list[DatasetSample]:
    """Read a dataset table in the given (or detected) format."""
    fmt = detect_format(path, sheet) if fmt == "auto" else fmt
    readers = {"casme2": read_casme2, "samm": read_samm, "casme_sq": read_casme_sq}
    if fmt not in readers:
        raise InputError(f"unknown dataset format {fmt!r} (use {', '.join(FORMATS)})")
    return readers[fmt](path, sheet)


def to_segments(
    samples: Sequence[DatasetSample], fps: float, first_frame: int = 0
) -> tuple[Segment, ...]:
    """Dataset samples as timed segments: frame k is at (k - first_frame) / fps."""
    if not fps > 0:
        raise InputError("fps must be > 0")

    def ns(frame: int) -> int:
        return max(0, round((frame - first_frame) * 1e9 / fps))

    return tuple(
        Segment(kind=s.kind, onset_ns=ns(s.onset_frame), apex_ns=ns(s.apex_frame),
                offset_ns=ns(s.offset_frame), emotion=s.emotion, action_units=s.action_units,
                onset_frame=s.onset_frame, apex_frame=s.apex_frame, offset_frame=s.offset_frame,
                note=f"{s.dataset} {s.subject}/{s.video} {s.label}".strip())
        for s in samples
    )  # fmt: skip
