"""Reading amounts, years and dates typed by people into spreadsheets, without ever guessing.

Amount rule (documented in docs/donor_template.md):

* A numeric spreadsheet cell is taken as it is.
* Text may use ``.`` or ``,`` as decimal separator and ``,`` ``.`` space, no-break space or
  apostrophe as thousands separator (groups of exactly three digits); a leading ``-``/``+``/``−``
  or accounting brackets ``(1,234.50)`` give the sign.  Currency symbols or codes in the cell are
  refused: the currency belongs in its own column.
* Unambiguous forms are read directly: ``1234.5``, ``1,234.50``, ``1.234,50``, ``1 234,50``,
  ``1'234.50``, ``1,234,567``, ``1234,5``, ``0,125``.
* A single separator followed by exactly three digits after one to three leading digits (``1,234``,
  ``250.000``) is ambiguous.  It is read with the file's decimal separator -- given by the caller
  or inferred from the file's unambiguous amounts -- and refused when neither settles it.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

_GROUP = " \u00a0\u202f\u2009'\u2019"  # space, no-break, narrow no-break, thin space, apostrophes
_SPACED = re.compile(rf"^\d{{1,3}}(?:[{_GROUP}]\d{{3}})+(?:([.,])(\d+))?$")
_COMMA_GROUPS_DOT = re.compile(r"^\d{1,3}(?:,\d{3})+\.\d+$")
_DOT_GROUPS_COMMA = re.compile(r"^\d{1,3}(?:\.\d{3})+,\d+$")
_MANY_COMMAS = re.compile(r"^\d{1,3}(?:,\d{3}){2,}$")
_MANY_DOTS = re.compile(r"^\d{1,3}(?:\.\d{3}){2,}$")
_ONE_SEP = re.compile(r"^(\d+)([.,])(\d+)$")
_INT = re.compile(r"^\d+$")

MAX_DECIMALS = 4  # the store keeps 4 decimal places (Numeric(24, 4))
MAX_INTEGER_DIGITS = 20


class AmountError(ValueError):
    """A cell that is not an amount, or an ambiguous one; the message says why."""


def _split_sign(text: str) -> tuple[int, str]:
    if text.startswith("(") and text.endswith(")"):
        return -1, text[1:-1].strip()
    if text[:1] in ("-", "\u2212"):
        return -1, text[1:].strip()
    if text[:1] == "+":
        return 1, text[1:].strip()
    return 1, text


def _ambiguous(lead: str, tail: str) -> bool:
    """'1,234' / '250.000': could be thousands grouping or three decimals."""
    return len(tail) == 3 and 1 <= len(lead) <= 3 and not lead.startswith("0")


def decimal_evidence(raw: Any) -> Optional[str]:
    """The decimal separator an amount cell proves ('.' or ','), or None when it proves nothing."""
    if not isinstance(raw, str):
        return None
    _, s = _split_sign(raw.strip())
    if m := _SPACED.match(s):
        return m.group(1)
    if _COMMA_GROUPS_DOT.match(s) or _MANY_COMMAS.match(s):
        return "."
    if _DOT_GROUPS_COMMA.match(s) or _MANY_DOTS.match(s):
        return ","
    if (m := _ONE_SEP.match(s)) and not _ambiguous(m.group(1), m.group(3)):
        return m.group(2)
    return None


def parse_amount(raw: Any, *, decimal: Optional[str] = None) -> Decimal:
    """The amount in a cell as a Decimal (unit: the row's currency); raises AmountError.

    ``decimal`` ('.' or ',') settles the ambiguous '1,234' form; see the module docstring.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise AmountError("amount is empty")
    if isinstance(raw, bool):
        raise AmountError(f"amount '{raw}' is not a number")
    if isinstance(raw, int):
        return _checked(Decimal(raw), raw)
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise AmountError(f"amount '{raw}' is not a number")
        return _checked(Decimal(repr(raw)), raw)  # repr: the shortest text that reads back as this float
    if isinstance(raw, Decimal):
        return _checked(raw, raw)
    text = str(raw).strip()
    sign, s = _split_sign(text)
    if _INT.match(s):
        number = s
    elif m := _SPACED.match(s):
        number = re.sub(f"[{_GROUP}]", "", s)
        if m.group(1):
            number = number.replace(m.group(1), ".")
    elif _COMMA_GROUPS_DOT.match(s) or _MANY_COMMAS.match(s):
        number = s.replace(",", "")
    elif _DOT_GROUPS_COMMA.match(s) or _MANY_DOTS.match(s):
        number = s.replace(".", "").replace(",", ".")
    elif m := _ONE_SEP.match(s):
        lead, sep, tail = m.groups()
        if _ambiguous(lead, tail):
            if decimal not in (".", ","):
                raise AmountError(
                    f"amount '{text}' is ambiguous: '{sep}' may separate thousands or decimals; write "
                    f"{lead}{tail} or {lead}.{tail}0, or state the file's decimal separator")
            number = f"{lead}.{tail}" if sep == decimal else lead + tail
        else:
            number = f"{lead}.{tail}"
    else:
        raise AmountError(f"amount '{text}' is not a number (digits with '.' or ',' only; "
                          "put the currency in the currency column)")
    try:
        value = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the patterns above only let digits through
        raise AmountError(f"amount '{text}' is not a number") from None
    return _checked(value * sign, text)


def _checked(value: Decimal, raw: Any) -> Decimal:
    if not value.is_finite():
        raise AmountError(f"amount '{raw}' is not a number")
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise AmountError(f"amount '{raw}' has more than {MAX_INTEGER_DIGITS} digits before the decimal point")
    return value


def excess_decimals(value: Decimal) -> bool:
    """True when ``value`` has more decimals than the store keeps (it will be rounded)."""
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and -exponent > MAX_DECIMALS


def store_amount(value: Decimal) -> Decimal:
    """``value`` rounded (half-even) to the store's 4 decimal places."""
    return value.quantize(Decimal(1).scaleb(-MAX_DECIMALS)) if excess_decimals(value) else value


def parse_year(raw: Any) -> int:
    """A calendar year 1900-2100 from a cell (2020, 2020.0, '2020'); raises ValueError."""
    if isinstance(raw, bool):
        raise ValueError(f"year '{raw}' is not a calendar year")
    if isinstance(raw, (datetime, date)):
        return raw.year
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw if raw is not None else "").strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not re.fullmatch(r"\d{4}", text) or not 1900 <= int(text) <= 2100:
        raise ValueError(f"year '{text}' is not a calendar year like 2020 (fiscal years such as 2020/21 "
                         "are not read: give the calendar year the money belongs to)")
    return int(text)


def parse_date(raw: Any) -> Optional[date]:
    """A date from a spreadsheet date cell or ISO text (YYYY-MM-DD); None when empty; raises ValueError.

    Day/month orders such as 01/02/2020 are refused: they read differently in different countries.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = str(raw).strip()
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?", text)
    if not m:
        raise ValueError(f"'{text}' is not a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        raise ValueError(f"'{text}' is not a valid date") from None
