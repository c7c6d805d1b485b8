"""Streaming the cell values of one XLSX worksheet, fast and flat in memory.

openpyxl's read-only mode builds a Python object per cell and was the limit of every XLSX ingest
(about 60 % of a UN INFO export's ingest time).  This reader parses the sheet XML with lxml
``iterparse`` and gives the values openpyxl gives with ``data_only=True`` (the cached value of a
formula): shared and inline strings (rich-text runs joined, phonetic runs left out), booleans,
errors as their text ("#N/A"), ints and floats, and numbers in a date format as ``datetime`` (or
``time``/``timedelta``) in the workbook's 1900 or 1904 date system.  openpyxl's own number-format
rules decide which formats are dates, so both readers agree on every cell (``tests/test_xlsx.py``).

Three deliberate differences: the ``<dimension>`` element only widens rows (openpyxl also cuts rows
and cells outside it, so a workbook whose writer left ``A1:A1`` there would lose its data silently),
a row number that goes backwards is an error, not a row dropped, and a formula whose file saved no
result (a workbook written by a program that does not calculate, such as openpyxl or a script;
Excel and LibreOffice save results) is never an empty cell: an ``XlsxError`` naming the cell, or,
with ``mark_unsaved=True``, an ``UnsavedFormula`` value for the caller to count or refuse.
Entity resolution, DTD loading and network access are off, and a part that carries a DOCTYPE is
refused (XLSX never needs one).
"""
from __future__ import annotations

import posixpath
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any, Iterator, Optional

from lxml import etree

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_ROW, _C, _V, _F, _IS, _T, _R = (f"{{{MAIN}}}{t}" for t in ("row", "c", "v", "f", "is", "t", "r"))
_DIMENSION, _SI = f"{{{MAIN}}}dimension", f"{{{MAIN}}}si"
SAFE_PARSER = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}
_DIGITS = "0123456789"
_DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, etree.XMLSyntaxError)


class UnsavedFormula:
    """The value of a formula cell whose file saved no result: not known, and never an empty cell.

    ``formula`` is the cell's formula as written, without the leading '=' ("" for a cell that shares
    another cell's formula).
    """

    __slots__ = ("formula",)

    def __init__(self, formula: str):
        self.formula = formula

    def __repr__(self) -> str:
        return f"UnsavedFormula({self.formula!r})"

    def __str__(self) -> str:  # what a list of header names shows for such a cell ("found: …")
        return "(a formula with no saved value)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnsavedFormula) and other.formula == self.formula

    def __hash__(self) -> int:
        return hash(self.formula)

    def as_text(self) -> str:
        """What a copy of the table shows for the cell: its formula ("=A2"), never an empty cell."""
        return f"={self.formula}" if self.formula else str(self)

    def describe(self) -> str:
        """"a formula with no saved value (=A2)", the formula cut to 60 characters."""
        f = self.formula if len(self.formula) <= 60 else self.formula[:59] + "…"
        return f"a formula with no saved value (={f})" if f else "a formula with no saved value"


UNSAVED_HINT = ("open and save the file in Excel or LibreOffice so its values are saved, or type a text that starts "
                "with '=' with an apostrophe in front")


def unsaved_header(value: UnsavedFormula, col: int, row: int, sheet: Optional[str] = None) -> str:
    """What to say of a header cell with no saved value: "the header cell C1 of sheet 'Data' is a formula …"."""
    from openpyxl.utils import get_column_letter

    where = f" of sheet '{sheet}'" if sheet else ""
    return f"the header cell {get_column_letter(col + 1)}{row}{where} is {value.describe()}, so its column has no name"


class XlsxError(ValueError):
    """The workbook cannot be read; ``row`` is the sheet row where reading stopped, when known."""

    def __init__(self, message: str, row: Optional[int] = None):
        super().__init__(message)
        self.row = row


_COLUMNS: dict[str, int] = {}  # 'A' -> 1, 'AB' -> 28, …: filled as met (a sheet has few distinct columns)


def _column(letters: str) -> int:
    """1-based column number of 'A', 'Z', 'AA', …; ValueError for anything else."""
    col = _COLUMNS.get(letters)
    if col is None:
        if not letters or not letters.isalpha() or not letters.isascii() or len(letters) > 3:
            raise ValueError(f"'{letters}' is not a column")
        col = 0
        for ch in letters.upper():
            col = col * 26 + ord(ch) - 64
        _COLUMNS[letters] = col
    return col


def _refuse_doctype(tree, part: str) -> None:
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None:
        raise XlsxError(f"{part} declares a DOCTYPE: refused, because XLSX parts never need one and XML entities "
                        "are how billion-laughs and external-entity (XXE) attacks work")


def _xml(zf: zipfile.ZipFile, part: str):
    """A small part (workbook, rels, styles) parsed whole, safely."""
    try:
        root = etree.fromstring(zf.read(part), etree.XMLParser(**SAFE_PARSER))
    except KeyError:
        raise XlsxError(f"the workbook has no part {part}") from None
    except (etree.XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise XlsxError(f"{part} is damaged: {exc}") from None
    _refuse_doctype(root.getroottree(), part)
    return root


def _rels(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """{relationship id: (type, part path in the zip)} of a part; targets resolved as openpyxl does."""
    folder, name = posixpath.split(part)
    rels_part = posixpath.join(folder, "_rels", f"{name}.rels")
    if rels_part not in zf.NameToInfo:
        return {}
    out = {}
    for rel in _xml(zf, rels_part).iter(f"{{{_PKG_REL}}}Relationship"):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External":
            continue
        path = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id")] = (rel.get("Type") or "", path)
    return out


def _date_styles(zf: zipfile.ZipFile, part: Optional[str]) -> tuple[frozenset[int], frozenset[int]]:
    """(cell style indexes whose number format is a date, those that are a duration), by openpyxl's rules."""
    from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format

    if part is None or part not in zf.NameToInfo:
        return frozenset(), frozenset()
    root = _xml(zf, part)
    custom = {}
    for fmt in root.iterfind(f"{{{MAIN}}}numFmts/{{{MAIN}}}numFmt"):
        try:
            custom[int(fmt.get("numFmtId"))] = fmt.get("formatCode")
        except (TypeError, ValueError):
            continue
    dates, durations = set(), set()
    for i, xf in enumerate(root.iterfind(f"{{{MAIN}}}cellXfs/{{{MAIN}}}xf")):
        try:
            fmt_id = int(xf.get("numFmtId") or 0)
        except ValueError:
            fmt_id = 0
        fmt = custom[fmt_id] if fmt_id in custom else builtin_format_code(fmt_id)
        if is_date_format(fmt):
            dates.add(i)
        if is_timedelta_format(fmt):
            durations.add(i)
    return frozenset(dates), frozenset(durations)


def _text(el) -> str:
    """Text of an <si> or <is>: its <t>, then every rich-text run's <t> (phonetic <rPh> runs are not text)."""
    if len(el) == 1:
        only = el[0]
        if only.tag == _T:  # the common case
            return only.text or ""
    plain, runs = None, []
    for child in el:
        tag = child.tag
        if tag == _T:
            plain = child.text  # as openpyxl: the last <t> if a writer put several
        elif tag == _R:
            runs.extend(t.text for t in child if t.tag == _T and t.text is not None)
    return "".join(runs) if plain is None else plain + "".join(runs)


def _shared_strings(zf: zipfile.ZipFile, part: Optional[str]) -> list[str]:
    if part is None or part not in zf.NameToInfo:
        return []
    out = []
    with zf.open(part) as fh:
        try:
            for n, (_, si) in enumerate(etree.iterparse(fh, events=("end",), tag=_SI, **SAFE_PARSER)):
                if n == 0:
                    _refuse_doctype(si.getroottree(), part)
                out.append(_text(si).replace("x005F_", ""))  # as openpyxl: an escaped '_x' reads as '_x'
                si.clear()
                while si.getprevious() is not None:
                    del si.getparent()[0]
        except _DAMAGE as exc:
            raise XlsxError(f"{part} is damaged or truncated: {exc}") from None
    return out


class Workbook:
    """An open XLSX file: its worksheets by name, shared strings, date styles and date system.

    Use as a context manager; ``rows()`` streams one worksheet.
    """

    def __init__(self, file: "str | Path | IO[bytes]"):
        try:
            self.zip = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise XlsxError(f"not a readable XLSX workbook (truncated or damaged?): {exc}") from None
        try:
            self._open()
        except BaseException:
            self.zip.close()
            raise

    def _open(self) -> None:
        package = _rels(self.zip, "")  # _rels/.rels
        book = next((p for t, p in package.values() if t.endswith("/officeDocument")), "xl/workbook.xml")
        root = _xml(self.zip, book)
        rels = _rels(self.zip, book)
        pr = root.find(f"{{{MAIN}}}workbookPr")
        date1904 = pr is not None and (pr.get("date1904") or "").strip().lower() in ("1", "true")
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

        self.epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
        self.sheets: dict[str, str] = {}  # worksheet name -> part; chartsheets and missing parts left out
        self.hidden: set[str] = set()  # worksheets the workbook hides (state hidden or veryHidden)
        for sheet in root.iterfind(f"{{{MAIN}}}sheets/{{{MAIN}}}sheet"):
            kind, part = rels.get(sheet.get(f"{{{_REL}}}id"), ("", ""))
            if kind.endswith("/worksheet") and part in self.zip.NameToInfo:
                self.sheets[sheet.get("name") or ""] = part
                if (sheet.get("state") or "visible") != "visible":
                    self.hidden.add(sheet.get("name") or "")
        by_type = {t.rsplit("/", 1)[-1]: p for t, p in rels.values()}
        self.shared = _shared_strings(self.zip, by_type.get("sharedStrings", "xl/sharedStrings.xml"))
        self.dates, self.durations = _date_styles(self.zip, by_type.get("styles", "xl/styles.xml"))
        self.unsaved_cells = 0  # UnsavedFormula values given so far: one comparison per row tells a caller to look

    def __enter__(self) -> "Workbook":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self.zip.close()

    def rows(self, sheet: Optional[str] = None, *, max_row: Optional[int] = None,
             mark_unsaved: bool = False) -> Iterator[tuple[int, list[Any]]]:
        """(row number, cell values) of every row the sheet stores, in order; ``sheet``: name, default the first.

        A row's list is as wide as its last cell or the sheet's ``<dimension>``, whichever is wider;
        missing cells are None.  Rows the file leaves out are not yielded (their number is skipped).
        Raises XlsxError for a damaged part, naming the row where reading stopped, and for a formula
        with no saved value, naming its cell; with ``mark_unsaved`` such a cell is an ``UnsavedFormula``.
        """
        if not self.sheets:
            raise XlsxError("the workbook has no worksheet")
        if sheet is None:
            sheet = next(iter(self.sheets))
        elif sheet not in self.sheets:
            raise XlsxError(f"no sheet named '{sheet}' (sheets: {', '.join(self.sheets)})")
        return _SheetReader(self, self.sheets[sheet], sheet, mark_unsaved).rows(max_row)


class _SheetReader:
    def __init__(self, book: Workbook, part: str, sheet: str, mark_unsaved: bool):
        self.book, self.part, self.sheet, self.mark_unsaved = book, part, sheet, mark_unsaved
        self.dated: dict[str, bool] = {}  # s="…" -> whether that style is a date format, as met
        self.date_memo: dict[tuple, Any] = {}

    def rows(self, max_row: Optional[int]) -> Iterator[tuple[int, list[Any]]]:
        zf, part = self.book.zip, self.part
        row_no, width, checked = 0, 0, False
        with zf.open(part) as fh:
            try:
                events = etree.iterparse(fh, events=("end",), tag=(_DIMENSION, _ROW), **SAFE_PARSER)
                for _, el in events:
                    if not checked:  # before any value is used
                        _refuse_doctype(el.getroottree(), part)
                        checked = True
                    if el.tag == _DIMENSION:
                        width = _dimension_width(el.get("ref"))
                        continue
                    r = el.get("r")
                    number = _row_number(r, part) if r else row_no + 1
                    if number <= row_no:
                        raise XlsxError(f"{part}: row {number} comes after row {row_no}: the sheet is damaged",
                                        row=number)
                    if max_row is not None and number > max_row:
                        return
                    row_no = number
                    values = self._cells(el, width, number)
                    el.clear(keep_tail=True)
                    parent = el.getparent()
                    while el.getprevious() is not None:  # rows already read: memory stays flat
                        del parent[0]
                    yield number, values
                root = events.root
                if root is not None and root.tag != f"{{{MAIN}}}worksheet":
                    raise XlsxError(f"{part} is not a worksheet in the Transitional Open XML format (root element "
                                    f"{root.tag}): save the file as an ordinary Excel workbook (.xlsx)")
            except _DAMAGE as exc:
                raise XlsxError(f"{part} is damaged or truncated after row {row_no}: {exc}", row=row_no + 1) from None

    def _cells(self, row, width: int, number: int) -> list[Any]:
        """The row's values by column: the hot loop of every XLSX ingest.

        A cell of the plain shape writers produce (a reference; nothing, a lone <v>, or a lone
        <is>) is read inline; any other cell through ``_value``, and a row with a child that has
        no reference (a cell without one, <extLst>, a comment) through ``_cells_general``.
        """
        out: list[Any] = [None] * width
        size = width
        columns, dates, dated, shared = _COLUMNS, self.book.dates, self.dated, self.book.shared
        for c in row:
            ref = c.get("r")
            if ref is None:
                return self._cells_general(row, width, number)
            letters = ref.rstrip(_DIGITS)
            col = columns.get(letters) or self._column(letters, ref, number)
            if col > size:
                out.extend([None] * (col - size))
                size = col
            n = len(c)
            if n == 0:
                continue  # a styled empty cell
            kind = c.get("t")
            if n == 1:
                first = c[0]
                tag = first.tag
                if kind == "inlineStr":
                    if tag == _IS:
                        if len(first) == 1 and (t := first[0]).tag == _T:
                            out[col - 1] = t.text or ""
                        else:
                            out[col - 1] = _text(first)
                    continue
                if tag == _V:
                    if kind == "s":  # a shared string: every text cell of a workbook Excel saved
                        text = first.text
                        if text:
                            try:
                                out[col - 1] = shared[int(text)]
                            except (ValueError, IndexError):
                                raise self._bad(c, text, number) from None
                        continue
                    if (kind is None or kind == "n") and (
                            (style := c.get("s")) is None or not dates or dated.get(style) is False):
                        text = first.text
                        if text:
                            try:
                                out[col - 1] = float(text) if ("." in text or "e" in text or "E" in text) else int(text)
                            except ValueError:
                                raise self._bad(c, text, number) from None
                        continue
            out[col - 1] = self._value(c, kind, number)
        return out

    def _cells_general(self, row, width: int, number: int) -> list[Any]:
        """Any row the schema allows: cells without references (placed after the previous cell), comments, extLst."""
        out: list[Any] = [None] * width
        size, col = width, 0
        for c in row:
            if c.tag != _C:
                continue
            ref = c.get("r")
            col = self._column(ref.rstrip(_DIGITS), ref, number) if ref else col + 1
            if col > size:
                out.extend([None] * (col - size))
                size = col
            kind = c.get("t")
            if kind == "inlineStr":
                out[col - 1] = next((_text(child) for child in c if child.tag == _IS), None)
            else:
                out[col - 1] = self._value(c, kind, number)
        return out

    def _value(self, c, kind: Optional[str], number: int) -> Any:
        """A cell's value from its first <v> (a formula's cached result; data_only as in openpyxl)."""
        text = formula = None
        has_v = False
        for child in c:
            tag = child.tag
            if tag == _V:
                text, has_v = child.text, True
                break
            if tag == _F:  # the schema puts <f> before <v>
                formula = child
        if not text:  # absent or empty <v>: an empty cell
            # but a formula's empty <v> is a saved result only as text (t="str": Excel and LibreOffice write
            # a formula that gives "" so); without one the value was never calculated, so it is not known
            if formula is not None and not (has_v and kind == "str"):
                return self._unsaved(c, formula.text or "", number)
            return None
        if kind == "s":
            try:
                return self.book.shared[int(text)]
            except (ValueError, IndexError):
                raise self._bad(c, text, number) from None
        if kind is None or kind == "n":
            try:
                value = float(text) if ("." in text or "e" in text or "E" in text) else int(text)
            except ValueError:
                raise self._bad(c, text, number) from None
            style = c.get("s")
            if self.book.dates and style:
                try:
                    is_date = self.dated[style] = int(style) in self.book.dates
                except ValueError:
                    raise XlsxError(f"{self.part}: cell {c.get('r')}: style '{style}' is not a number", row=number) from None
                if is_date:
                    return self._date(value, int(style))
            return value
        return self._typed(c, kind, text, number)

    def _unsaved(self, c, formula: str, number: int) -> Any:
        value = UnsavedFormula(formula)
        if self.mark_unsaved:
            self.book.unsaved_cells += 1
            return value
        raise XlsxError(f"sheet '{self.sheet}', cell {c.get('r') or f'in row {number}'}: {value.describe()}: "
                        f"{UNSAVED_HINT}", row=number)

    def _column(self, letters: str, ref: str, number: int) -> int:
        try:
            return _column(letters)
        except ValueError:
            raise XlsxError(f"{self.part}: row {number}: '{ref}' is not a cell reference", row=number) from None

    def _typed(self, c, kind: str, text: str, number: int) -> Any:
        try:
            if kind == "b":
                return bool(int(text))
            if kind == "d":
                from openpyxl.utils.datetime import from_ISO8601

                return from_ISO8601(text)
        except ValueError:
            raise self._bad(c, text, number) from None
        return text  # "str" (a formula's text), "e" (an error such as #N/A)

    def _bad(self, c, text: str, number: int) -> XlsxError:
        return XlsxError(f"{self.part}: cell {c.get('r') or f'in row {number}'}: '{text}' is not a valid value of "
                         f"type '{c.get('t') or 'n'}'", row=number)

    def _date(self, value, style: int):
        key = (value, style)
        if key not in self.date_memo:  # start and end dates repeat down a sheet
            from openpyxl.utils.datetime import from_excel

            if len(self.date_memo) > 10_000:
                self.date_memo.clear()
            try:
                self.date_memo[key] = from_excel(value, self.book.epoch, timedelta=style in self.book.durations)
            except (OverflowError, ValueError):
                self.date_memo[key] = "#VALUE!"  # a serial outside the calendar: openpyxl's reading of the cell
        return self.date_memo[key]


def _row_number(r: str, part: str) -> int:
    try:
        return int(r)
    except ValueError:
        try:
            value = float(r)
        except ValueError:
            value = 0.5
        if not value.is_integer():
            raise XlsxError(f"{part}: '{r}' is not a row number") from None
        return int(value)


def _dimension_width(ref: Optional[str]) -> int:
    """Highest column of a ``<dimension ref="A1:CO779">`` (0 when absent or unreadable)."""
    last = (ref or "").split(":")[-1].replace("$", "")
    try:
        return _column(last.rstrip(_DIGITS))
    except ValueError:
        return 0


def read_rows(file: "str | Path | IO[bytes]", *, sheet: Optional[str] = None, max_row: Optional[int] = None,
              mark_unsaved: bool = False) -> Iterator[tuple[int, list[Any]]]:
    """(row number, values) of a worksheet (default the first); the workbook is closed when the rows end."""
    book = Workbook(file)
    try:
        yield from book.rows(sheet, max_row=max_row, mark_unsaved=mark_unsaved)
    finally:
        book.close()
