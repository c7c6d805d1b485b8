"""Donor portfolio spreadsheet (CSV in any common encoding, or XLSX) for ministries that do not publish IATI.

One row = one money line of a programme; rows sharing an ``id`` (and ``reporting_org``) are one
Activity with several money facts, wherever they are in the file.  Template columns (header
spelling is free: 'Recipient Country' = 'recipient_country'; other headers via ``--map``):

==================  ========  =================================================================
column              required  content
==================  ========  =================================================================
id                  yes       the programme's own number; activity id = ``donor:<reporting_org>:<id>``
title               yes       programme title (first non-empty value among its rows)
description                   programme description
recipient_country             country name or ISO2/ISO3 code; several ';'-separated, optional
                              ``:percent`` (``KE:56;UG:44``); a multi-country group name
                              (mappings/country_groups.csv) reaches every member
dac_sector                    DAC-5 purpose code (15160) or DAC-3 category; several ';'-separated,
                              optional ``code:percent`` (``12264:33;15170:67``)
sdg_targets                   SDG targets ';'-separated (``5.2;16.1``); targets imply their goals; a
                              bare goal number (``16``) is read as a goal
amount              yes       the money line's amount in ``currency``, as written (see Amounts below)
currency            yes       ISO 4217 code (EUR, USD, DKK, XDR …)
year                yes       calendar year of the money line (2020)
kind                yes       budget | commitment | disbursement | expenditure | planned_disbursement
status                        programme status (IATI codes 1–6 or names are normalised)
start_date                    YYYY-MM-DD (or a spreadsheet date)
end_date                      YYYY-MM-DD
reporting_org                 the organisation's identifier (IATI org ref if it has one, e.g. XM-DAC-3-1)
reporting_org_name            the organisation's name
value_date                    date of the money line; USD rate of that day, else of 1 July of ``year``
==================  ========  =================================================================

Amounts: spreadsheet numbers are taken as they are; text may use '.' or ',' decimals with ',', '.',
space or apostrophe thousands groups (1,234.50 · 1.234,50 · 1 234,50).  '1,234' or '250.000' is
ambiguous: it is read with the file's decimal separator (given, or proven by the file's other
amounts), otherwise the row is skipped with a problem.  Money in a currency the ECB does not
publish is kept with no USD amount and the reason.  Unknown kind, amount, currency or year: the row
is skipped and counted; an unknown country is kept by name with no ISO3 code and a warning.
Memory: two streaming passes; one small integer per distinct id plus the programmes still open.

Options: ``map`` ({their column: field} or ["column=field", …]); ``defaults`` ({field: value} for a
field no column provides, e.g. {"currency": "EUR", "kind": "budget"}); ``decimal`` ('.' or ',') for
ambiguous amounts such as 1,234; ``encoding`` for CSV.  Rules for amounts, groups of rows and
problems: matcher/portfolio.py, matcher/amounts.py and docs/donor_template.md.
"""
from __future__ import annotations

from typing import Any

from matcher import header_map, portfolio
from matcher.records import Batch, IngestError
from matcher.sources import Source

from . import tabular

def _xlsx_top_rows(source: Source) -> list[list[str]]:
    """The rows among the first 20 as text: the header may sit under a title block."""
    return [["" if v is None else str(v).strip() for v in values] for _, values in tabular.xlsx_head(source)]


def _header(source: Source, options: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """(header, {field: column}) of the file; raises IngestError naming missing required fields."""
    if tabular.is_xlsx(source):
        candidates = [r for r in _xlsx_top_rows(source) if any(r)]
        for cells in candidates:
            try:
                return cells, header_map.resolve_columns(source.name, cells, options)
            except IngestError:
                continue
        header = candidates[0] if candidates else []
    else:
        enc = options.get("encoding") or tabular.detect_encoding(source)
        header = tabular.header(source, encoding=enc)
    return header, header_map.resolve_columns(source.name, header, options)


class DonorReader:
    name = "donor"
    kind = "donor"
    item_type = "activity"
    description = "donor portfolio spreadsheet (CSV or XLSX: id, title, amount, currency, year, kind …)"

    def sniff(self, source: Source) -> bool:
        if source.head(64).lstrip().startswith(b"<"):
            return False  # XML (IATI) or HTML
        try:
            rows = _xlsx_top_rows(source) if tabular.is_xlsx(source) else [tabular.header(source)]
        except IngestError:
            return False
        return any(header_map.header_matches(r) for r in rows)

    def read(self, source: Source, *, options: dict[str, Any]) -> Batch:
        batch = Batch(self.name, self.item_type, source.name, source.sha256(), records=())
        header, columns = _header(source, options)
        defaults = {header_map.norm_header(k) for k, v in (options.get("defaults") or {}).items() if v}
        absent = [f for f in header_map.RECOMMENDED if f not in columns and f not in defaults]
        if absent:
            batch.problem(1, ", ".join(absent), f"no column for {', '.join(absent)}: left empty for every activity",
                          "warning")
        unused = [h for h in header if h and h not in columns.values()]
        if unused:
            batch.problem(1, None, f"columns not used: {', '.join(unused)} (map one with --map 'COLUMN=field' if "
                          "it holds a template field)", "warning")
        reader = portfolio.PortfolioReader(batch, columns, options)
        required = tuple(columns.values())
        encoding = None if tabular.is_xlsx(source) else options.get("encoding") or tabular.detect_encoding(source)
        # the reader passes over the rows twice: what the first pass finds (an XLSX formula with no saved value in
        # a column read) is reported by the second, so it goes to a scratch batch
        passes = iter([Batch(self.name, self.item_type, source.name, batch.sha256, records=())])
        batch.records = reader.activities(lambda: tabular.rows(source, batch=next(passes, batch), encoding=encoding,
                                                               required=required, used=required))
        return batch


READER = DonorReader()
