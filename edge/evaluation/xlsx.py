"""A small read-only .xlsx reader (stdlib zip + XML) so dataset tables need no openpyxl.

It returns cell values as strings, numbers or None; formulas give their cached value.
Enough for annotation spreadsheets; not a general spreadsheet library.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

from edge.errors import InputError

_NS = {
    "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}
Cell = str | float | None


def _col_index(ref: str) -> int:
    """'C7' -> 2 (zero-based column of a cell reference)."""
    letters = re.match(r"[A-Z]+", ref)
    if letters is None:
        raise InputError(f"xlsx: bad cell reference {ref!r}")
    n = 0
    for ch in letters.group(0):
        n = n * 26 + ord(ch) - 64
    return n - 1


def _text(el: ET.Element) -> str:
    # Rich text splits a string into runs: join every <t> below the element.
    return "".join(t.text or "" for t in el.iter(f"{{{_NS['m']}}}t"))


def sheet_names(path: Path | str) -> list[str]:
    """Names of the worksheets in workbook order."""
    with _open(path) as z:
        wb = ET.fromstring(z.read("xl/workbook.xml"))
    return [s.get("name", "") for s in wb.iterfind("m:sheets/m:sheet", _NS)]


def _open(path: Path | str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .xlsx file: {exc}") from exc


def read_sheet(path: Path | str, sheet: str | int = 0) -> list[list[Cell]]:
    """All rows of one worksheet (by name or index) as lists of cell values."""
    with _open(path) as z:
        wb = ET.fromstring(z.read("xl/workbook.xml"))
        sheets = wb.findall("m:sheets/m:sheet", _NS)
        if isinstance(sheet, int):
            if not 0 <= sheet < len(sheets):
                raise InputError(f"{path}: no sheet #{sheet}")
            chosen = sheets[sheet]
        else:
            found = [s for s in sheets if s.get("name") == sheet]
            if not found:
                names = ", ".join(s.get("name", "") for s in sheets)
                raise InputError(f"{path}: no sheet {sheet!r} (have: {names})")
            chosen = found[0]
        rid = chosen.get(f"{{{_NS['r']}}}id")
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        target = next(r.get("Target", "") for r in rels if r.get("Id") == rid)
        target = target.lstrip("/")
        member = target if target.startswith("xl/") else f"xl/{target}"
        shared: list[str] = []
        if "xl/sharedStrings.xml" in z.namelist():
            sst = ET.fromstring(z.read("xl/sharedStrings.xml"))
            shared = [_text(si) for si in sst.iterfind("m:si", _NS)]
        root = ET.fromstring(z.read(member))
    rows: list[list[Cell]] = []
    for row in root.iterfind("m:sheetData/m:row", _NS):
        r_attr = row.get("r")
        index = int(r_attr) - 1 if r_attr else len(rows)
        while len(rows) < index:  # empty rows are omitted from the XML
            rows.append([])
        values: list[Cell] = []
        for c in row.iterfind("m:c", _NS):
            ref = c.get("r")
            col = _col_index(ref) if ref else len(values)
            values.extend([None] * (col - len(values)))
            kind = c.get("t", "n")
            v = c.find("m:v", _NS)
            value: Cell
            if kind == "inlineStr":
                value = _text(c)
            elif v is None or v.text is None:
                value = None
            elif kind == "s":
                value = shared[int(v.text)]
            elif kind in ("str", "e"):
                value = v.text
            elif kind == "b":
                value = float(v.text)
            else:
                value = float(v.text)
            values.append(value)
        rows.append(values)
    return rows
