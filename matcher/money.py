"""Money facts of donor activities: amounts as reported, their USD value, and what may be summed.

A money fact is one budget line, planned disbursement or transaction.  ``amount`` is in ``currency``
exactly as reported (negative corrections kept, ``is_negative`` set); ``amount_usd`` uses the ECB
rate of the value date (``matcher.currency``).  ``counted`` is false for money that must never be
summed as spending: incoming money (it is the funder's outgoing money, counted at the funder) and an
original budget superseded by a revised one for the same period.
"""
from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Callable, Iterable, Optional

from .currency import to_usd

# IATI TransactionType codelist (2.0x) -> our kind names.
TRANSACTION_KINDS: dict[str, str] = {
    "1": "incoming_funds",
    "2": "commitment",
    "3": "disbursement",
    "4": "expenditure",
    "5": "interest_payment",
    "6": "loan_repayment",
    "7": "reimbursement",
    "8": "purchase_of_equity",
    "9": "sale_of_equity",
    "10": "credit_guarantee",
    "11": "incoming_commitment",
    "12": "outgoing_pledge",
    "13": "incoming_pledge",
}
# The 1.0x letter codes, still met inside otherwise valid 2.0x files.
LEGACY_TRANSACTION_CODES: dict[str, str] = {
    "IF": "1", "C": "2", "D": "3", "E": "4", "IR": "5", "LR": "6", "R": "7", "QP": "8", "QS": "9", "CG": "10",
}
# Money flowing INTO the activity: already counted as the provider's outgoing money.
NOT_SPENDING = frozenset({"incoming_funds", "incoming_commitment", "incoming_pledge"})

BUDGET_TYPES = {"1": "1", "2": "2", "original": "1", "revised": "2"}
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
Report = Callable[[str, str], None]  # (field, message)
STORE_PRECISION = Decimal("0.0001")  # money_fact.amount is NUMERIC(24, 4)
MAX_AMOUNT = Decimal("1e20")


def parse_amount(text: Optional[str]) -> Optional[Decimal]:
    """A reported value as Decimal (thousands separators and spaces removed), None when not a number."""
    if text is None:
        return None
    s = text.strip().replace(",", "").replace(" ", "").replace("\u00a0", "")
    if not s:
        return None
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@lru_cache(maxsize=8192)  # a file repeats its period and transaction dates
def parse_date(text: Optional[str]) -> Optional[date]:
    """An ISO date (``2014-11-28``, also with a time or zone suffix), None when absent or invalid."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def normalise_currency(code: Optional[str]) -> Optional[str]:
    """Upper-case ISO 4217 code, or None for an empty or malformed code."""
    if code is None or not _CURRENCY.match(code.strip()):
        return None
    return code.strip().upper()


def transaction_kind(code: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(kind, note) for a transaction-type code; kind None when unknown, note set for a 1.0x letter code."""
    c = (code or "").strip()
    if c in TRANSACTION_KINDS:
        return TRANSACTION_KINDS[c], None
    legacy = LEGACY_TRANSACTION_CODES.get(c.upper())
    if legacy:
        kind = TRANSACTION_KINDS[legacy]
        return kind, f"1.0x transaction type code '{c}' read as {kind} (code {legacy})"
    return None, None


def money_fact(
    *,
    source_type: str,
    kind: str,
    amount: Decimal,
    currency: Optional[str],
    period_start: Optional[date],
    period_end: Optional[date],
    value_date: Optional[date],
    counted: bool = True,
    extra: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """A ``money_fact`` child row: ``amount`` in ``currency`` as reported, ``amount_usd`` in US dollars.

    ``amount`` is rounded to the store's 4 decimals (the value as written is kept in
    ``extra["amount_as_reported"]`` when that changed it).  The exchange rate is the one of
    ``value_date``, else of ``period_start`` (the transaction date); ``year`` is set when the period
    lies within one calendar year.
    """
    extra = dict(extra or {})
    stored = amount.quantize(STORE_PRECISION, rounding=ROUND_HALF_UP)
    if stored != amount:  # the store keeps 4 decimals; the value as written is not lost
        extra["amount_as_reported"] = str(amount)
    amount = stored
    rate_day = value_date or period_start
    conv = to_usd(amount, currency, rate_day)
    year = None
    if period_start and (period_end is None or period_end.year == period_start.year):
        year = period_start.year
    elif period_end and period_start is None:
        year = period_end.year
    if conv.amount_usd is not None and conv.reason:
        extra["usd_note"] = conv.reason
    return {
        "source_type": source_type,
        "kind": kind,
        "year": year,
        "period_start": period_start,
        "period_end": period_end,
        "amount": amount,
        "currency": currency,
        "value_date": value_date,
        "amount_usd": conv.amount_usd,
        "usd_rate": conv.rate,
        "no_usd_reason": None if conv.amount_usd is not None else conv.reason,
        "is_negative": amount < 0,
        "counted": counted and kind not in NOT_SPENDING,
        "extra": extra or None,
    }


def supersede_budgets(facts: Iterable[dict[str, Any]]) -> int:
    """Mark original budgets ``counted=False`` where a revised budget covers the same period.

    Facts are ``money_fact`` rows whose ``extra["budget_type"]`` is "1" (original, also when the
    file gave no type) or "2" (revised).  Every revised budget of a period counts; returns how many
    originals were superseded.
    """
    by_period: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for fact in facts:
        if fact["kind"] == "budget":
            by_period[(fact["period_start"], fact["period_end"])].append(fact)
    superseded = 0
    for group in by_period.values():
        if not any((f["extra"] or {}).get("budget_type") == "2" for f in group):
            continue
        for f in group:
            if (f["extra"] or {}).get("budget_type") != "2":
                f["counted"] = False
                f["extra"]["superseded_by_revised"] = True
                superseded += 1
    return superseded



def activity_money(
    *,
    source_type: str,
    budgets: Iterable[dict],
    planned: Iterable[dict],
    transactions: Iterable[dict],
    default_currency: Optional[str],
    warn: Report,
    drop: Report,
) -> list[dict[str, Any]]:
    """All money facts of one activity, budgets already superseded (see ``supersede_budgets``).

    Input dicts hold the strings of the file: ``value``, ``currency`` (of the value), ``value_date``,
    ``period_start``/``period_end`` (budgets, planned disbursements) or ``date`` (transactions),
    ``type`` (budget type / transaction type code), ``status`` and ``where`` (the element's path).
    The value's currency falls back to ``default_currency``; neither gives a fact without currency
    and a warning.  A value that is not a number leaves the fact out (``drop``).
    """
    facts: list[dict[str, Any]] = []

    def build(el: dict, kind: str, start, end, extra: dict) -> None:
        amount = parse_amount(el.get("value"))
        if amount is None:
            drop(f"{el['where']}/value", f"value '{el.get('value') or ''}' is not a number: {kind} left out")
            return
        if abs(amount) >= MAX_AMOUNT:
            drop(f"{el['where']}/value", f"value {el.get('value')} is too large to store (20 digits): {kind} left out")
            return
        currency = normalise_currency(el.get("currency")) or normalise_currency(default_currency)
        if currency is None:
            warn(f"{el['where']}/value/@currency",
                 "no currency on the value and no default-currency on the activity: kept without currency")
        value_date = parse_date(el.get("value_date"))
        if el.get("value_date") and value_date is None:
            warn(f"{el['where']}/value/@value-date", f"value-date '{el['value_date']}' is not a date")
        facts.append(money_fact(source_type=source_type, kind=kind, amount=amount, currency=currency,
                                period_start=start, period_end=end, value_date=value_date, extra=extra))

    for el in budgets:
        btype = BUDGET_TYPES.get((el.get("type") or "1").strip().lower())
        if btype is None:
            warn(f"{el['where']}/@type", f"unknown budget type '{el.get('type')}': read as original (1)")
            btype = "1"
        start, end = _period(el, warn)
        build(el, "budget", start, end, {"budget_type": btype, "budget_status": el.get("status")})
    for el in planned:
        start, end = _period(el, warn)
        build(el, "planned_disbursement", start, end, {"type": el.get("type")} if el.get("type") else {})
    for el in transactions:
        kind, note = transaction_kind(el.get("type"))
        if kind is None:
            drop(f"{el['where']}/transaction-type", f"unknown transaction type '{el.get('type') or ''}': transaction left out")
            continue
        if note:
            warn(f"{el['where']}/transaction-type", note)
        day = parse_date(el.get("date"))
        if day is None:
            warn(f"{el['where']}/transaction-date", f"transaction date '{el.get('date') or ''}' missing or not a date")
        extra = {"transaction_type": el.get("type")}
        if el.get("ref"):
            extra["ref"] = el["ref"]
        build(el, kind, day, day, extra)
    supersede_budgets(facts)
    return facts


def _period(el: dict, warn: Report) -> tuple[Optional[date], Optional[date]]:
    start, end = parse_date(el.get("period_start")), parse_date(el.get("period_end"))
    if start is None:
        warn(f"{el['where']}/period-start", f"period-start '{el.get('period_start') or ''}' missing or not a date")
    if start and end and end < start:
        warn(f"{el['where']}/period-end", f"period ends ({end}) before it starts ({start})")
    return start, end
