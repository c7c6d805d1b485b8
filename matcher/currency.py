"""Converting reported amounts to USD with the ECB reference rates shipped in currencyconverter.

Rule: the rate of the value date, or of the nearest earlier business day that has one.  A date
after the last bundled rate uses the last rate and says so; a date before the first rate, or a
currency the ECB does not publish, gets no USD amount and a reason -- such money is never summed
with other currencies.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple, Optional


class Conversion(NamedTuple):  # a tuple: made for every money fact, several times cheaper than a dataclass
    """USD amount (None when not convertible), the rate used (USD per unit), the rate's date, a reason."""

    amount_usd: Optional[Decimal]
    rate: Optional[float]
    rate_date: Optional[date]
    reason: Optional[str]


@lru_cache(maxsize=1)
def _converter():
    from currency_converter import CurrencyConverter

    # The bundled ECB history: never downloads anything.
    return CurrencyConverter(fallback_on_missing_rate=False, fallback_on_wrong_date=False)


def covered_currencies() -> frozenset[str]:
    """The currencies with ECB rates (loading the bundled rates on first use, about a second)."""
    return frozenset(_converter().currencies)


@lru_cache(maxsize=65536)
def usd_rate(currency: str, on: date) -> tuple[Optional[float], Optional[date], Optional[str]]:
    """(USD per one unit of ``currency``, date of the rate, reason if none) on ``on`` or the last earlier day."""
    cur = (currency or "").upper()
    if cur == "USD":
        return 1.0, on, None
    conv = _converter()
    if cur not in conv.currencies:
        return None, None, f"currency {cur or '(none)'} is not covered by the ECB reference rates"
    first, last = conv.bounds[cur].first_date, min(conv.bounds[cur].last_date, conv.bounds["USD"].last_date)
    if on < first:
        return None, None, f"no ECB rate for {cur} before {first.isoformat()}"
    day = min(on, last)
    for _ in range(40):  # weekends, holidays and gaps in discontinued series
        try:
            return float(conv.convert(1, cur, "USD", date=day)), day, None
        except Exception:  # noqa: BLE001 - currencyconverter raises RateNotFoundError subclasses
            day -= timedelta(days=1)
    return None, None, f"no ECB rate for {cur} within 40 days before {on.isoformat()}"


def to_usd(amount: Decimal, currency: Optional[str], on: Optional[date]) -> Conversion:
    """Convert ``amount`` of ``currency`` on value date ``on`` to USD (rounded to the cent)."""
    if not currency:
        return _NO_CURRENCY
    if on is None:
        return _NO_DATE
    dec_rate, rate, rate_day, note = _usd_rate_decimal(currency, on)
    if dec_rate is None:
        return Conversion(None, None, None, note)
    return Conversion((Decimal(amount) * dec_rate).quantize(_CENT), rate, rate_day, note)


_CENT = Decimal("0.01")
_NO_CURRENCY = Conversion(None, None, None, "no currency given (neither on the value nor as a default)")
_NO_DATE = Conversion(None, None, None, "no value date to choose an exchange rate")


@lru_cache(maxsize=65536)
def _usd_rate_decimal(currency: str, on: date) -> tuple[Optional[Decimal], Optional[float], Optional[date], Optional[str]]:
    """(rate as the Decimal of its shortest repr, rate, rate date, note or reason): per (currency, value date),
    since an activity file repeats the same few of each thousands of times."""
    rate, rate_day, reason = usd_rate(currency, on)
    if rate is None:
        return None, None, None, reason
    last = _converter().bounds["USD"].last_date
    note = f"rate of {rate_day.isoformat()} (last bundled ECB rate)" if on > last else None
    return Decimal(repr(rate)), rate, rate_day, note
