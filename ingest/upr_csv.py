"""A generic table of UPR recommendations (CSV in any common encoding, or XLSX): the template users fill.

One row = one recommendation.  Column names are matched case-insensitively, with spaces, hyphens
and underscores treated alike; the first name listed is the canonical one, the others are accepted
aliases.

==================== ========= ============================================================================
column               required  content
==================== ========= ============================================================================
state_under_review   yes [1]_  State reviewed, name or ISO3 ("Slovenia", "SVN").  Aliases: state, country, sur
text                 yes       Recommendation as written; a leading paragraph number ("115.1") and trailing
                               recommending states ("(France) (Lithuania);") are stripped, the original kept.
                               Aliases: recommendation, recommendation_text
response             yes       Supported/Accepted, Noted, Supported/Noted (partially), Pending, Voluntary
                               pledge.  Aliases: position, upr_position
session              no        UPR Working Group session number (20).  Alias: upr_session
cycle                no        UPR cycle (1-4); derived from the session when empty.  Alias: upr_cycle
document_symbol      no        Working Group report symbol (A/HRC/28/15).  Aliases: wg_report, symbol;
                               when empty it is taken from source_of_position ("A/HRC/28/15/Add.1 - Para. 3")
paragraph            no        Paragraph number in that report (115.1).  Aliases: rec_id, para
recommending_states  no        Names separated by | ; newline or commas; when empty, taken from the text's
                               trailing parenthesis.  Aliases: recommending_state, from
action_category      no        UPR Info action category 1-5; derived from the leading verb when empty.
themes               no        Theme labels (UHRI by default; ``options["theme_vocabulary"]`` to change),
                               separated by | or newlines, or ";" (a part starting in lower case continues
                               the previous label).  A UHRI code ("A12 Acceptance of ...") becomes the tag
                               code.  Aliases: hr_themes, theme.  heading_theme / cluster_theme is used only
                               when themes is empty.
affected_persons     no        Groups of persons, separated by | ; or newlines.  Alias: groups_of_persons
sdg_goals            no        SDG goals: "5", "SDG 5" or "16 - PEACE, JUSTICE ...", separated by | ; newline.
                               Alias: sdgs
sdg_targets          no        SDG targets: "5.2", "16.b", ... separated by | ; newline.
==================== ========= ============================================================================

.. [1] Not required when the whole file is about one state given as ``options["state"]`` (CLI:
   ``--state Slovenia``); that value also fills empty cells of the column.

Other columns are ignored and listed once as a warning.  Rows are streamed; nothing is guessed: an
unknown country, response or SDG is a counted problem on its row.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from matcher.recommendations import cycle_of_session, parse_int, recommendation_record
from matcher.records import Batch, IngestError, ItemRecord
from matcher.sources import Source
from matcher.upr_fields import recommendation_states, split_multi, split_states, tags_of, wg_report_symbol
from matcher.xlsx import UnsavedFormula

from . import tabular

COLUMNS: dict[str, tuple[str, ...]] = {  # canonical name first, then accepted aliases
    "state_under_review": ("state_under_review", "state", "country", "sur", "state_name", "country_name"),
    "text": ("text", "recommendation", "recommendation_text"),
    "response": ("response", "position", "upr_position", "sur_position"),
    "session": ("session", "upr_session", "wg_session"),
    "cycle": ("cycle", "upr_cycle"),
    "document_symbol": ("document_symbol", "wg_report", "symbol", "report_symbol"),
    "paragraph": ("paragraph", "rec_id", "para", "paragraph_number"),
    "recommending_states": ("recommending_states", "recommending_state", "recommending_countries", "from"),
    "action_category": ("action_category", "action"),
    "themes": ("themes", "hr_themes", "theme", "human_rights_themes"),
    "heading_theme": ("heading_theme", "cluster_theme"),
    "affected_persons": ("affected_persons", "groups_of_persons"),
    "sdg_goals": ("sdg_goals", "sdgs", "sdg", "sdg_goal"),
    "sdg_targets": ("sdg_targets", "sdg_target"),
    "source_of_position": ("source_of_position",),
}
REQUIRED = ("state_under_review", "text", "response")
# Layouts that have their own readers: never claimed here, whatever the registration order.
_UPRINFO_MARKS = {"To-Rgrp", "From-Rgrp", "To-Org", "From-Org"}
_UHRI_MARKS = {"OHCHR Annotation Id", "Countries Concerned", "Reccomending Body", "UPR Reccomending States"}
_ALIAS = {alias: canon for canon, aliases in COLUMNS.items() for alias in aliases}
_FOLD = re.compile(r"[\s_\-./]+")


def _fold(name: str) -> str:
    return _FOLD.sub("_", str(name).strip().lstrip("\ufeff").casefold()).strip("_")


def column_map(header: list[str]) -> dict[str, str]:
    """{canonical name: the file's column} for the columns this reader knows (first match wins)."""
    found: dict[str, tuple[int, str]] = {}
    for col in header:
        canon = _ALIAS.get(_fold(col))
        if canon is None:
            continue
        rank = COLUMNS[canon].index(_fold(col))
        if canon not in found or rank < found[canon][0]:
            found[canon] = (rank, col)
    return {canon: col for canon, (_rank, col) in found.items()}


def _header(source: Source, encoding: Optional[str]) -> tuple[list[str], Optional[int]]:
    """(column names, header row for XLSX): an XLSX header may sit below title rows (first 20 rows)."""
    if not tabular.is_xlsx(source):
        return tabular.header(source, encoding=encoding), None
    try:
        head = tabular.xlsx_head(source)
    except IngestError:
        return [], None  # unreadable here; read() reports it through tabular
    for n, values in head:
        cells = ["" if v is None else str(v).strip() for v in values]
        cols = column_map(cells)
        if "text" in cols or "response" in cols:
            return cells, n
    return [], None


def _int(batch: Batch, row, name: str, raw) -> Optional[int]:
    if raw in (None, ""):
        return None
    value = parse_int(raw)
    if value is None:
        m = re.search(r"\d+", str(raw))
        value = int(m.group(0)) if m else None
    if value is None:
        batch.problem(row, name, f"{name} '{raw}' is not a number: left empty", "warning")
    return value


class UprCsvReader:
    priority = 90  # generic layout: tried after every specific reader
    name = "csv"
    kind = "upr"
    item_type = "recommendation"
    description = ("recommendations table, CSV or XLSX, with columns state_under_review, text, response "
                   "(aliases position, wg_report, rec_id, hr_themes, sdg_goals ...)")

    def sniff(self, source: Source) -> bool:
        cols, _ = _header(source, None)
        if _UPRINFO_MARKS & set(cols) or {"To", "From", "Text"} <= set(cols) or _UHRI_MARKS & set(cols):
            return False
        found = column_map(cols)
        # Liberal on purpose: a table with most of the template's columns is ours even when a required
        # one is missing, so that read() can name the missing column instead of "unknown format".
        return ("text" in found or "response" in found) and len(found) >= 3

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        encoding = options.get("encoding")
        cols, header_row = _header(source, encoding)
        found = column_map(cols)
        default_state = " ".join(str(options.get("state") or "").split())
        for canon in REQUIRED:
            if canon in found or (canon == "state_under_review" and default_state):
                continue
            hint = " or give the state for the whole file (CLI: --state <name>)" if canon == "state_under_review" else ""
            raise IngestError(
                source.name,
                f"missing required column '{canon}' (accepted names: {', '.join(COLUMNS[canon])}){hint}; "
                f"found: {', '.join(c for c in cols if c) or 'none'}",
                row=header_row or 1, field=canon)
        # a header cell with no saved value is warned about as such by the row reader, not listed here
        ignored = [c for c in cols if c and type(c) is not UnsavedFormula and c not in found.values()]
        if ignored:
            batch.problem(header_row or 1, None, f"columns not used: {', '.join(ignored)}", "warning")
        batch.records = self._records(source, batch, found, default_state, header_row, options)
        return batch

    def _rows(self, source: Source, batch: Batch, header_row: Optional[int], encoding: Optional[str], used: set[str]):
        # ``used``: an XLSX formula with no saved value is warned about in these columns, not in those left unused
        if header_row is not None:
            return tabular.xlsx_rows(source, batch=batch, header_row=header_row, used=used)
        return tabular.rows(source, batch=batch, encoding=encoding, used=used)

    def _records(self, source: Source, batch: Batch, found: dict[str, str], default_state: str,
                 header_row: Optional[int], options: dict[str, Any]) -> Iterator[ItemRecord]:
        vocabulary = options.get("theme_vocabulary") or "uhri"
        for line, row in self._rows(source, batch, header_row, options.get("encoding"), set(found.values())):
            batch.read += 1
            raw = {canon: row.get(col) for canon, col in found.items()}
            cell = {k: "" if v is None else str(v).strip() for k, v in raw.items()}
            if isinstance(raw.get("paragraph"), float):
                batch.problem(line, "paragraph", f"paragraph given as a number ({raw['paragraph']}): a trailing "
                              "zero (115.10) may be lost; format the column as text", "warning")
            session = _int(batch, line, "session", cell.get("session"))
            cycle = _int(batch, line, "cycle", cell.get("cycle"))
            if session is not None and cycle is not None and cycle_of_session(session) != cycle:
                batch.problem(line, "cycle", f"cycle {cycle} does not match session {session} "
                              f"(cycle {cycle_of_session(session)}): kept as given", "warning")
            if not cell.get("response"):
                batch.problem(line, "response", "response is empty: stored as pending", "warning")
            text = cell.get("text", "")
            named, rest = recommendation_states(" ".join(text.split()))
            recommending = split_states(cell.get("recommending_states")) or named
            if named and recommending != named:
                batch.problem(line, "recommending_states", f"the column names {'; '.join(recommending)} but the "
                              f"text names {'; '.join(named)}: the column is kept", "warning")
            themes_in = split_multi(cell.get("themes"), labels=True) or split_multi(cell.get("heading_theme"), labels=True)
            themes, sdgs, bad = tags_of(themes_in, split_multi(cell.get("sdg_goals")) + split_multi(cell.get("sdg_targets")),
                                        vocabulary)
            for value in bad:
                batch.problem(line, "sdg_goals", f"'{value}' names no SDG goal 1-17 or target: not stored", "warning")
            symbol = cell.get("document_symbol") or wg_report_symbol(cell.get("source_of_position")) or None
            rec = recommendation_record(
                batch,
                row_ref=line,
                state_name=cell.get("state_under_review") or default_state,
                text=rest,
                text_original=text,
                response_raw=cell.get("response"),
                recommending=recommending,
                session=session,
                cycle=cycle,
                document_symbol=symbol,
                paragraph=cell.get("paragraph") or None,
                action_category_raw=cell.get("action_category"),
                themes=themes,
                sdgs=sdgs,
                affected_persons=split_multi(cell.get("affected_persons")),
                extra={"source_of_position": cell.get("source_of_position")},
            )
            if rec is not None:
                yield rec


READER = UprCsvReader()
