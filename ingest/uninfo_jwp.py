"""UN INFO Joint Work Plan export (XLSX or CSV): one row per sub-output, 81-93 columns.

The plan hierarchy (plan -> strategic priority -> outcome -> output) is repeated on every row; each
parent is emitted once per file, the row itself becomes the sub-output with its money facts (one
per year and kind from the ``YYYY Required/Available/Expenditure`` columns; the ``Total …`` columns
are only checked against them).  ``Focal users`` holds staff names and is dropped on read.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator, Optional

from matcher import cooperation as co
from matcher.records import Batch, ItemRecord, stable_id
from matcher.sources import Source

from . import tabular

REQUIRED = ("Country", "Plan name", "Strategic priority", "Outcome", "Output", "Sub-Output", "ID")
DROPPED = ("Focal users",)  # personal names: never read further than this module
# column -> where it goes; everything else that is not money lands in ``extra``
COLUMNS = {
    "Country": None, "Plan name": None, "Strategic priority code": None, "Strategic priority": None,
    "Outcome code": None, "Outcome": None, "Output code": None, "Output": None, "Sub-Output code": None,
    "Sub-Output": None, "ID": None, "Description": None, "Start date": None, "End date": None, "Status": None,
    "Agency abbreviations": None, "Agencies": None, "Contributing partners": None, "Implementation partners": None,
    "SDG Targets": None, "SDG Goals": None, "LNOB groups targeted": None, **{c: None for c in co.MARKERS},
}
PARENTS = (  # level, code column, title column, id prefix
    ("strategic_priority", "Strategic priority code", "Strategic priority", "cfs-"),
    ("outcome", "Outcome code", "Outcome", "cfo-"),
    ("output", "Output code", "Output", "cft-"),
)


class UninfoJwpReader:
    name = "uninfo-jwp"
    kind = "cf"
    background = True  # reading (XLSX XML, text repair) costs about what writing does: one core each
    item_type = "cf_item"
    description = "UN INFO Joint Work Plan export (XLSX or CSV, one row per sub-output)"

    def sniff(self, source: Source) -> bool:
        cols = set(tabular.header(source, required=("Sub-Output", "Plan name")))
        return {"Sub-Output", "Plan name", "Output"} <= cols

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        batch = Batch("uninfo-jwp", self.item_type, source.name, source.sha256(), records=())
        cols = tabular.header(source, encoding=options.get("encoding"), required=REQUIRED)
        tabular.missing_columns(source, cols, REQUIRED)
        batch.records = self._records(source, batch, cols, options)
        return batch

    def _records(self, source: Source, batch: Batch, cols: list[str], options: dict) -> Iterator[ItemRecord]:
        yearly, totals = co.money_columns(cols)
        money_cols = {c for c, _, _ in yearly} | set(totals.values())
        emitted: set[str] = set()
        chains: dict[tuple, list[tuple]] = {}  # the plan hierarchy repeats on every row: its ids are hashed once
        layouts: dict[tuple, list[tuple[str, Optional[str]]]] = {}
        sep: str | None = None
        # a CSV saved with semicolons between cells (a European-locale spreadsheet) writes decimal commas
        decimal = "," if not tabular.is_xlsx(source) and tabular.delimiter(source, options.get("encoding")) == ";" \
            else "."
        for line, raw in tabular.rows(source, batch=batch, encoding=options.get("encoding"), required=REQUIRED,
                                      dropped=DROPPED):
            for col in DROPPED:
                raw.pop(col, None)
            batch.read += 1
            cell = _Cells(batch, line, raw)
            sep = sep or co.list_separator(cell.text("Agency abbreviations"), cell.text("SDG Goals"),
                                           cell.text("LNOB groups targeted"))
            iso3, group, countries, trouble = co.place(cell.text("Country"))
            if trouble:
                batch.problem(line, "Country", trouble, "warning")
            where = {"country": iso3, "country_group": group, "plan_name": cell.text("Plan name")}
            plan_title = cell.text("Plan name") or "(plan without a name)"
            key = (cell.text("Country"), plan_title,
                   *((co.clean_code(raw.get(code_col)), cell.text(title_col)) for _, code_col, title_col, _ in PARENTS))
            chain = chains.get(key)
            if chain is None:
                if len(chains) > 100_000:
                    chains.clear()  # memory stays flat on a file with very many outputs
                chain = chains[key] = _chain(key)
            parent_of = None
            for item_id, level, code, title in chain:
                if item_id not in emitted:
                    emitted.add(item_id)
                    yield co.cf_record(batch, item_id=item_id, level=level, title=title, row_ref=line, code=code,
                                       parent_id=parent_of, **where,
                                       children={"item_country": [dict(c) for c in countries]})
                parent_of = item_id
            keys = tuple(raw)
            extras = layouts.get(keys)
            if extras is None:
                extras = layouts[keys] = _extra_columns(keys, money_cols)
            record = self._sub_output(batch, line, raw, cell, sep, parent_of, where, countries,
                                      yearly, totals, extras, decimal)
            cell.report()
            yield record

    def _sub_output(self, batch, line, raw, cell, sep, parent_id, where, countries, yearly, totals, extras,
                    decimal: str = "."):
        uid = co.clean_code(raw.get("ID"))
        code = co.clean_code(raw.get("Sub-Output code"))
        title = cell.text("Sub-Output")
        if not title:
            batch.problem(line, "Sub-Output", "sub-output has no title: its code is used", "warning")
            title = code or "(sub-output without a title)"
        if uid:
            item_id, key = f"uninfo-so-{uid}", uid
        else:
            batch.problem(line, "ID", "sub-output has no UN INFO ID: identified by its content", "warning")
            item_id, key = stable_id("cfx-", parent_id, code, title), None
        abbrs = co.split_list(cell.text("Agency abbreviations"), sep)
        agencies, unpaired = co.pair_agencies(abbrs, co.split_list(cell.text("Agencies"), sep, co.COMMA_NAMES))
        agencies += [{"abbreviation": None, "name": n} for n in unpaired]
        markers = [m for col, key_ in co.MARKERS.items() if (m := co.normalise_marker(key_, cell.text(col)))]
        tags = co.sdg_tags(cell.text("SDG Targets"), cell.text("SDG Goals"))
        if cell.text("SDG Targets") and not any(t["vocabulary"] == "sdg_target" for t in tags):
            batch.problem(line, "SDG Targets", "no target code (like 4.1 or 4.a) found: goals taken from 'SDG Goals'",
                          "warning")
        tags += [co.tag("uninfo_marker", f"{m['marker']}:{m['code']}", m["label"], "uninfo") for m in markers]
        lnob = co.split_list(cell.text("LNOB groups targeted"), sep)
        tags += [co.tag("lnob", g, g, "uninfo") for g in lnob]
        money = self._money(batch, line, raw, yearly, totals, decimal)
        extra = {"uninfo_id": uid}
        narratives = {}
        for col, year in extras:
            value = raw.get(col)
            if value is None or value == "" or value == "-":
                continue  # most narrative cells: no call at all
            text = cell.text(col)
            if text is None:
                continue
            if year:
                narratives[year] = text
            else:
                extra[col] = text
        if narratives:
            extra["narratives"] = narratives
        return co.cf_record(
            batch, item_id=item_id, level="sub_output", title=title, row_ref=line, source_key=key, code=code,
            description=cell.text("Description"), parent_id=parent_id, status=cell.text("Status"),
            start_date=cell.date("Start date"), end_date=cell.date("End date"), agencies=agencies,
            partners_contributing=co.split_list(cell.text("Contributing partners"), sep),
            partners_implementing=co.split_list(cell.text("Implementation partners"), sep),
            markers=markers, lnob_groups=lnob, extra=extra, **where,
            children={"item_country": [dict(c) for c in countries], "item_tag": tags, "money_fact": money},
        )

    @staticmethod
    def _money(batch, line, raw, yearly, totals, decimal: str = ".") -> list[dict]:
        facts, sums = [], {}
        by_year: dict[tuple[int, str], Decimal] = {}
        for col, year, kind in yearly:
            value = raw.get(col)
            if value is None or value == 0 or value == "" or value == "-" or value == "0":
                continue  # no money (most cells): zero adds nothing to any sum, "no money" is the absence of a fact
            try:
                amount = co.parse_amount(value, decimal=decimal)
            except ValueError as exc:
                batch.problem(line, col, f"{exc}: left out", "warning")
                continue
            if amount is None or amount == 0:
                continue
            if amount < 0:
                batch.problem(line, col, f"negative amount {amount} kept (a reported correction)", "warning")
            sums[kind] = sums.get(kind, Decimal(0)) + amount
            by_year[(year, kind)] = amount
            facts.append(co.money_fact(kind, amount, year=year))
        for (year, kind), amount in by_year.items():
            required = by_year.get((year, "required"), Decimal(0))
            if kind == "available" and amount > required:
                batch.problem(line, f"{year} Available", f"available {amount} exceeds required {required} for "
                              f"{year}: kept as reported", "warning")
        reported = {}
        for kind, col in totals.items():
            try:
                reported[kind] = co.parse_amount(raw.get(col), decimal=decimal)
            except ValueError as exc:
                batch.problem(line, col, f"{exc}: total not checked", "warning")
        for message in co.check_totals(sums, reported):
            batch.problem(line, "Total", message, "warning")
        return facts


def _chain(key: tuple) -> list[tuple[str, str, Optional[str], str]]:
    """[(item id, level, code, title)] from the plan down to the output, from (country, plan title, (code, title) per level)."""
    country, plan_title, *levels = key
    parent = stable_id("cfp-", country, plan_title)
    chain = [(parent, "plan", None, plan_title)]
    for (level, _, _, prefix), (code, title) in zip(PARENTS, levels):
        parent = stable_id(prefix, parent, code, title)
        name = level.replace("_", " ")
        chain.append((parent, level, code, title or (f"{name} {code}" if code else f"({name} without a title)")))
    return chain


def _extra_columns(keys: tuple, money_cols: set[str]) -> list[tuple[str, Optional[str]]]:
    """[(column, year of a 'YYYY Narrative' column or None)] of the columns kept in ``extra``, in file order."""
    return [(col, col[:4] if col.endswith(" Narrative") and col[:4].isdigit() else None)
            for col in keys if col and col not in COLUMNS and col not in money_cols]


class _Cells:
    """Cleaned text of a row's cells; ``report`` adds one warning per row for encoding repairs."""

    def __init__(self, batch: Batch, line: int, raw: dict):
        self.batch, self.line, self.raw, self.cache = batch, line, raw, {}
        self.repaired: dict[str, int] = {}

    def text(self, col: str):
        if col in self.cache:
            return self.cache[col]
        value = self.raw.get(col)
        if value is None or value == "" or value == "-":  # most narrative/money cells: skip the cleaning
            self.cache[col] = None
            return None
        text, repaired, damaged = co.clean_cell(value)
        if repaired:
            self.repaired[col] = repaired
        if damaged:
            self.batch.problem(self.line, col, "text still shows encoding damage that cannot be repaired "
                               "reliably: kept as written", "warning")
        self.cache[col] = text
        return text

    def report(self) -> None:
        if self.repaired:
            self.batch.problem(self.line, ", ".join(self.repaired), f"repaired {sum(self.repaired.values())} "
                               "mis-decoded character sequence(s) (UTF-8 read as Mac Roman/cp1252), e.g. "
                               "'‚Äô' -> '’'", "warning")

    def date(self, col: str):
        try:
            return co.parse_date(self.raw.get(col))
        except ValueError as exc:
            self.batch.problem(self.line, col, f"{exc}: left empty", "warning")
            return None


READER = UninfoJwpReader()
