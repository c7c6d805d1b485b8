"""Streaming rows out of CSV (any of the encodings users have) and XLSX files.

Shared by every tabular reader.  Rows come one at a time as (row number, {header: value}); the
row number is the one a spreadsheet program shows (header = row 1).

An XLSX formula cell whose file saved no value (a workbook written by a program that does not
calculate) never passes as an empty cell unsaid: in a column the reader reads it is a warning on
the row naming the sheet, cell and formula, and the cell is then read as empty, so the reader's own
rule for an empty cell decides (a recommendation with no text, a money line with no amount: skipped
and counted; an optional cell: left empty).  Not fatal: the rest of the row is valid, and the one
such cell in the real UN INFO export here is a description the exporter wrote as a formula
("- Instant networking schools…"), which a re-save only turns into an error value (LibreOffice
saves #VALUE!).
"""
from __future__ import annotations

import codecs
import csv
import io
from typing import Any, Collection, Iterator, Optional

from matcher import xlsx
from matcher.records import Batch, IngestError
from matcher.tables import detect_delimiter, detect_encoding  # the one encoding and delimiter rule
from matcher.sources import Source

csv.field_size_limit(16 * 1024 * 1024)

XLSX_MAGIC = b"PK\x03\x04"
HEADER_SCAN_ROWS = 20  # an XLSX header may sit under a title block


def is_xlsx(source: Source) -> bool:
    return source.head(4) == XLSX_MAGIC


def csv_rows(source: Source, *, encoding: Optional[str] = None) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file as dicts keyed by the stripped header; fatal problems raise IngestError."""
    head = source.head()
    if not head.strip():
        raise IngestError(source.name, "the file is empty")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise IngestError(source.name, "the file contains NUL bytes: it is binary or UTF-16 without a byte-order "
                          "mark, not a CSV text file")
    enc = encoding or detect_encoding(source)
    delimiter = detect_delimiter(head.decode(enc, errors="replace").lstrip("\ufeff"))
    raw = source.open()
    text = io.TextIOWrapper(raw, encoding=enc, errors="strict", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    line = 1
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise IngestError(source.name, "the file has no header row", row=1)
        keys = [h.strip().lstrip("\ufeff") for h in header]
        width = len(keys)
        pending: tuple[int, list[str]] | None = None
        for line, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) > width and any(v.strip() for v in values[width:]):
                raise IngestError(source.name, f"{len(values)} cells but the header has {width} columns "
                                  "(an unquoted comma or a broken line?)", row=line)
            if pending is not None:
                yield pending[0], _record(keys, pending[1])
            pending = (line, values)
        if pending is not None:
            last_line, values = pending
            if len(values) < width:
                # a short LAST row is what a file cut off in transfer looks like: refuse, never store half a row
                raise IngestError(source.name, f"the last row has {len(values)} of {width} cells: the file "
                                  "looks truncated", row=last_line)
            yield last_line, _record(keys, values)
    except UnicodeDecodeError as exc:
        raise IngestError(source.name, f"not valid {enc} text ({exc.reason}) near row {line + 1}; "
                          "pass the right --encoding", row=line + 1) from None
    except csv.Error as exc:
        raise IngestError(source.name, f"malformed CSV: {exc}", row=line + 1) from None
    finally:
        raw.close()


def _record(keys: list[str], values: list[str]) -> dict[str, str]:
    """{header: cell} of a CSV row; missing cells are "" (a later column of the same name wins, as in a dict)."""
    if len(values) < len(keys):
        values = values + [""] * (len(keys) - len(values))
    return dict(zip(keys, values))


def _workbook(source: Source) -> xlsx.Workbook:
    try:
        return xlsx.Workbook(source.path if source.path is not None else source.open())
    except xlsx.XlsxError as exc:
        raise IngestError(source.name, str(exc), row=exc.row) from None


def xlsx_head(source: Source, max_row: int = HEADER_SCAN_ROWS) -> list[tuple[int, list[Any]]]:
    """(row number, values) of the rows among the first ``max_row`` of the first sheet (for finding a header).

    A formula cell with no saved value is an ``xlsx.UnsavedFormula``, whose text names it in a list of columns found.
    """
    with _workbook(source) as book:
        try:
            return list(book.rows(max_row=max_row, mark_unsaved=True))
        except xlsx.XlsxError as exc:
            raise IngestError(source.name, str(exc), row=exc.row) from None


def xlsx_rows(source: Source, *, batch: Batch, sheet: Optional[str] = None, header_row: Optional[int] = None,
              required: tuple[str, ...] = (), used: Optional[Collection[str]] = None,
              dropped: Collection[str] = ()) -> Iterator[tuple[int, dict[str, object]]]:
    """Rows of one sheet of an XLSX workbook, streamed (``matcher.xlsx``).

    The header is row ``header_row`` or, when not given, the first row within the first 20 that
    contains every ``required`` column.  A formula cell with no saved value is read as None: in a
    column the reader reads (``used``; default every named column but the ``dropped`` ones, which a reader
    discards unread, e.g. staff names) with a warning on ``batch``.
    A header cell with no saved value names no column: warned, and its column is not read.
    """
    book = _workbook(source)
    sheet_name = sheet or next(iter(book.sheets), "")
    try:
        keys: list[str] | None = None
        pairs: list[tuple[int, str]] = []  # (index, key) of the named columns
        named = False
        seen = 0  # book.unsaved_cells when the last row was looked at: one comparison per row
        for n, values in book.rows(sheet, mark_unsaved=True):
            if book.unsaved_cells != seen:
                seen = book.unsaved_cells
                if keys is not None:
                    _unsaved_cells(batch, sheet_name, keys, used, dropped, n, values)
            if keys is None:
                if header_row is not None and n < header_row:
                    continue
                if header_row is None and required and n > HEADER_SCAN_ROWS:
                    break
                cells = ["" if v is None else str(v).strip() for v in values]
                if header_row is None and required and not set(required) <= set(cells):
                    continue
                for i, v in enumerate(values):
                    if type(v) is xlsx.UnsavedFormula:
                        batch.problem(n, None, f"{xlsx.unsaved_header(v, i, n, sheet_name)} and is not read; "
                                      f"{xlsx.UNSAVED_HINT}", "warning")
                        cells[i] = ""
                keys = cells
                pairs = [(i, k) for i, k in enumerate(keys) if k]
                named = all(keys)  # no unnamed column: a row is the header zipped with its cells
                continue
            if not any(v is not None and v != "" for v in values):
                continue
            width = len(values)
            if named and width >= len(keys):
                yield n, dict(zip(keys, values))
            else:
                yield n, {k: values[i] for i, k in pairs if i < width}
        if keys is None:
            raise IngestError(source.name, "no header row found" + (f" with columns {', '.join(required)}" if required else ""))
    except xlsx.XlsxError as exc:
        raise IngestError(source.name, str(exc), row=exc.row) from None
    finally:
        book.close()


def _cell(col: int, row: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(col + 1)}{row}"


def _unsaved_cells(batch: Batch, sheet: str, keys: list[str], used: Optional[Collection[str]],
                   dropped: Collection[str], row: int, values: list[Any]) -> None:
    """Formula cells with no saved value become None, each warned about when its column is read."""
    for i, v in enumerate(values):
        if type(v) is xlsx.UnsavedFormula:
            values[i] = None
            key = keys[i] if i < len(keys) else ""
            if key and key not in dropped and (used is None or key in used):
                batch.problem(row, key, f"{v.describe()} in sheet '{sheet}', cell {_cell(i, row)}: read as empty; "
                              f"{xlsx.UNSAVED_HINT}", "warning")


def rows(source: Source, *, batch: Batch, encoding: Optional[str] = None, required: tuple[str, ...] = (),
         used: Optional[Collection[str]] = None, dropped: Collection[str] = ()) -> Iterator[tuple[int, dict]]:
    """Rows of a CSV or XLSX source, chosen by content; ``batch``, ``used`` and ``dropped``: see ``xlsx_rows``."""
    if is_xlsx(source):
        return xlsx_rows(source, batch=batch, required=required, used=used, dropped=dropped)
    return csv_rows(source, encoding=encoding)


def delimiter(source: Source, encoding: Optional[str] = None) -> str:
    """The cell delimiter of a CSV source (comma, semicolon or tab; see ``detect_delimiter``)."""
    enc = encoding or detect_encoding(source)
    return detect_delimiter(source.head().decode(enc, errors="replace").lstrip("\ufeff"))


def header(source: Source, *, encoding: Optional[str] = None, required: tuple[str, ...] = ()) -> list[str]:
    """Column names of a CSV/XLSX source (cheap: reads only the start of the file)."""
    if is_xlsx(source):
        for _, values in xlsx_head(source):
            cells = ["" if v is None else str(v).strip() for v in values]
            if not required or set(required) <= set(cells):
                return cells
        return []
    head = source.head()
    enc = encoding or ("utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8")
    text = head.decode(enc, errors="replace")
    first = next(csv.reader(io.StringIO(text, newline=""), delimiter=detect_delimiter(text.lstrip("\ufeff"))), [])
    return [h.strip().lstrip("\ufeff") for h in first]


def missing_columns(source: Source, found: list[str], required: tuple[str, ...]) -> None:
    """Raise a clear IngestError naming the required columns the file lacks."""
    missing = [c for c in required if c not in found]
    if missing:
        raise IngestError(source.name, f"missing required column(s): {', '.join(missing)} "
                          f"(found: {', '.join(c for c in found if c) or 'none'})", row=1)
