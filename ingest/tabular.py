"""Streaming rows out of CSV (any of the encodings users have) and XLSX files.

Shared by every tabular reader.  Rows come one at a time as (row number, {header: value}); the
row number is the one a spreadsheet program shows (header = row 1).
"""
from __future__ import annotations

import codecs
import csv
import io
import zipfile
from typing import Iterator, Optional

from matcher.records import IngestError
from matcher.tables import detect_encoding  # the one encoding rule
from matcher.sources import Source

csv.field_size_limit(16 * 1024 * 1024)

XLSX_MAGIC = b"PK\x03\x04"


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
    raw = source.open()
    text = io.TextIOWrapper(raw, encoding=enc, errors="strict", newline="")
    reader = csv.reader(text)
    line = 1
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise IngestError(source.name, "the file has no header row", row=1)
        keys = [h.strip().lstrip("\ufeff") for h in header]
        pending: tuple[int, list[str]] | None = None
        for line, values in enumerate(reader, start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(keys) and any(v.strip() for v in values[len(keys):]):
                raise IngestError(source.name, f"{len(values)} cells but the header has {len(keys)} columns "
                                  "(an unquoted comma or a broken line?)", row=line)
            if pending is not None:
                yield pending[0], {k: (pending[1][i] if i < len(pending[1]) else "") for i, k in enumerate(keys)}
            pending = (line, values)
        if pending is not None:
            last_line, values = pending
            if len(values) < len(keys):
                # a short LAST row is what a file cut off in transfer looks like: refuse, never store half a row
                raise IngestError(source.name, f"the last row has {len(values)} of {len(keys)} cells: the file "
                                  "looks truncated", row=last_line)
            yield last_line, {k: (values[i] if i < len(values) else "") for i, k in enumerate(keys)}
    except UnicodeDecodeError as exc:
        raise IngestError(source.name, f"not valid {enc} text ({exc.reason}) near row {line + 1}; "
                          "pass the right --encoding", row=line + 1) from None
    except csv.Error as exc:
        raise IngestError(source.name, f"malformed CSV: {exc}", row=line + 1) from None
    finally:
        raw.close()


def xlsx_rows(source: Source, *, sheet: Optional[str] = None, header_row: Optional[int] = None,
              required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, object]]]:
    """Rows of one sheet of an XLSX workbook, streamed (openpyxl read-only mode).

    The header is row ``header_row`` or, when not given, the first row within the first 20 that
    contains every ``required`` column.
    """
    from openpyxl import load_workbook

    try:
        wb = load_workbook(source.open(), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise IngestError(source.name, f"not a readable XLSX workbook (truncated or damaged?): {exc}") from None
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
    except KeyError:
        raise IngestError(source.name, f"no sheet named '{sheet}' (sheets: {', '.join(wb.sheetnames)})") from None
    try:
        rows = ws.iter_rows(values_only=True)
        keys: list[str] | None = None
        pending = []
        for n, values in enumerate(rows, start=1):
            cells = ["" if v is None else str(v).strip() for v in values]
            if keys is None:
                if header_row is not None and n < header_row:
                    continue
                if header_row is None and required and not set(required) <= set(cells):
                    pending.append(n)
                    if n >= 20:
                        break
                    continue
                keys = cells
                continue
            if not any(v not in (None, "") for v in values):
                continue
            yield n, {k: values[i] for i, k in enumerate(keys) if k and i < len(values)}
        if keys is None:
            raise IngestError(source.name, "no header row found" + (f" with columns {', '.join(required)}" if required else ""))
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as exc:
        raise IngestError(source.name, f"the workbook is damaged or truncated: {exc}") from None
    finally:
        wb.close()


def rows(source: Source, *, encoding: Optional[str] = None, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """Rows of a CSV or XLSX source, chosen by content."""
    if is_xlsx(source):
        return xlsx_rows(source, required=required)
    return csv_rows(source, encoding=encoding)


def header(source: Source, *, encoding: Optional[str] = None, required: tuple[str, ...] = ()) -> list[str]:
    """Column names of a CSV/XLSX source (cheap: reads only the start of the file)."""
    if is_xlsx(source):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(source.open(), read_only=True, data_only=True)
            try:
                for values in wb.worksheets[0].iter_rows(values_only=True, max_row=20):
                    cells = ["" if v is None else str(v).strip() for v in values]
                    if not required or set(required) <= set(cells):
                        return cells
                return []
            finally:
                wb.close()
        except IngestError:
            raise
        except Exception as exc:  # noqa: BLE001 - zipfile/openpyxl raise many types for damaged files
            raise IngestError(source.name, f"not a readable XLSX workbook (truncated or damaged?): "
                              f"{type(exc).__name__}: {exc}") from None
    head = source.head()
    enc = encoding or ("utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8")
    text = head.decode(enc, errors="replace")
    first = next(csv.reader(io.StringIO(text, newline="")), [])
    return [h.strip().lstrip("\ufeff") for h in first]


def missing_columns(source: Source, found: list[str], required: tuple[str, ...]) -> None:
    """Raise a clear IngestError naming the required columns the file lacks."""
    missing = [c for c in required if c not in found]
    if missing:
        raise IngestError(source.name, f"missing required column(s): {', '.join(missing)} "
                          f"(found: {', '.join(c for c in found if c) or 'none'})", row=1)
