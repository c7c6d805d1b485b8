"""Donor portfolio spreadsheets: rows (money lines) -> Activities with money facts.

A portfolio sheet has one row per money line; every row with the same ``id`` (and reporting
organisation) belongs to one programme.  ``activities`` groups them without holding the file in
memory: a first pass notes, per programme, the number of its last row (one small integer per
distinct id); the second pass builds each programme from its rows and hands it on as soon as its
last row has been read.  A file sorted or grouped by id therefore keeps one programme in memory
at a time; an interleaved file keeps only the programmes whose rows are still to come.

Header mapping lives in matcher/header_map.py, amount/date rules in matcher/amounts.py; the
template and every rule are documented in docs/donor_template.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Iterator, Optional

from .amounts import AmountError, decimal_evidence, excess_decimals, parse_amount, parse_date, parse_year, store_amount
from .countries import group_members, to_iso3
from .currency import to_usd
from .header_map import norm_header
from .records import Batch, IngestError, ItemRecord, stable_id

SOURCE_TYPE = "donor"
KINDS = ("budget", "commitment", "disbursement", "expenditure", "planned_disbursement")
# Activity-level fields: the first non-empty value across a programme's rows wins.
ACTIVITY_FIELDS = ("title", "description", "recipient_country", "dac_sector", "sdg_targets", "status",
                   "start_date", "end_date", "reporting_org_name")
# IATI ActivityStatus codes and names -> one spelling; anything else is kept as written.
_STATUS_NAMES = ("pipeline", "implementation", "finalisation", "closed", "cancelled", "suspended")
STATUSES = {**{str(i): n for i, n in enumerate(_STATUS_NAMES, start=1)}, **{n: n for n in _STATUS_NAMES},
            "pipeline/identification": "pipeline", "finalization": "finalisation", "canceled": "cancelled"}
MAX_ID = 200  # Activity.id column width

RowSource = Callable[[], Iterator[tuple[int, dict[str, Any]]]]


@dataclass
class _Programme:
    """What is kept of one programme while its rows are read: small values and its money facts."""

    key: tuple[str, str]
    first_row: int
    values: dict[str, tuple[Any, int]] = field(default_factory=dict)  # field -> (value, row it came from)
    money: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


def _cell(value: Any) -> Any:
    """A cell with surrounding whitespace removed; empty text and '-' become None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return None if value in ("", "-") else value
    return value


def _text(value: Any) -> Optional[str]:
    """A cell as text; an integral number typed into an id or code cell loses its '.0'."""
    value = _cell(value)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class PortfolioReader:
    """Turns the rows of one portfolio sheet into Activity records, reporting problems on ``batch``."""

    def __init__(self, batch: Batch, columns: dict[str, str], options: dict[str, Any]):
        self.batch, self.columns = batch, columns
        self.defaults = {norm_header(k): v for k, v in (options.get("defaults") or {}).items()}
        self.decimal = options.get("decimal")
        if self.decimal not in (None, ".", ","):
            raise IngestError(batch.file_name, f"decimal separator must be '.' or ',', not '{self.decimal}'")

    def value(self, row: dict[str, Any], fld: str) -> Any:
        """The row's cell for ``fld`` (or the file-wide default when no column provides it)."""
        if fld in self.columns:
            return _cell(row.get(self.columns[fld]))
        return _cell(self.defaults.get(fld))

    def cells(self, row: dict[str, Any]) -> dict[str, Any]:
        """Every field of a row at once (cells cleaned, defaults filled in)."""
        out = {fld: _cell(v) for fld, v in self.defaults.items()}
        for fld, col in self.columns.items():
            out[fld] = _cell(row.get(col))
        return out

    def key(self, cells: dict[str, Any]) -> Optional[tuple[str, str]]:
        ident = _text(cells.get("id"))
        return None if ident is None else (_text(cells.get("reporting_org")) or "", ident)

    def activities(self, rows: RowSource) -> Iterator[ItemRecord]:
        """Stream one Activity per programme; ``rows`` is called twice (two passes over the file)."""
        last_row: dict[tuple[str, str], int] = {}
        evidence: set[str] = set()
        for line, row in rows():
            k = self.key({"id": self.value(row, "id"), "reporting_org": self.value(row, "reporting_org")})
            if k is not None:
                last_row[k] = line
            if self.decimal is None and (sep := decimal_evidence(self.value(row, "amount"))):
                evidence.add(sep)
        if self.decimal is None and len(evidence) == 1:
            self.decimal = evidence.pop()
        elif len(evidence) > 1:
            self.batch.problem(None, "amount", "amounts use both '.' and ',' as decimal separator: ambiguous "
                               "amounts such as 1,234 are refused (state the decimal separator)", "warning")
        if not self.columns.get("reporting_org") and not str(self.defaults.get("reporting_org") or "").strip():
            self.batch.problem(None, "reporting_org", "no reporting_org column or value: activity ids are "
                               "'donor::<id>' and may collide with another organisation's ids", "warning")
        open_: dict[tuple[str, str], _Programme] = {}
        for line, row in rows():
            self.batch.read += 1
            cells = self.cells(row)
            k = self.key(cells)
            if k is None:
                self.batch.skip(line, "id", "id is empty: the row cannot be given to a programme")
                continue
            prog = open_.get(k)
            if prog is None:
                prog = open_[k] = _Programme(key=k, first_row=line)
            self._add_row(prog, line, cells)
            if last_row.get(k) == line:
                del open_[k]
                rec = self._record(prog)
                if rec is not None:
                    yield rec

    # ------------------------------------------------------------------ one row
    def _add_row(self, prog: _Programme, line: int, cells: dict[str, Any]) -> None:
        fact = self._money(line, cells)
        if fact is None:
            return  # skipped: the row contributes nothing, as if absent
        prog.money.append(fact)
        prog.rows.append(line)
        for fld in ACTIVITY_FIELDS:
            val = cells.get(fld)
            if val is None:
                continue
            first = prog.values.get(fld)
            if first is None:
                prog.values[fld] = (val, line)
            elif first[0] != val and str(first[0]).split() != str(val).split():
                self.batch.problem(line, fld, f"differs from row {prog.values[fld][1]} of the same id "
                                   f"'{prog.key[1]}': the first value is kept", "warning")

    def _money(self, line: int, cells: dict[str, Any]) -> Optional[dict[str, Any]]:
        b = self.batch
        raw_kind = _text(cells.get("kind"))
        kind = re.sub(r"[\s\-]+", "_", (raw_kind or "").casefold())
        if kind not in KINDS:
            b.skip(line, "kind", f"kind '{raw_kind or ''}' is not one of {', '.join(KINDS)}")
            return None
        try:
            amount = parse_amount(cells.get("amount"), decimal=self.decimal)
        except AmountError as exc:
            b.skip(line, "amount", str(exc))
            return None
        currency = (_text(cells.get("currency")) or "").upper()
        if not re.fullmatch(r"[A-Z]{3}", currency):
            b.skip(line, "currency", f"currency '{currency}' is not an ISO 4217 code such as EUR or USD")
            return None
        try:
            year = parse_year(cells.get("year"))
        except ValueError as exc:
            b.skip(line, "year", str(exc))
            return None
        value_date = None
        try:
            value_date = parse_date(cells.get("value_date"))
        except ValueError as exc:
            b.problem(line, "value_date", f"{exc}: converted to USD at 1 July {year} instead", "warning")
        if excess_decimals(amount):
            b.problem(line, "amount", f"amount {amount} has more than 4 decimals: stored rounded to "
                      f"{store_amount(amount)}", "warning")
            amount = store_amount(amount)
        if amount < 0:
            b.problem(line, "amount", f"negative amount {amount} kept (a reported correction) and flagged", "warning")
        # The year's midpoint stands for a year's money when no value date is given.
        conv = to_usd(amount, currency, value_date or date(year, 7, 1))
        extra: dict[str, Any] = {"row": line}
        if conv.rate_date is not None:
            extra["rate_date"] = conv.rate_date.isoformat()
        if conv.amount_usd is not None and conv.reason:
            extra["rate_note"] = conv.reason
        return {
            "source_type": SOURCE_TYPE, "kind": kind, "year": year,
            "period_start": date(year, 1, 1), "period_end": date(year, 12, 31),
            "amount": amount, "currency": currency, "value_date": value_date,
            "amount_usd": conv.amount_usd, "usd_rate": conv.rate,
            "no_usd_reason": conv.reason if conv.amount_usd is None else None,
            "is_negative": amount < 0, "counted": True, "extra": extra,
        }

    # ------------------------------------------------------------------ one programme
    def _record(self, prog: _Programme) -> Optional[ItemRecord]:
        if not prog.money:
            return None  # every row was skipped (each one counted already)
        b, vals = self.batch, prog.values
        org, ident = prog.key
        title = vals.get("title", (None, 0))[0]
        if title is None:
            for line in prog.rows:
                b.skip(line, "title", f"no row of id '{ident}' gives a title")
            return None
        item_id = f"donor:{org}:{ident}"
        if len(item_id) > MAX_ID:
            item_id = stable_id("donor:", org, ident)
        tags = self._sectors(vals.get("dac_sector")) + self._sdgs(vals.get("sdg_targets"))
        currencies = {m["currency"] for m in prog.money}
        status = _text(vals.get("status", (None, 0))[0])
        row = {
            "iati_identifier": ident,
            "reporting_org_ref": org or None,
            "reporting_org_name": _text(vals.get("reporting_org_name", (None, 0))[0]),
            "title": str(title),
            "description": _text(vals.get("description", (None, 0))[0]),
            "status": STATUSES.get(status.casefold(), status) if status else None,
            "start_date": self._date(vals.get("start_date"), "start_date"),
            "end_date": self._date(vals.get("end_date"), "end_date"),
            "default_currency": currencies.pop() if len(currencies) == 1 else None,
            "hierarchy": None, "parent_id": None, "is_child": False,
            "source_type": b.source_type, "source_file": b.file_name, "source_sha256": b.sha256,
            "source_row": _row_list(prog.rows),
            "titles": [{"lang": None, "text": str(title)}],
            "descriptions": ([{"lang": None, "type": None, "text": _text(vals["description"][0])}]
                             if "description" in vals else None),
        }
        return ItemRecord(
            item_type="activity", id=item_id, row=row, source_key=f"{org}:{ident}", source_row=prog.first_row,
            children={"item_country": self._countries(vals.get("recipient_country")), "item_tag": tags,
                      "money_fact": prog.money},
        )

    def _date(self, cell: Optional[tuple[Any, int]], fld: str) -> Optional[date]:
        if cell is None:
            return None
        try:
            return parse_date(cell[0])
        except ValueError as exc:
            self.batch.problem(cell[1], fld, f"{exc}: left empty", "warning")
            return None

    def _countries(self, cell: Optional[tuple[Any, int]]) -> list[dict[str, Any]]:
        """Countries of 'Kenya', 'KE;UG', 'KEN:56;UGA:44' or a multi-country group name."""
        if cell is None:
            return []
        out: list[dict[str, Any]] = []
        line = cell[1]
        text = _text(cell[0]) or ""
        if ";" not in text and ":" not in text and to_iso3(text) is None and not group_members(text):
            parts = [p.strip() for p in text.split(",") if p.strip()]
            if len(parts) > 1 and all(to_iso3(p) or group_members(p) for p in parts):
                text = ";".join(parts)  # 'Kenya, Uganda': a comma list whose every part is a country
        for name, pct in _split_shares(self.batch, line, "recipient_country", text):
            group = group_members(name)
            if group:
                out += [{"iso3": m, "name": name, "group_name": group[0], "share_pct": None} for m in group[1]]
                continue
            iso3 = to_iso3(name)
            if iso3 is None:
                self.batch.problem(line, "recipient_country", f"unknown country '{name}': kept as written with no "
                                   "ISO3 code (add it to mappings/country_aliases.csv)", "warning")
            out.append({"iso3": iso3, "name": name, "group_name": None, "share_pct": pct})
        return out

    def _sectors(self, cell: Optional[tuple[Any, int]]) -> list[dict[str, Any]]:
        """DAC purpose codes, 5 digits (dac5) or 3 digits (dac3), each with an optional percentage."""
        if cell is None:
            return []
        out = []
        for code, pct in _split_shares(self.batch, cell[1], "dac_sector", _text(cell[0]) or ""):
            if not re.fullmatch(r"\d{3}|\d{5}", code):
                self.batch.problem(cell[1], "dac_sector", f"'{code}' is not a DAC sector code (5 digits, e.g. "
                                   "15160, or a 3-digit category): ignored", "warning")
                continue
            out.append(_tag("dac5" if len(code) == 5 else "dac3", code, "dac_sector", pct))
        return out

    def _sdgs(self, cell: Optional[tuple[Any, int]]) -> list[dict[str, Any]]:
        """SDG targets ('5.2', '16.a'); each implies its goal; a bare goal number ('16') is a goal."""
        if cell is None:
            return []
        targets: list[str] = []
        goals: dict[str, Optional[str]] = {}  # goal -> None (declared) or the target implying it
        for part in re.split(r"[;\n]", _text(cell[0]) or ""):
            part = re.sub(r"^(?:sdg|target|goal)\s*", "", part.strip(), flags=re.I).strip()
            if not part:
                continue
            m = re.fullmatch(r"(\d{1,2})(?:\.(\d{1,2}|[a-zA-Z]))?", part)
            if not m or not 1 <= int(m.group(1)) <= 17:
                self.batch.problem(cell[1], "sdg_targets", f"'{part}' is not an SDG target such as 5.2 or 16.a: "
                                   "ignored", "warning")
                continue
            goal = str(int(m.group(1)))
            if m.group(2):
                code = f"{goal}.{m.group(2).lower() if m.group(2).isalpha() else int(m.group(2))}"
                if code not in targets:
                    targets.append(code)
                goals.setdefault(goal, code)
            else:
                goals[goal] = None
        # Same convention as IATI (matcher/activity_tags.py): an implied goal has route "implied".
        return ([_tag("sdg_target", t, "sdg_targets") for t in targets]
                + [_tag("sdg_goal", g, "sdg_targets") for g, by in goals.items() if by is None]
                + [_tag("sdg_goal", g, "implied", extra={"implied_by": f"sdg_target {by}"})
                   for g, by in goals.items() if by is not None])


def _tag(vocabulary: str, code: str, route: str, share_pct: Optional[float] = None,
         extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    return {"vocabulary": vocabulary, "code": code, "label": None, "origin": "declared", "route": route,
            "share_pct": share_pct, "extra": extra}


def _split_shares(batch: Batch, line: int, fld: str, text: str) -> list[tuple[str, Optional[float]]]:
    """'A:56;B:44' -> [('A', 56.0), ('B', 44.0)]; a share that is not 0-100 is dropped with a warning."""
    out: list[tuple[str, Optional[float]]] = []
    for part in (p.strip() for p in re.split(r"[;\n]", text)):
        if not part:
            continue
        name, sep, pct_text = part.rpartition(":")
        if not sep:
            out.append((part, None))
            continue
        try:
            pct = float(pct_text.strip().rstrip("%").replace(",", "."))
        except ValueError:
            pct = None
        if pct is None or not 0 <= pct <= 100:
            batch.problem(line, fld, f"share '{pct_text}' of '{name.strip()}' is not a percentage 0-100: "
                          "left empty", "warning")
            pct = None
        out.append((name.strip(), pct))
    shares = [p for _, p in out if p is not None]
    if shares and len(shares) == len(out) and abs(sum(shares) - 100) > 0.5:
        batch.problem(line, fld, f"shares add up to {sum(shares):g}%, not 100%", "warning")
    return out


def _row_list(rows: list[int]) -> str:
    """Rows '2-4, 9' of a programme (compact ranges), for people finding it in the sheet."""
    parts, start = [], None
    for i, r in enumerate(rows):
        if start is None:
            start = r
        if i + 1 == len(rows) or rows[i + 1] != r + 1:
            parts.append(str(start) if start == r else f"{start}-{r}")
            start = None
    return ", ".join(parts)
