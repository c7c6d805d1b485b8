"""Plain tables in and out (CSV or XLSX), streamed, for commands that annotate a user's file.

``read_table`` gives the header and the rows as lists (duplicate or empty header names survive, so
the output can repeat the input columns exactly; XLSX through ``matcher.xlsx``); ``TableWriter`` writes
CSV (csv module) or XLSX (openpyxl write-only) with every text cell neutralised against formula injection.  Ingest readers
have their own, stricter row reader in ``ingest/tabular.py``; matcher never imports ingest, hence
this small one.

An XLSX formula cell whose file saved no value (written by a program that does not calculate) is an
``UnsavedFormula`` in a row, never an empty cell: each command decides what that means for it
(``upr-align classify`` copies its formula and leaves such a text unclassified, saying so; ``upr-align
evaluate`` skips and counts the row).
"""
from __future__ import annotations

import codecs
import csv
import difflib
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from . import xlsx
from .exports import XLSX_CELL_CHARS, safe_cell, xlsx_cell
from .sources import Source
from .xlsx import UNSAVED_HINT, UnsavedFormula

csv.field_size_limit(16 * 1024 * 1024)

XLSX_MAGIC = b"PK\x03\x04"


class TableError(ValueError):
    """The file cannot be read as a table; the message names the file (and row where known)."""


@dataclass
class Table:
    """A table being read: ``columns`` (header cells as written, stripped) and ``rows`` (lazy)."""

    name: str  # the file's name; with the sheet ("book.xlsx, sheet 'Data'") in a workbook of several sheets
    columns: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (row number as a spreadsheet shows it, cells padded to the header)
    sheet: Optional[str] = None  # the sheet read, in a workbook of several sheets
    also: tuple[str, ...] = ()  # other sheets with the columns asked for, not read


def has_unsaved(cells: list[Any]) -> bool:
    """True when a row holds an XLSX formula cell the file saved no value of."""
    return any(type(v) is UnsavedFormula for v in cells)


def is_xlsx(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == XLSX_MAGIC


DELIMITERS = (",", ";", "\t")


def detect_delimiter(first_line: str) -> str:
    """The delimiter of a CSV file from its header line: the one of comma, semicolon and tab found most often
    outside quotes (spreadsheet programs in many European locales save CSV with semicolons); comma on a tie."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
        elif not quoted and ch in "\r\n":
            break
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def detect_encoding(file: "str | Path | Source") -> str:
    """utf-8(-sig)/utf-16 by BOM; utf-8 if the whole file decodes; mac_roman for CR-only files; else cp1252.

    The one encoding rule of the product (ingest readers and ``upr-align classify`` both use it).
    """
    source = Source.of(file)
    head = source.head()
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with source.open() as fh:  # 1 MiB steps: memory stays flat on big files
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(chunk, final=False)
        decoder.decode(b"", final=True)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\r" in head and b"\n" not in head:
        return "mac_roman"  # classic-Mac exports (UPR Info): CR line ends
    return "cp1252"


def read_table(path: str | Path, *, encoding: str | None = None, columns: Sequence[str] = (),
               sheet: Optional[str] = None) -> Table:
    """Open a CSV or XLSX file (chosen by content) and return its header and a lazy row iterator.

    Blank rows are skipped; short rows are padded with "" (CSV) or None (XLSX).  Raises
    ``TableError`` for an empty, undecodable or damaged file.  A workbook is read from ``sheet`` when given;
    else from its first visible sheet that has all ``columns`` (the columns the caller needs: an instructions sheet
    in front does no harm), or its first visible sheet when no column is asked for.  In a workbook of several
    sheets the table's name names the sheet ("labels.xlsx, sheet 'Data'") and ``Table.also`` lists the other sheets
    that have the columns too (not read).  When no sheet has them, a one-sheet workbook is read anyway (the caller's
    "no column" error says what it holds); otherwise the error lists every sheet with its columns.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    if is_xlsx(path):
        return _read_xlsx(path, tuple(columns), sheet)
    if sheet is not None:
        raise TableError(f"{path.name}: a sheet ('{sheet}') was asked for, but this is a CSV file, not a workbook")
    return _read_csv(path, encoding or detect_encoding(path))


def _same_name(a: str, b: str) -> bool:
    """The same column name but for case and spacing ("Paragraph" and "paragraph ")."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def require_columns(table: Table, columns: Sequence[str], *, unique: bool = False) -> list[int]:
    """The index of each of ``columns`` in ``table``; a TableError naming a missing one (with the header's spelling
    when only case or spacing differs, or a close name), the columns found and where the header was read."""
    out = []
    for col in columns:
        if col not in table.columns:
            found = [c for c in table.columns if c]
            same = [c for c in found if _same_name(c, col)]
            near = same or difflib.get_close_matches(col, found, n=1, cutoff=0.75)
            raise TableError(f"{table.name}: no column '{col}'" + (f" (did you mean '{near[0]}'?)" if near else "")
                             + f"; columns found: {', '.join(repr(c) for c in found) or 'none'} (the header is the "
                             "first row that is not empty)")
        if unique and table.columns.count(col) > 1:
            raise TableError(f"{table.name}: {table.columns.count(col)} columns are named '{col}'; rename all but one")
        out.append(table.columns.index(col))
    return out


def _read_csv(path: Path, encoding: str) -> Table:
    fh = open(path, encoding=encoding, errors="strict", newline="")
    try:
        first = fh.readline()
        fh.seek(0)
        reader = csv.reader(fh, delimiter=detect_delimiter(first))
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        fh.close()
        # the first read decodes a whole block, so the bad byte may be on any of the first rows
        raise TableError(f"{path.name}: not valid {encoding} text near the start ({exc.reason}); save the file as "
                         "UTF-8") from None
    except csv.Error as exc:
        fh.close()
        raise TableError(f"{path.name}: row 1: cannot read the header ({exc})") from None
    if not header or not any(h.strip() for h in header):
        fh.close()
        raise TableError(f"{path.name}: the file has no header row")
    columns = [h.strip().lstrip("\ufeff") for h in header]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        line = 1
        try:
            for line, values in enumerate(reader, start=2):
                if not any(v.strip() for v in values):
                    continue
                yield line, values + [""] * (len(columns) - len(values))
        except UnicodeDecodeError as exc:
            raise TableError(f"{path.name}: row {line + 1}: not valid {encoding} text ({exc.reason})") from None
        except csv.Error as exc:
            raise TableError(f"{path.name}: row {line + 1}: malformed CSV: {exc}") from None
        finally:
            fh.close()

    return Table(path.name, columns, rows())


def _read_xlsx(path: Path, want: tuple[str, ...] = (), sheet: Optional[str] = None) -> Table:
    try:
        book = xlsx.Workbook(path)
    except xlsx.XlsxError as exc:
        raise TableError(f"{path.name}: {exc}") from None
    try:
        name, chosen, (it, columns, _), also = _choose_sheet(book, path.name, want, sheet)
    except BaseException:
        book.close()
        raise

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for n, values in it:
                if not any(v not in (None, "") for v in values):
                    continue
                cells = values[: len(columns)]
                yield n, cells + [None] * (len(columns) - len(cells))
        except xlsx.XlsxError as exc:
            raise TableError(f"{name}: " + (f"row {exc.row}: " if exc.row else "") + str(exc)) from None
        finally:
            book.close()

    return Table(name, columns, rows(), chosen, also)


def _choose_sheet(book, file_name: str, want: tuple[str, ...], asked: Optional[str]):
    """(table name, sheet name or None, header, other sheets with the columns) of the sheet to read (``read_table``).

    A header cell holding a formula with no saved value names no column; it is an error only when it may be the
    column asked for: without ``want`` (the whole header matters), or when a wanted column is missing.
    """
    sheets = list(book.sheets)
    if not sheets:
        raise TableError(f"{file_name}: the workbook has no worksheet")

    def label(sheet: str) -> str:
        hidden = "hidden " if sheet in book.hidden else ""
        return f"{file_name}, {hidden}sheet '{sheet}'" if len(sheets) > 1 else file_name

    def checked(sheet: str, header):  # an unsaved header cell that may be a wanted column is an error
        if header[2] and (not want or not all(c in header[1] for c in want)):
            header[0].close()
            raise TableError(f"{label(sheet)}: {header[2][0]}: {UNSAVED_HINT}")
        return header

    if asked is not None:
        if asked not in book.sheets:
            raise TableError(f"{file_name}: no sheet named '{asked}' (sheets: {', '.join(repr(s) for s in sheets)})")
        return label(asked), asked if len(sheets) > 1 else None, checked(asked, _xlsx_header(book, asked,
                                                                                            label(asked))), ()
    order = [s for s in sheets if s not in book.hidden] + [s for s in sheets if s in book.hidden]
    if not want or len(sheets) == 1:
        first = order[0]
        return label(first), first if len(sheets) > 1 else None, checked(first, _xlsx_header(book, first,
                                                                                            label(first))), ()
    found, held, seen = [], [], []
    for sheet in order:
        try:
            header = _xlsx_header(book, sheet, label(sheet))
        except TableError as exc:
            held.append(f"'{sheet}' {_unreadable(exc, label(sheet))}")
            continue
        seen += [(sheet, c) for c in header[1] if c]
        if all(c in header[1] for c in want):
            found.append((sheet, header))
            if len(found) > 1:
                header[0].close()
        else:
            header[0].close()
            held.append(f"'{sheet}'{' (hidden)' if sheet in book.hidden else ''} {_holds(header)}")
    if not found:
        first_sheet = {}  # each close spelling once, with the first sheet that has it
        for w in want:
            if not any(w == c for _, c in seen):
                for s, c in seen:
                    first_sheet.setdefault(c, s) if _same_name(w, c) else None
        near = [f"'{c}' on sheet '{s}'" for c, s in list(first_sheet.items())[:3]]
        raise TableError(f"{file_name}: no sheet has {'the column' if len(want) == 1 else 'all the columns'} "
                         f"{', '.join(repr(c) for c in want)}" + (f" (did you mean {' or '.join(near)}?)" if near else "")
                         + f"; sheets: {'; '.join(held)}")
    sheet, header = found[0]
    return label(sheet), sheet, header, tuple(s for s, _ in found[1:])


def _unreadable(exc: Optional[Exception], label: str) -> str:
    text = str(exc).removeprefix(f"{label}: ")
    return "has no header row" if text.endswith("sheet has no header row") else f"cannot be read ({text})"


def _holds(header, most: int = 8) -> str:
    """"holds 'text', 'SDG'" (at most ``most`` names; a header cell with no saved value said apart)."""
    named = [repr(c if len(c) <= 60 else c[:59] + "…") for c in header[1] if c]
    shown = ", ".join(named[:most]) + (f" and {len(named) - most} more" if len(named) > most else "")
    return (f"holds {shown}" if named else "holds no named column") + "".join(f" ({n})" for n in header[2])


def _xlsx_header(book, sheet: Optional[str], name: str) -> tuple[Iterator, list[str], list[str]]:
    """(row iterator after the header, column names, what to say of its header cells with no saved value) of one
    sheet (None: the first); such a cell names no column ("")."""
    header: list[Any] = []
    header_row = 0
    try:
        it = book.rows(sheet, mark_unsaved=True)
        for header_row, values in it:  # first non-empty row is the header
            if any(v not in (None, "") for v in values):
                header = values
                break
    except xlsx.XlsxError as exc:
        raise TableError(f"{name}: {exc}") from None
    if not header:
        raise TableError(f"{name}: the sheet has no header row")
    notes = [f"row {header_row}: {xlsx.unsaved_header(v, i, header_row)}"
             for i, v in enumerate(header) if type(v) is UnsavedFormula]
    columns = ["" if v is None or type(v) is UnsavedFormula else str(v).strip() for v in header]
    while columns and not columns[-1] and type(header[len(columns) - 1]) is not UnsavedFormula:
        columns.pop()  # trailing empty header cells are formatting, not columns (a formula's column is one)
    return it, columns, notes


# CSV files and downloads start with a UTF-8 byte-order mark: Excel reads a CSV without one in the system's code page
# (accents garbled); every reader of this project, pandas and Python's utf-8-sig skip it.  Not on stdout.
CSV_FILE_ENCODING = "utf-8-sig"


class TableWriter:
    """Write rows to ``path`` as XLSX (suffix .xlsx) or UTF-8 CSV; every text cell is formula-safe.

    Use as a context manager: ``with TableWriter(path, columns) as w: w.write(cells)``.  An XLSX cell keeps at most
    ``XLSX_CELL_CHARS`` characters (what Excel holds): longer text is cut there and counted in ``cells_cut``.
    The rows go to a temporary file beside ``path`` that replaces it only when the block ends without an error:
    a job that fails half way leaves no half-written table (and an earlier file of that name as it was), and a
    table written over the file it reads from is not cut short while it is read.  A target that could not be
    written (no such folder, a folder, a read-only file, a file another program holds) is a TableError at once,
    before any work; a symbolic link is written through.
    """

    def __init__(self, path: str | Path, columns: list[str]):
        self.path = Path(path)
        self.xlsx = self.path.suffix.lower() == ".xlsx"
        self.columns = columns
        self.rows = 0
        self.cells_cut = 0

    def __enter__(self) -> "TableWriter":
        self._target = Path(os.path.realpath(self.path))  # through a symbolic link: the file it points to
        self._check_target()
        tmp = self._target.parent / f".{self._target.name}.{secrets.token_hex(4)}.part"
        try:  # created as a plain open() would create the file (the umask applies), never over another file
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            raise TableError(f"{self.path}: cannot write a file in {self._target.parent} ({exc.strerror})") from None
        self._tmp = tmp
        if self.xlsx:
            from openpyxl import Workbook

            os.close(fd)
            self._wb = Workbook(write_only=True)
            self._ws = self._wb.create_sheet("classified")
        else:
            self._fh = open(fd, "w", encoding=CSV_FILE_ENCODING, newline="")
            self._csv = csv.writer(self._fh)
        try:
            self._write_raw(self.columns)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _check_target(self) -> None:
        """Refuse at once, before any work, a target that could not be written at the end."""
        target = self._target
        if not target.parent.is_dir():
            raise TableError(f"{self.path}: no folder {target.parent}")
        if target.is_dir():
            raise TableError(f"{self.path}: is a folder; give a file name ending in .csv or .xlsx")
        if target.exists():
            if not os.access(target, os.W_OK):
                raise TableError(f"{self.path}: the file is read-only; choose another name or make it writable")
            try:  # a file another program holds open (Excel on Windows) is refused here, not after the work
                open(target, "r+b").close()
            except OSError as exc:
                raise TableError(f"{self.path}: cannot be written ({exc.strerror}; is it open in another "
                                 "program?)") from None

    def write(self, cells: list[Any]) -> None:
        """One row, in the order of ``columns``."""
        self._write_raw(cells)
        self.rows += 1

    def _write_raw(self, cells: list[Any]) -> None:
        if self.xlsx:
            from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

            # control characters (e.g. vertical tab pasted from Word) are not allowed in XLSX cells
            cells = [ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in cells]
            for i, c in enumerate(cells):
                if isinstance(c, str) and len(c) > XLSX_CELL_CHARS:
                    cells[i] = c[:XLSX_CELL_CHARS]
                    self.cells_cut += 1
            self._ws.append([xlsx_cell(self._ws, c) for c in cells])  # formula-like text: quote-prefixed text
        else:
            self._csv.writerow(["" if c is None else safe_cell(c) for c in cells])

    def __exit__(self, exc_type, *_exc) -> None:
        try:
            if self.xlsx:
                if exc_type is None:
                    self._wb.save(self._tmp)
                else:
                    self._wb.close()
            else:
                self._fh.close()
            if exc_type is None:
                self._replace_target()
        finally:
            self._tmp.unlink(missing_ok=True)

    def _replace_target(self) -> None:
        target = self._target
        if target.exists():
            try:  # the replaced file's permissions, as far as the file system keeps them
                os.chmod(self._tmp, target.stat().st_mode & 0o777)
            except OSError:
                pass
        try:
            os.replace(self._tmp, target)
        except OSError:
            try:  # a target the file system cannot rename onto (a mounted file, some shares): copy the finished file
                shutil.copyfile(self._tmp, target)
            except OSError as exc:
                raise TableError(f"{self.path}: cannot be written ({exc.strerror})") from None
