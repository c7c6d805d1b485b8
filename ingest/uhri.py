"""Universal Human Rights Index (UHRI) export: the XLSX that uhri.ohchr.org's "Export to Excel" writes
(or a CSV saved from it).

Columns, spelled as the export spells them: Text, Countries Concerned, Reccomending Body, Document
Symbol, Themes, Affected Persons, Sdgs, Document Publication Date, UPR Reccomending States, UPR
Position, Type, OHCHR Annotation Id, UPR Session, Regions Concerned, Recommending Regions, Date of
publication on UHRI.  Values carry a "- " bullet; several values of a cell are on separate lines.

Only UPR rows are recommendations of a state under review; rows of treaty bodies and special
procedures are counted as skipped in ONE summary problem (an export of a country search is mostly
such rows, and a problem per row would bury the real ones).  ``OHCHR Annotation Id`` is the
stable key: re-ingesting an edited export updates rows in place; a repeated id is reported.
The two dates (Excel serials converted) are kept in ``extra``; regions are not stored (derivable from
the countries).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

from matcher.recommendations import all_trailing_states, recommendation_record
from matcher.records import Batch, IngestError, ItemRecord
from matcher.sources import Source
from matcher.uhri_cells import bullet_list, cell_text, excel_date, parse_session, sdg_tags, single_value, theme_tag

from . import tabular

COLUMNS = (
    "Text", "Countries Concerned", "Reccomending Body", "Document Symbol", "Themes", "Affected Persons", "Sdgs",
    "Document Publication Date", "UPR Reccomending States", "UPR Position", "Type", "OHCHR Annotation Id",
    "UPR Session", "Regions Concerned", "Recommending Regions", "Date of publication on UHRI",
)
REQUIRED = ("Text", "Countries Concerned", "Reccomending Body", "UPR Reccomending States", "UPR Position",
            "OHCHR Annotation Id")
# Spellings corrected by hand (or by a later export) mean the same column.
ALIASES = {"Recommending Body": "Reccomending Body", "UPR Recommending States": "UPR Reccomending States"}
DISTINCTIVE = {"OHCHR Annotation Id", "Reccomending Body", "UPR Reccomending States"}
DATE_COLUMNS = ("Document Publication Date", "Date of publication on UHRI")
USED = frozenset(COLUMNS) | frozenset(ALIASES)  # a formula with no saved value elsewhere is not worth a warning
MAX_TAG_CHARS = 200  # item_tag.code is VARCHAR(200)
SKIPPED_ROWS_LISTED = 10


def _canon(cells: list[str]) -> list[str]:
    return [ALIASES.get(c, c) for c in cells]


def _says_upr(values: list[str]) -> bool:
    return any("UPR" in v.upper().replace("-", " ").split() or "universal periodic review" in v.casefold()
               for v in values)


class UhriReader:
    name = "uhri"
    kind = "upr"
    item_type = "recommendation"
    description = ("Universal Human Rights Index (UHRI) export, XLSX or a CSV saved from it (UPR rows; other "
                   "mechanisms counted as skipped)")

    def sniff(self, source: Source) -> bool:
        # Recognised by its own (misspelled) columns even when 'Text' is missing, so read() can name it.
        _, cols = _header(source, strict=False)
        return "OHCHR Annotation Id" in cols or DISTINCTIVE - {"OHCHR Annotation Id"} <= set(cols)

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        header_row, cols = _header(source, strict=True, encoding=options.get("encoding"))
        tabular.missing_columns(source, cols, REQUIRED)
        absent = [c for c in COLUMNS if c not in cols and c not in REQUIRED]
        if absent:
            batch.problem(header_row, None, f"column(s) not in this export, left empty: {', '.join(absent)}", "warning")
        batch.records = self._records(source, batch, header_row, options)
        return batch

    def _records(self, source: Source, batch: Batch, header_row: int, options: dict[str, Any]) -> Iterator[ItemRecord]:
        others: Counter[str] = Counter()
        other_rows: list[int] = []
        for line, raw in _rows(source, batch, header_row, options):
            batch.read += 1
            cell = {ALIASES.get(k, k): v for k, v in raw.items()}
            bodies = bullet_list(cell.get("Reccomending Body"))
            if not (_says_upr(bodies) or (not bodies and _says_upr(bullet_list(cell.get("Type"))))):
                others["; ".join(bodies) or "no body named"] += 1
                if len(other_rows) < SKIPPED_ROWS_LISTED:  # the first few locate them; memory stays flat
                    other_rows.append(line)
                continue
            rec = _recommendation(batch, line, cell)
            if rec is not None:
                yield rec
        if others:
            # One problem for all of them: the count and the bodies say what was left out and why.
            n = sum(others.values())
            batch.skipped += n
            bodies_txt = ", ".join(f"{body} {count}" for body, count in others.most_common())
            listed = ", ".join(map(str, other_rows[:SKIPPED_ROWS_LISTED])) + (" …" if n > SKIPPED_ROWS_LISTED else "")
            batch.problem(other_rows[0], "Reccomending Body",
                          f"{n} row(s) not from the UPR skipped ({bodies_txt}): this reader ingests UPR "
                          f"recommendations only; rows {listed}")


def _recommendation(batch: Batch, line: int, cell: dict[str, Any]) -> ItemRecord | None:
    """One UPR row -> a canonical recommendation (None when skipped; problems go to ``batch``)."""
    text = cell_text(cell.get("Text"))
    states = bullet_list(cell.get("Countries Concerned"))
    if len(states) > 1:
        batch.skip(line, "Countries Concerned", f"a UPR recommendation has one state under review, this row names "
                   f"{len(states)}: {'; '.join(states)}")
        return None
    # Joint recommendations end in '(France) (Lithuania);': peel every group, not only the last.
    named, peeled = all_trailing_states(text)
    recommending = bullet_list(cell.get("UPR Reccomending States")) or named
    if not recommending:
        batch.problem(line, "UPR Reccomending States", "no recommending state, neither in the column nor "
                      "at the end of the text", "warning")
    session_raw = single_value(cell.get("UPR Session"))
    session = parse_session(session_raw)
    if session is None:
        batch.problem(line, "UPR Session", f"session '{session_raw}' is not a session number: cycle unknown"
                      if session_raw else "no UPR session: cycle unknown", "warning")
    dates = {}
    for column in DATE_COLUMNS:
        try:
            day = excel_date(cell.get(column))
        except ValueError as exc:
            batch.problem(line, column, f"unreadable date: {exc}", "warning")
            continue
        if day is not None:
            dates[column.lower().replace(" ", "_")] = day.isoformat()
    sdgs, implied, unreadable = sdg_tags(bullet_list(cell.get("Sdgs")))
    for item in unreadable:
        batch.problem(line, "Sdgs", f"'{item}' is not an SDG goal (1-17) or target: left out", "warning")
    themes = [("uhri", *theme_tag(label)) for label in _fitting(batch, line, "Themes", bullet_list(cell.get("Themes")))]
    key = single_value(cell.get("OHCHR Annotation Id")) or None
    if key is None:
        batch.problem(line, "OHCHR Annotation Id", "no annotation id: identified by its content, so an edited "
                      "copy will be stored as a new recommendation", "warning")
    rec = recommendation_record(
        batch,
        row_ref=line,
        state_name=states[0] if states else "",
        text=peeled or text,
        text_original=text,
        response_raw=single_value(cell.get("UPR Position")) or None,
        recommending=recommending,
        session=session,
        document_symbol=single_value(cell.get("Document Symbol")) or None,
        themes=themes,
        sdgs=sdgs,
        affected_persons=_fitting(batch, line, "Affected Persons", bullet_list(cell.get("Affected Persons"))),
        source_key=key,
        extra=dates,
    )
    if rec is None:
        return None
    for tag in rec.children["item_tag"]:
        tag["extra"] = None  # one key set for every tag row, so a bulk insert stays one statement
        if tag["vocabulary"] in ("sdg_goal", "sdg_target"):
            tag["route"] = "uhri"
            if tag["vocabulary"] == "sdg_goal" and tag["code"] in implied:
                tag["extra"] = {"implied_by": implied[tag["code"]]}
    return rec


def _fitting(batch: Batch, line: int, column: str, values: list[str]) -> list[str]:
    """Values short enough to be a tag code; longer ones are reported and left out."""
    for v in values:
        if len(v) > MAX_TAG_CHARS:
            batch.problem(line, column, f"value longer than {MAX_TAG_CHARS} characters left out: '{v[:60]}…'", "warning")
    return [v for v in values if len(v) <= MAX_TAG_CHARS]


def _header(source: Source, *, strict: bool, encoding: str | None = None) -> tuple[int, list[str]]:
    """(row number, canonical column names) of the header: the first of 20 rows naming 2+ UHRI columns.

    Reads only those rows.  ``strict``: a damaged workbook or no header raises
    IngestError; otherwise (sniffing) it gives (0, []).
    """
    if not tabular.is_xlsx(source):
        cols = _canon(tabular.header(source, encoding=encoding))
        if len(set(cols) & set(COLUMNS)) >= 2:
            return 1, cols
    else:
        try:
            head = tabular.xlsx_head(source)
        except IngestError:
            if strict:
                raise
            return 0, []  # any workbook that cannot be read is unreadable, or not ours
        for n, values in head:
            cols = _canon([cell_text(v) for v in values])
            if len(set(cols) & set(COLUMNS)) >= 2:
                return n, cols
    if strict:
        raise IngestError(source.name, "no UHRI header row in the first 20 rows (expected columns such as "
                          + ", ".join(REQUIRED) + ")", row=1)
    return 0, []


def _rows(source: Source, batch: Batch, header_row: int, options: dict[str, Any]) -> Iterator[tuple[int, dict]]:
    """Data rows; damage found while streaming (a cut or corrupt sheet) is an IngestError naming the row."""
    if not tabular.is_xlsx(source):
        return tabular.csv_rows(source, encoding=options.get("encoding"))
    return tabular.xlsx_rows(source, batch=batch, header_row=header_row, used=USED)


READER = UhriReader()
