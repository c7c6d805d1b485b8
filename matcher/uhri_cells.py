"""Cells of the Universal Human Rights Index (UHRI) export, as OHCHR writes them.

The export puts a "- " bullet before every value, several values of one cell on separate lines,
SDGs as "1.4 - Equal rights to economic resources" (target) or "5 - Gender equality" (goal),
sessions as "39" or "Session 39", and dates as Excel serial numbers.  These parsers never guess:
a value they cannot read comes back as None (or in a list of unreadable values) for the reader
to report.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, Optional

# Excel's day 0 is 1899-12-30 once its fictitious 1900-02-29 is accounted for (serials >= 61).
_EXCEL_EPOCH = date(1899, 12, 30)
_PLAUSIBLE_YEARS = range(1945, 2101)  # a UN document date outside this is a misread cell
_BULLET = re.compile(r"^\s*[-\u2013\u2022*]\s*")
_SESSION = re.compile(r"^\D*?(\d{1,3})(?:st|nd|rd|th)?\D*$", re.I)
_SDG = re.compile(r"^(?:(?:sdg|goal)\s*)?(\d{1,2})(?:\.(\d{1,2}|[a-z]))?\s*(?:[-\u2013\u2014:]\s*(.*))?$", re.I)
_THEME_CODE = re.compile(r"^([A-Z]\d{1,2})\s+(\S.*)$")  # "A12 Acceptance of international norms"
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


def cell_text(value: Any) -> str:
    """A cell as stripped text ('' for empty); 39.0 read from Excel becomes '39'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def bullet_list(value: Any) -> list[str]:
    """The values of a multi-valued cell: one per line, '- ' bullet removed, blanks and repeats dropped."""
    items = (" ".join(_BULLET.sub("", line).split()) for line in cell_text(value).split("\n"))
    return list(dict.fromkeys(i for i in items if i))


def single_value(value: Any) -> str:
    """A single-valued cell without its bullet ('- UPR' -> 'UPR'); several lines are joined by '; '."""
    return "; ".join(bullet_list(value))


def parse_session(value: Any) -> Optional[int]:
    """UPR Working Group session number from '39', 39.0, 'Session 39', '39th session' or '- 39'; else None."""
    m = _SESSION.match(single_value(value))
    if not m:
        return None
    number = int(m.group(1))
    return number if number >= 1 else None


class SdgRef(NamedTuple):
    """One SDG value of a cell: ``level`` is 'sdg_target' or 'sdg_goal'; ``goal`` is its goal number."""

    level: str
    code: str
    goal: str
    label: Optional[str]


def parse_sdg(item: str) -> Optional[SdgRef]:
    """'1.4 - Equal rights ...' -> target 1.4 of goal 1; '5 - Gender equality' -> goal 5; else None.

    Goals outside 1-17 are refused; a target's number is checked for shape only (1.4, 1.b).
    """
    m = _SDG.match(item.strip())
    if not m:
        return None
    goal = int(m.group(1))
    if not 1 <= goal <= 17:
        return None
    label = (m.group(3) or "").strip() or None
    if m.group(2) is None:
        return SdgRef("sdg_goal", str(goal), str(goal), label)
    sub = m.group(2).lower()
    sub = str(int(sub)) if sub.isdigit() else sub
    return SdgRef("sdg_target", f"{goal}.{sub}", str(goal), label)


def sdg_tags(items: list[str]) -> tuple[list[tuple[str, str, Optional[str]]], dict[str, list[str]], list[str]]:
    """(vocabulary, code, label) triples for the SDG values of a cell, with the goals they imply.

    Returns (tags, implied, unreadable): every target also yields its goal once; ``implied`` maps a
    goal code that the cell did not name itself to the targets implying it; ``unreadable`` lists the
    values that are not an SDG goal or target.
    """
    targets: dict[str, Optional[str]] = {}
    goals: dict[str, Optional[str]] = {}
    implied: dict[str, list[str]] = {}
    unreadable: list[str] = []
    for item in items:
        ref = parse_sdg(item)
        if ref is None:
            unreadable.append(item)
        elif ref.level == "sdg_goal":
            goals[ref.code] = goals.get(ref.code) or ref.label
        else:
            targets.setdefault(ref.code, ref.label)
            implied.setdefault(ref.goal, []).append(ref.code)
    implied = {g: codes for g, codes in implied.items() if g not in goals}
    for goal in implied:
        goals[goal] = None
    tags = [("sdg_target", code, label) for code, label in targets.items()]
    tags += [("sdg_goal", code, label) for code, label in sorted(goals.items(), key=lambda kv: int(kv[0]))]
    return tags, implied, unreadable


def theme_tag(label: str) -> tuple[str, str]:
    """(code, label) of a UHRI theme: 'A12 Acceptance of ...' -> ('A12', 'Acceptance of ...'); else (label, label)."""
    m = _THEME_CODE.match(label)
    return (m.group(1), m.group(2)) if m else (label, label)


def excel_date(value: Any) -> Optional[date]:
    """A date cell as a date: an Excel serial (number or digits), a datetime, or ISO/d.m.Y/d/m/Y text.

    None for an empty cell; ValueError for anything else (the caller reports it, never guesses).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        text = cell_text(value)
        if not text:
            return None
        if isinstance(value, (int, float)) or _NUMBER.match(text):
            serial = float(text)
            if serial < 61:  # before Excel's fictitious 29 Feb 1900 the epoch differs: no real date there
                raise ValueError(f"'{text}' is not a plausible Excel date serial")
            try:
                day = _EXCEL_EPOCH + timedelta(days=int(serial))
            except OverflowError:
                raise ValueError(f"'{text}' is too large for an Excel date serial") from None
        else:
            day = _parse_text_date(text)
    if day.year not in _PLAUSIBLE_YEARS:
        raise ValueError(f"'{cell_text(value)}' gives {day.isoformat()}, outside {_PLAUSIBLE_YEARS.start}-"
                         f"{_PLAUSIBLE_YEARS.stop - 1}")
    return day


def _parse_text_date(text: str) -> date:
    head = text.split("T")[0].split(" ")[0]
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y"):  # day first: UN documents never write m/d/Y
        try:
            return datetime.strptime(head, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"'{text}' is not a date (expected an Excel serial, YYYY-MM-DD or DD/MM/YYYY)")
