"""OHCHR "thematic list / matrix of recommendations" (DOCX), as published after each UPR review.

One table (sometimes continued in further tables) with a header row naming its columns, e.g.
cycle 2 ``Recommendation | Position | Full list of themes | Assessment/comments ...`` and cycle 4
``Recommendation and recommending State | Position of the State under review | Human rights themes
and groups of persons | Relevant SDGs``.  Between the recommendations, one merged row per cluster
("Theme: A12 Acceptance of international norms").  A recommendation cell holds
"115.3 Ratify ... (Portugal, Slovakia);" and a line "Source of position: A/HRC/28/15/Add.1 - Para. 3";
the themes cell lists UHRI themes, then "SDGs:" and "Affected persons:" / "Groups of Persons:".
State under review, cycle and session come from the page header ("UPR of Slovenia (2nd Cycle –
20th session)"), else from ``options`` ("state", "session", "cycle"), else from the file name
(reported as a warning).  ``document_symbol`` is the Working Group report (A/HRC/28/15) whose
paragraph numbers the list uses; the full "source of position" is kept in ``extra``.
"""
from __future__ import annotations

import re
import zipfile
from collections import Counter
from typing import Any, Iterator, Optional

from matcher.countries import to_iso3
from matcher.recommendations import normalise_response, parse_int, recommendation_record
from matcher.records import Batch, IngestError, ItemRecord
from matcher.sources import Source
from matcher.upr_fields import (
    recommendation_states, review_title, split_states, tag_cell_sections, tags_of, wg_report_symbol,
)

DOCX_MAGIC = b"PK\x03\x04"
# A real thematic list's document.xml is 1-2 MB; far more is a zip bomb or not this kind of file.
MAX_DOCUMENT_XML_BYTES = 200 * 1024 * 1024
_SNIFF_BYTES = 16 * 1024 * 1024
_TAGS = re.compile(rb"<[^>]*>")
_SOURCE_LINE = re.compile(r"source\s+of\s+position\s*:?\s*(.*)$", re.I)
_PARA_START = re.compile(r"^\s*\d{1,3}\.\d{1,3}\b")
_FILE_NAME = re.compile(r"upr[\s_-]*(\d{1,2})[\s_-]+([a-z][a-z_ -]*)", re.I)
_ROLE_RULES = (  # first matching rule wins; order matters ("Recommendation and recommending State")
    ("source", ("source of position",)),
    ("recommendation", ("recommendation",)),
    ("position", ("position",)),
    ("sdgs", ("sdg",)),
    ("themes", ("theme",)),
    ("affected_persons", ("affected persons", "groups of persons")),
    ("recommending_states", ("recommending state",)),
)


def _role(header_text: str) -> Optional[str]:
    text = " ".join(header_text.split()).casefold()
    for role, needles in _ROLE_RULES:
        if any(n in text for n in needles):
            return role
    return None


def _cells(row) -> list[tuple[int, int, str]]:
    """(first grid column, span, text) of each real cell: merged cells appear once."""
    from docx.table import _Cell

    return [(tc.grid_offset, tc.grid_span, _Cell(tc, row.table).text) for tc in row._tr.tc_lst]


def _header_roles(table) -> Optional[tuple[int, dict[int, str]]]:
    """(header row index, {grid column: role}) when one of the first rows names a recommendation
    column and a position column; else None."""
    for ri, row in enumerate(table.rows[:3]):
        roles: dict[int, str] = {}
        for col, _span, text in _cells(row):
            role = _role(text)
            if role and role not in roles.values():
                roles[col] = role
        if {"recommendation", "position"} <= set(roles.values()):
            return ri, roles
    return None


def _recommendation_tables(doc) -> list[tuple[int, Any, int, dict[int, str]]]:
    """(table number, table, first data row, roles) of every recommendations table; a following
    table without a header but with the same columns and numbered recommendations continues it."""
    found = []
    for ti, table in enumerate(doc.tables, start=1):
        hdr = _header_roles(table)
        if hdr:
            found.append((ti, table, hdr[0] + 1, hdr[1]))
        elif found and found[-1][0] == ti - 1 and len(table.columns) == len(found[-1][1].columns):
            rec_col = next(c for c, r in found[-1][3].items() if r == "recommendation")
            first = next((t for c, _s, t in _cells(table.rows[0]) if c == rec_col), "") if table.rows else ""
            if _PARA_START.match(first):
                found.append((ti, table, 0, found[-1][3]))
    return found


def _document_texts(doc) -> Iterator[str]:
    """Page headers, footers and body paragraphs: where a thematic list names the review."""
    for n, section in enumerate(doc.sections):
        for part in (section.header, section.first_page_header, section.even_page_header,
                     section.footer, section.first_page_footer):
            if n == 0 or not part.is_linked_to_previous:  # a linked part repeats the previous section's
                yield "\n".join(p.text for p in part.paragraphs)
    for p in doc.paragraphs:
        yield p.text


def _split_source(cell: str) -> tuple[list[str], Optional[str]]:
    """(lines before the "Source of position" line, what that line says)."""
    body, source = [], None
    for line in cell.splitlines():
        m = _SOURCE_LINE.search(line)
        if m and source is None:
            source = m.group(1).strip() or None
            before = line[: m.start()].strip()
            if before:
                body.append(before)
            continue
        if source is None:
            body.append(line)
    return body, source


class OhchrDocxReader:
    name = "ohchr-docx"
    kind = "upr"
    item_type = "recommendation"
    description = "OHCHR thematic list / matrix of UPR recommendations (DOCX with a Recommendation/Position table)"

    def sniff(self, source: Source) -> bool:
        if source.head(4) != DOCX_MAGIC:
            return False
        try:
            with zipfile.ZipFile(source.open()) as zf, zf.open("word/document.xml") as fh:
                xml = fh.read(_SNIFF_BYTES)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, RuntimeError):
            return False
        # Word splits words across runs: look at the text with the markup removed.
        text = _TAGS.sub(b"", xml).decode("utf-8", "replace").casefold()
        return b"<w:tbl>" in xml and "recommendation" in text and "position" in text

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        doc = self._open(source)
        tables = _recommendation_tables(doc)
        if not tables:
            raise IngestError(source.name, f"no recommendations table among the document's {len(doc.tables)} "
                              "table(s): expected a header row with a 'Recommendation' column and a 'Position' "
                              "column", field="Recommendation/Position")
        review = self._review(doc, source, batch, options)
        batch.records = self._records(tables, review, batch)
        return batch

    def _open(self, source: Source):
        from docx import Document

        try:
            with zipfile.ZipFile(source.open()) as zf:
                info = zf.getinfo("word/document.xml")
                if info.file_size > MAX_DOCUMENT_XML_BYTES:
                    raise IngestError(source.name, f"word/document.xml unpacks to {info.file_size} bytes "
                                      f"(limit {MAX_DOCUMENT_XML_BYTES}): refused")
            return Document(source.open())
        except IngestError:
            raise
        except KeyError:
            raise IngestError(source.name, "not a Word document: the zip has no word/document.xml") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise IngestError(source.name, f"not a readable DOCX file (truncated or damaged?): {exc}") from None
        except Exception as exc:  # lxml XMLSyntaxError and python-docx errors on a broken package
            raise IngestError(source.name, f"the DOCX could not be parsed: {type(exc).__name__}: {exc}") from None

    def _review(self, doc, source: Source, batch: Batch, options: dict[str, Any]) -> dict[str, Any]:
        """State under review, cycle and session: the document first, then options, then the file name."""
        found: dict[str, Any] = {}
        for text in _document_texts(doc):
            for key, value in review_title(text).items():
                found.setdefault(key, value)
            if {"state", "cycle", "session"} <= set(found):
                break
        given = {"state": options.get("state"), "session": parse_int(options.get("session")),
                 "cycle": parse_int(options.get("cycle"))}
        named = _FILE_NAME.search(source.name)
        guessed = {}
        if named:
            guessed["session"] = int(named.group(1))
            words = [w for w in re.split(r"[\s_-]+", named.group(2)) if w]
            for n in (1, 2, 3):  # shortest first: the name is followed by other words of the title
                if len(words) >= n and to_iso3(" ".join(words[:n])):
                    guessed["state"] = " ".join(words[:n])
                    break
        for key in ("state", "session", "cycle"):
            if key in found:
                if given[key] not in (None, "") and str(given[key]).casefold() != str(found[key]).casefold():
                    batch.problem(None, key, f"the document says {key} '{found[key]}'; the option '{given[key]}' "
                                  "was not used", "warning")
                continue
            if given[key] not in (None, ""):
                found[key] = given[key]
            elif key in guessed:
                found[key] = guessed[key]
                batch.problem(None, key, f"the document does not name the {key}: '{guessed[key]}' taken from the "
                              "file name", "warning")
        if not found.get("state"):
            raise IngestError(source.name, "the document does not name the state under review (page header "
                              "'UPR of <State> (<n>th Cycle - <n>th session)') and no state option was given",
                              field="state_under_review")
        return found

    def _records(self, tables, review: dict[str, Any], batch: Batch) -> Iterator[ItemRecord]:
        last_symbol: Optional[str] = None
        symbols: Counter = Counter()
        for ti, table, first, roles in tables:
            heading: Optional[str] = None
            for ri, row in enumerate(table.rows):
                if ri < first:
                    continue
                cells = _cells(row)
                values: dict[str, str] = {}
                for col, _span, text in cells:
                    if col in roles:
                        values[roles[col]] = text
                if len({t for _c, _s, t in cells}) == 1 and (len(cells) == 1 or not _PARA_START.match(cells[0][2])):
                    heading = re.sub(r"^\s*theme\s*:\s*", "", cells[0][2], flags=re.I).strip() or heading
                    continue  # cluster row "Theme: ..." (one merged cell)
                rec_cell = values.get("recommendation", "")
                if not rec_cell.strip() and not values.get("position", "").strip():
                    continue
                row_ref = f"table {ti} row {ri + 1}"
                batch.read += 1
                rec = self._record(batch, row_ref, values, review, heading, last_symbol)
                if rec is None:
                    continue
                if rec.row.get("document_symbol"):
                    last_symbol = rec.row["document_symbol"]
                    symbols[last_symbol] += 1
                yield rec
        if len(symbols) > 1:
            batch.problem(None, "document_symbol", "rows cite several Working Group reports: "
                          + ", ".join(f"{s} ({n})" for s, n in symbols.most_common()), "warning")

    def _record(self, batch: Batch, row_ref: str, values: dict[str, str], review: dict[str, Any],
                heading: Optional[str], last_symbol: Optional[str]) -> Optional[ItemRecord]:
        body, source_of_position = _split_source(values.get("recommendation", ""))
        position_lines, pos_source = _split_source(values.get("position", ""))
        source_of_position = source_of_position or pos_source or values.get("source", "").strip() or None
        position = " ".join(" ".join(position_lines).split())
        if not position:
            batch.problem(row_ref, "position", "position is empty: stored as pending", "warning")
        elif normalise_response(position) is None and normalise_response(position_lines[0]) is not None:
            position = " ".join(position_lines[0].split())  # e.g. "Supported\n(see paragraph 3)"
        original = "\n".join(line.rstrip() for line in body).strip()
        flat = " ".join(original.split())
        states, rest = recommendation_states(flat)
        if values.get("recommending_states", "").strip():
            states = split_states(values["recommending_states"]) or states
        if not states and flat:
            batch.problem(row_ref, "recommending_states", "no recommending state in a trailing parenthesis",
                          "warning")
        symbol = wg_report_symbol(source_of_position) or last_symbol
        if symbol is None and flat:
            batch.problem(row_ref, "document_symbol", "no 'Source of position' with a report symbol", "warning")
        sections = tag_cell_sections(values.get("themes"))
        sdg_cell = tag_cell_sections(values.get("sdgs"))
        affected = sections["affected_persons"] + tag_cell_sections(values.get("affected_persons"))["themes"]
        theme_items = sections["themes"] or ([heading] if heading else [])
        themes, sdgs, bad = tags_of(theme_items, sections["sdgs"] + sdg_cell["themes"] + sdg_cell["sdgs"])
        for value in bad:
            batch.problem(row_ref, "sdgs", f"'{value}' names no SDG goal 1-17: not stored", "warning")
        return recommendation_record(
            batch,
            row_ref=row_ref,
            state_name=review["state"],
            text=rest,
            text_original=original,
            response_raw=position,
            recommending=states,
            session=review.get("session"),
            cycle=review.get("cycle"),
            document_symbol=symbol,
            themes=themes,
            sdgs=sdgs,
            affected_persons=list(dict.fromkeys(affected)),
            extra={"source_of_position": source_of_position},
        )


READER = OhchrDocxReader()
