"""Cooperation Framework (UN INFO) normalisation: cells, codes, SDGs, markers, agencies, money, records.

The UN INFO readers (``ingest/uninfo_jwp.py``, ``ingest/uninfo_api.py``) only locate values; every
rule about what a cell means lives here once.  Amounts are US dollars as UN INFO reports them.
"""
from __future__ import annotations

import re
from functools import lru_cache
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Optional

from . import amounts
from .countries import group_members, to_iso3
from .records import Batch, ItemRecord

EMPTY = {"", "-", "--", "n/a", "N/A", "None", "nan"}
LEVELS = ("plan", "strategic_priority", "outcome", "output", "sub_output")

# --------------------------------------------------------------------------- text cells
_MOJIBAKE_RUN = re.compile(r"[^\x00-\x7f]{2,}")
# Left-overs of UTF-8 read as Mac Roman ("‚Äô", "√©") or cp1252 ("â€™", "Ã©") that no repair undid.
_DAMAGE = re.compile(r"\ufffd|‚Ä|√[\u00a0-\u00ff©®°]|Ã[\u0080-\u00bf]|â€")


def _repair_run(run: str) -> str:
    for enc in ("mac_roman", "cp1252"):
        try:
            fixed = run.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != run and len(fixed) < len(run):
            return fixed
    return run


def repair_mojibake(text: str) -> tuple[str, int]:
    """(text, number of repaired runs): UTF-8 that was decoded as Mac Roman or cp1252, re-decoded.

    Only a run of non-ASCII characters that re-encodes to valid UTF-8 is changed, so correct accents
    ("é", "’") stay as they are: a lone accented character never forms valid UTF-8 bytes.
    """
    count = 0

    def fix(m: re.Match) -> str:
        nonlocal count
        new = _repair_run(m.group(0))
        count += new != m.group(0)
        return new

    return _MOJIBAKE_RUN.sub(fix, text), count


def looks_damaged(text: str) -> bool:
    """True when text still shows encoding damage (replacement characters, mojibake left-overs)."""
    return bool(_DAMAGE.search(text))


def unquote(text: str) -> str:
    """Strip Excel's text-protection wrappers: ``'1.1'``, ``'1.1``, ``="1.1"``."""
    text = text.strip()
    if text.startswith('="') and text.endswith('"'):
        return text[2:-1].strip()
    if text.startswith("'"):
        text = text[1:-1] if text.endswith("'") and len(text) > 1 else text[1:]
    return text.strip()


def _unwrap_text(text: str) -> str:
    """Undo CSV quoting left around a whole text (once or several times over: '"…"' with inner
    quotes doubled), and drop Excel's leading text apostrophe ("'Provide …")."""
    while len(text) > 1 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if '"' in inner.replace('""', ""):
            break  # '"a" and "b"': the quotes belong to the text
        text = inner.replace('""', '"').strip()
    if text.startswith("'") and not text.endswith("'") and text[1:2].isalnum():
        text = text[1:]
    return text


def clean_cell(value: Any) -> tuple[Optional[str], int, bool]:
    """(text or None, mojibake runs repaired, damage left) for one cell: "-" and blanks are None.

    Excel's escaped carriage returns (``_x000D_``) and CR/LF become plain newlines.
    """
    if value is None:
        return None, 0, False
    if type(value) is not str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        value = str(value)
    if len(value) <= _MEMO_CHARS:
        return _clean_text(value)
    return _clean_text.__wrapped__(value)


# Plan, outcome and output titles, SDG target lists, markers and agency lists repeat on every row
# of an export, so what is read from them is remembered (functools.lru_cache, 4096 entries each).
# Only texts up to _MEMO_CHARS are: the memo holds at most 16 M characters whatever narratives hold.
_MEMO_CHARS = 4096


@lru_cache(maxsize=4096)
def _clean_text(text: str) -> tuple[Optional[str], int, bool]:
    if "_x" in text:
        text = text.replace("_x000D_", "")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.strip()
    if text in EMPTY:
        return None, 0, False
    if text[0] in "\"'" or text[-1] == '"':
        text = _unwrap_text(text)
    if "\n" in text:
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    if text.isascii():  # the common case: nothing to repair
        return text, 0, False
    text, repaired = repair_mojibake(text)
    if repaired:  # a repaired byte-order mark or zero-width space is invisible noise
        text = text.replace("\ufeff", "").replace("\u200b", "").strip()
    return text, repaired, looks_damaged(text)


def clean_code(value: Any) -> Optional[str]:
    """A hierarchy code as text: Excel quotes and trailing '.'/':' dropped, 4.0 -> '4'.

    XLSX cells that hold a code as a number have lost trailing zeros (1.10 -> 1.1); nothing can
    bring them back, so such codes are kept as the number reads.
    """
    if value is None:
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else repr(value)
    text = str(value)
    return _clean_code_text(text) if len(text) <= _MEMO_CHARS else _clean_code_text.__wrapped__(text)


@lru_cache(maxsize=4096)
def _clean_code_text(text: str) -> Optional[str]:
    text = unquote(text).rstrip(".: ").strip()
    return None if text in EMPTY else " ".join(text.split())


def parse_date(value: Any) -> Optional[date]:
    """A date from an XLSX datetime or an ISO-like text ('2025-01-01', '2025-01-01 00:00:00'); else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = unquote(str(value or ""))
    if text in EMPTY:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(text[:19], fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: '{text}'")


# --------------------------------------------------------------------------- lists
def list_separator(*cells: Optional[str]) -> Optional[str]:
    """';' or ',' when a cell whose items never contain either (agency abbreviations, SDG goals,
    LNOB groups) shows which one the export uses; None when no cell has two items."""
    for cell in cells:
        if not cell:
            continue
        if ";" in cell:
            return ";"
        if re.search(r",\s*\S", cell):
            return ","
    return None


def split_list(text: Optional[str], sep: Optional[str], protect: Iterable[str] = ()) -> list[str]:
    """Items of a list cell; names in ``protect`` (which contain commas) are never split."""
    if not text:
        return []
    if len(text) <= _MEMO_CHARS:
        return list(_split_list(text, sep, tuple(protect)))
    return list(_split_list.__wrapped__(text, sep, tuple(protect)))


@lru_cache(maxsize=4096)
def _split_list(text: str, sep: Optional[str], protect: tuple[str, ...]) -> tuple[str, ...]:
    sep = sep or (";" if ";" in text else ",")
    guarded = text
    for i, name in enumerate(protect):
        guarded = re.sub(re.escape(name), f"\x00{i}\x00", guarded, flags=re.I)
    out: list[str] = []
    for part in guarded.split(sep):
        if "\x00" in part:
            part = _GUARD.sub(lambda m: protect[int(m.group(1))], part)
        part = part.strip(" ,;\n\t")
        if part and part not in EMPTY and part not in out:
            out.append(part)
    return tuple(out)


_GUARD = re.compile(r"\x00(\d+)\x00")


# --------------------------------------------------------------------------- SDGs
# A target code opens the cell or follows a list separator: "4.a Build …,11.1 By 2030, …".
_TARGET = re.compile(r"(?:^|[,;\n])\s*['\"]?(\d{1,2})\.(\d{1,2}|[a-j])\b['\"]?[\s.:\-]+(?=\S)")
_GOAL = re.compile(r"(?:^|[,;\n])\s*['\"]?(\d{1,2})\b['\"]?(?:[\s.:\-]+(?=[A-Za-z])|\s*(?=[,;\n]|$))")


def parse_sdg_targets(text: Optional[str]) -> list[tuple[str, str]]:
    """(code, label) of every SDG target in a UN INFO 'SDG Targets' cell, found by code.

    Target texts contain commas, so the cell is cut at each ``<goal>.<target>`` code that starts
    the cell or follows a separator; goals outside 1-17 are ignored.
    """
    if not text:
        return []
    hits = [m for m in _TARGET.finditer(text) if 1 <= int(m.group(1)) <= 17]
    out: dict[str, str] = {}
    for i, m in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        code = f"{int(m.group(1))}.{m.group(2)}"
        label = text[m.end():end].strip(" ,;'\"\n")
        out.setdefault(code, label)
    return list(out.items())


def parse_sdg_goals(text: Optional[str]) -> list[tuple[str, str]]:
    """(code, label) of every SDG goal in a 'SDG Goals' cell ("4 Quality Education; 11 …")."""
    if not text:
        return []
    hits = [m for m in _GOAL.finditer(text) if 1 <= int(m.group(1)) <= 17]
    out: dict[str, str] = {}
    for i, m in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        out.setdefault(str(int(m.group(1))), text[m.end():end].strip(" ,;'\"\n"))
    return list(out.items())


def sdg_tags(targets_cell: Optional[str], goals_cell: Optional[str], route: str = "uninfo") -> list[dict]:
    """item_tag rows for the declared targets and goals; goals implied by a target are added
    (marked ``extra.implied_by_target``) when the goals cell does not list them."""
    if (len(targets_cell or "") <= _MEMO_CHARS) and (len(goals_cell or "") <= _MEMO_CHARS):
        codes = _sdg_codes(targets_cell, goals_cell)
    else:
        codes = _sdg_codes.__wrapped__(targets_cell, goals_cell)
    return [tag(vocabulary, code, label, route, extra={"implied_by_target": True} if implied else None)
            for vocabulary, code, label, implied in codes]


@lru_cache(maxsize=4096)
def _sdg_codes(targets_cell: Optional[str], goals_cell: Optional[str]) -> tuple[tuple[str, str, Optional[str], bool], ...]:
    """((vocabulary, code, label, implied), …) of the two cells, in tag order."""
    targets = parse_sdg_targets(targets_cell)
    goals = dict(parse_sdg_goals(goals_cell))
    codes = [("sdg_target", code, label, False) for code, label in targets]
    codes += [("sdg_goal", code, label, False) for code, label in goals.items()]
    for code in dict.fromkeys(c.split(".")[0] for c, _ in targets):
        if code not in goals:
            goals[code] = ""
            codes.append(("sdg_goal", code, None, True))
    return tuple(codes)


def tag(vocabulary: str, code: str, label: Optional[str], route: Optional[str], extra: Optional[dict] = None) -> dict:
    """One item_tag child row (every key present, so rows insert together)."""
    return {"vocabulary": vocabulary, "code": code[:200], "label": label or None, "origin": "declared",
            "route": route, "share_pct": None, "extra": extra}


# --------------------------------------------------------------------------- markers
MARKERS = {  # column -> marker key
    "Gender marker": "gender",
    "Human rights marker": "human_rights",
    "Humanitarian marker": "humanitarian",
    "Sustaining peace marker": "sustaining_peace",
}
_MARKER = re.compile(r"^\s*([0-3])\s*[-–:.]\s*(.*)$", re.S)


def normalise_marker(marker: str, raw: Optional[str]) -> Optional[dict]:
    """{"marker", "code", "label"} from a marker cell such as "2 - Gender equality/ women’s …".

    Curly and straight apostrophes and "/ " vs "/" spellings of the same label are made equal;
    a marker without a number (humanitarian "Appeal") uses its lower-cased label as code.
    """
    if not raw:
        return None
    code, label = _marker_code(raw) if len(raw) <= _MEMO_CHARS else _marker_code.__wrapped__(raw)
    return {"marker": marker, "code": code, "label": label}


@lru_cache(maxsize=4096)
def _marker_code(raw: str) -> tuple[str, str]:
    text = " ".join(raw.replace("’", "'").replace("‘", "'").replace("`", "'").split())
    text = _SLASH.sub("/", text)
    m = _MARKER.match(text)
    if m:
        return m.group(1), m.group(2).strip()
    return text.casefold(), text


_SLASH = re.compile(r"\s*/\s*")


# --------------------------------------------------------------------------- agencies
# UN entities as UN INFO names them; used to pair abbreviations with names (the export lists both
# alphabetically, each by its own key) and to keep "Educational, Scientific and …" in one piece.
UN_ENTITIES = {
    "FAO": "Food and Agriculture Organization of the United Nations", "IFAD": "International Fund for "
    "Agricultural Development", "ILO": "International Labour Organisation", "IOM": "International Organization "
    "for Migration", "ITC": "International Trade Centre", "ITU": "International Telecommunication Union",
    "OHCHR": "United Nations High Commissioner for Human Rights", "UN DESA": "United Nations Department of "
    "Economic and Social Affairs", "UN ECA": "Economic Commission for Africa", "UN Women": "UN Women",
    "UN-HABITAT": "United Nations Human Settlement Programme", "UNAIDS": "United Nations Joint Programme on HIV "
    "and AIDS Secretariat", "UNCDF": "United Nations Capital Development Fund", "UNDP": "United Nations "
    "Development Programme", "UNDPO": "United Nations Department of Peace Operations", "UNEP": "United Nations "
    "Environment Programme", "UNESCO": "United Nations Educational, Scientific and Cultural Organisation",
    "UNFPA": "United Nations Population Fund", "UNHCR": "United Nations High Commissioner for Refugees",
    "UNIC": "United Nations Information Centres", "UNICEF": "United Nations Children's Fund", "UNIDO": "United "
    "Nations Industrial Development Organization", "UNITAR": "United Nations Institute for Training and Research",
    "UNMAS": "United Nations Mine Action Service", "UNODC": "United Nations Office on Drugs and Crime",
    "UNOPS": "United Nations Office for Project Services", "UNRWA": "The United Nations Relief and Works Agency "
    "for Palestine Refugees in the Near East", "UNV": "United Nations Volunteers", "WFP": "United Nations World "
    "Food Programme", "WHO": "World Health Organization", "World Bank": "The World Bank", "UN": "The United Nations",
}
COMMA_NAMES = ("United Nations Educational, Scientific and Cultural Organisation",
               "United Nations Educational, Scientific and Cultural Organization")


def _name_key(name: str) -> str:
    name = re.sub(r"^the\s+", "", name.strip().casefold().replace("’", "'"))
    return name.replace("organization", "organisation")


@lru_cache(maxsize=1)
def _known_names() -> dict[str, str]:
    return {_name_key(v): k for k, v in UN_ENTITIES.items()}


@lru_cache(maxsize=4096)
def _abbreviation_of(name: str) -> Optional[str]:
    return _known_names().get(_name_key(name))


def pair_agencies(abbreviations: list[str], names: list[str]) -> tuple[list[dict], list[str]]:
    """([{"abbreviation", "name"}], names left unpaired): known pairs first, then the last one by elimination."""
    pairs, left = _pairs(tuple(abbreviations), tuple(names))
    return [{"abbreviation": a, "name": n} for a, n in pairs], list(left)


@lru_cache(maxsize=4096)
def _pairs(abbreviations: tuple[str, ...], names: tuple[str, ...]) -> tuple[tuple, tuple]:
    left = list(names)
    out = []
    for abbr in abbreviations:
        match = next((n for n in left if _abbreviation_of(n) == abbr), None)
        if match is not None:
            left.remove(match)
        out.append([abbr, match])
    unnamed = [a for a in out if a[1] is None]
    if len(unnamed) == 1 and len(left) == 1:
        unnamed[0][1] = left.pop()
    return tuple(tuple(a) for a in out), tuple(left)


# --------------------------------------------------------------------------- country
def place(country: Optional[str]) -> tuple[Optional[str], Optional[str], list[dict], Optional[str]]:
    """(ISO3, group name, item_country rows, problem) for a plan's country cell.

    A multi-country office keeps its name and reaches every member; an unknown name is kept by
    name with no ISO3 (and a problem message) -- never guessed, never dropped.
    """
    iso3, group, rows, trouble = _place(country)
    return iso3, group, [dict(zip(_PLACE_KEYS, r)) for r in rows], trouble


_PLACE_KEYS = ("iso3", "name", "group_name", "share_pct")


@lru_cache(maxsize=1024)
def _place(country: Optional[str]) -> tuple[Optional[str], Optional[str], tuple, Optional[str]]:
    if not country:
        return None, None, (), "country is empty"
    group = group_members(country)
    if group:
        name, members = group
        return None, name, tuple((m, country, name, None) for m in members), None
    iso3 = to_iso3(country)
    row = (iso3, country, None, None)
    if iso3 is None:
        return None, None, (row,), (f"unknown country or multi-country office '{country}': kept by name; add it to "
                                    "mappings/country_aliases.csv or mappings/country_groups.csv")
    return iso3, None, (row,), None


# --------------------------------------------------------------------------- records
def cf_record(batch: Batch, *, item_id: str, level: str, title: str, row_ref, source_key: Optional[str] = None,
              children: Optional[dict] = None, **fields: Any) -> ItemRecord:
    """A CFItem record with every column present (missing ones None/empty) and provenance filled."""
    row = {
        "level": level, "code": None, "title": title, "description": None, "parent_id": None, "plan_name": None,
        "country": None, "country_group": None, "status": None, "start_date": None, "end_date": None,
        "agencies": [], "partners_contributing": [], "partners_implementing": [], "markers": [], "lnob_groups": [],
        "extra": {},
        "source_type": batch.source_type, "source_file": batch.file_name, "source_sha256": batch.sha256,
        "source_row": None if row_ref is None else str(row_ref),
    }
    if not row.keys() >= fields.keys():
        raise TypeError(f"not CFItem columns: {', '.join(sorted(set(fields) - set(row)))}")
    row.update(fields)
    kids = {"item_tag": [], "item_country": [], "money_fact": []}
    kids.update(children or {})
    return ItemRecord("cf_item", item_id, row, kids, source_key=source_key, source_row=row_ref)


# --------------------------------------------------------------------------- money
MONEY_KINDS = {"required": "required", "available": "available", "expenditure": "expenditure"}
_YEARLY = re.compile(r"^\s*(\d{4})\s+(Required|Available|Expenditure)\s*$", re.I)
_TOTAL = re.compile(r"^\s*Total\s+(required|available|expenditure)\b", re.I)
_CENT = Decimal("0.005")


def money_columns(headers: Iterable[str]) -> tuple[list[tuple[str, int, str]], dict[str, str]]:
    """([(column, year, kind)], {kind: Total column}) of a JWP export; which years exist varies."""
    yearly, totals = [], {}
    for col in headers:
        if m := _YEARLY.match(col or ""):
            yearly.append((col, int(m.group(1)), m.group(2).lower()))
        elif m := _TOTAL.match(col or ""):
            totals[m.group(1).lower()] = col
    return yearly, totals


def parse_amount(value: Any, decimal: str = ".") -> Optional[Decimal]:
    """A money cell as Decimal (USD in UN INFO); None for blank/"-"; ValueError when not a number.

    ``decimal``: the file's decimal separator, which settles the ambiguous 1,234 / 1.234 (1234 when it is the
    other separator); unambiguous forms (1,234.56, 1.234,56, 1234,5) read the same either way.

    XLSX floats go through ``repr`` so 1733015.51 stays 1733015.51, not its binary expansion.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = unquote(str(value)).strip()
    if text.replace("\u00a0", "").replace(" ", "") in EMPTY:
        return None
    if text.startswith("$"):
        text = text[1:].strip()
    # UN INFO writes 1,234,567.89; a sheet re-saved in a European locale writes 1.234.567,89 or 1234567,89
    # (with semicolons between cells): both read right; the ambiguous 1,234 follows ``decimal``.
    try:
        return amounts.parse_amount(text, decimal=decimal)
    except amounts.AmountError:
        raise ValueError(f"not an amount: '{value}'") from None


def money_fact(kind: str, amount: Decimal, *, source_type: str = "uninfo", year: Optional[int] = None,
               period_start: Optional[date] = None, period_end: Optional[date] = None, counted: bool = True,
               extra: Optional[dict] = None) -> dict:
    """A money_fact child row in USD (UN INFO reports US dollars: amount_usd = amount, rate 1.0)."""
    return {
        "source_type": source_type, "kind": kind, "year": year, "period_start": period_start,
        "period_end": period_end, "amount": amount, "currency": "USD", "value_date": None, "amount_usd": amount,
        "usd_rate": 1.0, "no_usd_reason": None, "is_negative": amount < 0, "counted": counted, "extra": extra,
    }


def check_totals(sums: dict[str, Decimal], totals: dict[str, Optional[Decimal]],
                 parts: str = "the yearly {kind} columns") -> list[str]:
    """Messages for every kind whose reported total (USD) differs by a cent or more from ``sums[kind]``,
    the sum of its parts; ``parts`` names those parts in the message. An empty total counts as 0."""
    out = []
    for kind, total in totals.items():
        got = sums.get(kind, Decimal(0))
        total = Decimal(0) if total is None else total
        if abs(total - got) >= _CENT:
            out.append(f"Total {kind} {total} differs from the sum of {parts.format(kind=kind)} {got} "
                       f"(by {total - got}); the detailed amounts are kept")
    return out
