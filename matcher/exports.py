"""Writing tables for people: CSV/JSON text and XLSX sheets, with spreadsheet formula injection neutralised.

In CSV a text a spreadsheet would run (it starts with = + - @, a tab or a line break) gets a leading apostrophe
(``safe_cell``); in XLSX it stays as written in a text cell that carries Excel's quote prefix (``xlsx_cell``,
``as_text``): shown exactly as written, never run, and a bullet such as "- Ensure access" keeps its look."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Optional, Sequence

EXCEL_MAX_ROWS = 1_048_576  # rows of an XLSX sheet, the header included
XLSX_CELL_CHARS = 32767  # characters Excel keeps in one cell
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> Any:
    """A cell value that a spreadsheet program will show as text, never run as a formula.

    Strings starting with = + - @ tab or CR (and their full-width forms) get a leading apostrophe,
    as OWASP recommends; numbers, dates and None pass through unchanged.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def xlsx_cell(ws, value: Any) -> Any:
    """``value`` for a new cell of the XLSX sheet ``ws``: a string a spreadsheet would run becomes a text cell with
    Excel's quote prefix (not a formula, and no apostrophe added to the text); anything else passes unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        from openpyxl.cell import WriteOnlyCell

        return as_text(WriteOnlyCell(ws, value=value))
    return value


def as_text(cell):
    """``cell`` (an openpyxl cell) made a text cell with Excel's quote prefix when its string looks like a formula
    (openpyxl takes a string starting with '=' for a formula); returns the cell."""
    if isinstance(cell.value, str) and cell.value.startswith(_FORMULA_START):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def flat(value: Any) -> Any:
    """A scalar for one CSV/XLSX cell: lists become '; '-joined text, dicts JSON."""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(flat(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def to_csv(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """CSV text of ``rows`` restricted to ``columns``; every text cell is formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(flat(row.get(c))) for c in columns])
    return out.getvalue()


def to_json(data: Any) -> str:
    """JSON text (dates as ISO strings, decimals as numbers)."""
    def default(v):
        if isinstance(v, Decimal):
            return float(v)
        if isinstance(v, (date, datetime)):
            return v.isoformat()
        raise TypeError(type(v).__name__)

    return json.dumps(data, ensure_ascii=False, indent=2, default=default)


def to_xlsx(path, sheets: dict[str, tuple[Sequence[dict], Sequence[str]]]) -> None:
    """Write an XLSX workbook: one flat sheet per entry (header row + one row per dict, no merged cells),
    every text cell formula-safe, the header frozen and filterable so the sheet is pivot-ready."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, (rows, columns) in sheets.items():
        write_sheet(wb.create_sheet(title=name[:31]), rows, columns)
    wb.save(path)


def _fit(value: Any) -> Any:
    """A text longer than an XLSX cell holds, cut so that the cell says it was cut (the CSV export keeps it whole)."""
    if isinstance(value, str) and len(value) > XLSX_CELL_CHARS:
        note = f" … [cut: {len(value):,} characters; the CSV export has the whole text]"
        return value[:XLSX_CELL_CHARS - len(note)] + note
    return value


def write_sheet(ws, rows: Sequence[dict], columns: Sequence[str], number_formats: Optional[dict[str, str]] = None) -> int:
    """Fill an openpyxl worksheet with a flat table: header row, one row per dict, header frozen, autofilter on,
    every text cell formula-safe; ``number_formats`` maps a column to an Excel number format. Returns rows written."""
    from openpyxl.utils import get_column_letter

    if len(rows) >= EXCEL_MAX_ROWS:
        raise ValueError(f"sheet '{ws.title}': {len(rows):,} rows do not fit in a spreadsheet "
                         f"({EXCEL_MAX_ROWS - 1:,} at most); export it as CSV instead")
    ws.append([xlsx_cell(ws, str(c)) for c in columns])
    widths = [len(str(c)) + 2 for c in columns]
    for n, row in enumerate(rows):
        values = [_fit(flat(row.get(c))) for c in columns]
        ws.append([xlsx_cell(ws, v) for v in values])
        if n < 200:  # column widths from a sample: enough to read, cheap on big sheets
            widths = [max(w, len(str(v)) + 2 if v is not None else 0) for w, v in zip(widths, values)]
    ws.freeze_panes = "A2"
    if columns:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(rows) + 1, 1)}"
        for k, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(k)].width = min(max(w, 10), 60)
    for column, fmt in (number_formats or {}).items():
        if column in columns:
            k = list(columns).index(column) + 1
            for (cell,) in ws.iter_rows(min_row=2, min_col=k, max_col=k):
                cell.number_format = fmt
    return len(rows)
