"""Fields of OHCHR-style recommendation lists: states, themes, SDGs, affected persons, symbols.

Shared by the OHCHR thematic-list reader (DOCX) and the generic recommendations table reader
(CSV/XLSX).  OHCHR writes things that ``recommendations.clean_text`` does not expect, so the
rules live here once:

* joint recommendations end in one parenthesis per state, "(France) (Lithuania);", or in one
  list, "(Senegal, Sierra Leone, Venezuela (Bolivarian Republic of),Peru, Uruguay);" — note the
  nested parenthesis of the UN country name;
* merged recommendations name a state after each part: "... (Ukraine); Increase efforts ... (Slovakia);";
* themes are UHRI labels, with a code in cycle 2 ("A12 Acceptance of international norms"), without
  one later; SDGs are "16 - PEACE, JUSTICE AND STRONG INSTITUTIONS"; cells list them under the
  headings "SDGs:", "Affected persons:" or "Groups of Persons:", one item a line, with "- " bullets.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from .countries import to_iso3

# One parenthesis, allowing one level of nesting: "(Venezuela (Bolivarian Republic of))".
_GROUP = r"\((?:[^()]|\([^()]*\))*\)"
_TRAILING_GROUP = re.compile(_GROUP + r"\s*$")
# A state parenthesis that closes one part of a merged recommendation: "(Ukraine); Increase ..."
_INNER_GROUP = re.compile(r"(" + _GROUP + r")\s*;\s*(?=\S)")
_END_PUNCT = " \t\n;.,"
_MULTI_SPLIT = re.compile(r"\s*(?:\||;|\r?\n)\s*")
_BULLET = re.compile(r"^\s*(?:[-–•*·]\s+|[-–•*·](?=\S))")
_THEME_CODE = re.compile(r"^([A-Z]\d{1,2})\s+(\S.*)$")
_SDG = re.compile(r"^(?:SDG|Goal)?\s*(\d{1,2}(?:\.[0-9a-z]{1,2})?)\b\s*(?:[-–—:.]\s*)?(.*)$", re.I)
_WG_SYMBOL = re.compile(r"\bA/HRC/\d+/\d+\b")
_TITLE = re.compile(
    r"UPR\s+of\s+(?P<state>[^()\t\n]+?)\s*\(\s*(?P<cycle>\d+)\s*(?:st|nd|rd|th)?\s+cycle\s*[-–—,:]?\s*"
    r"(?P<session>\d+)\s*(?:st|nd|rd|th)?\s+session\s*\)",
    re.I,
)
_SESSION_ONLY = re.compile(r"\b(\d{1,3})\s*(?:st|nd|rd|th)\s+session\b", re.I)
_CYCLE_ONLY = re.compile(r"\b(\d)\s*(?:st|nd|rd|th)\s+cycle\b", re.I)
_SECTION_HEADINGS = {
    "sdgs": "sdgs", "sdg": "sdgs", "relevant sdgs": "sdgs", "sdg goals": "sdgs",
    "affected persons": "affected_persons", "groups of persons": "affected_persons",
    "persons affected": "affected_persons", "themes": "themes", "human rights themes": "themes",
}


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses ("Venezuela (Bolivarian Republic of), Peru")."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _state_list(content: str, *, strict: bool) -> Optional[list[str]]:
    """States in "A, B and C" / "A; B"; with ``strict`` None unless every one is a country."""
    names: list[str] = []
    for part in (p for chunk in _MULTI_SPLIT.split(content) for p in _split_top_level(chunk)):
        if to_iso3(part):  # "Bosnia and Herzegovina" stays whole
            names.append(part)
            continue
        pieces = [x.strip() for x in re.split(r"\s+and\s+", part) if x.strip()]
        if len(pieces) > 1 and all(to_iso3(x) for x in pieces):
            names.extend(pieces)
        elif strict:
            return None
        else:
            names.append(part)  # kept by name; the record builder reports it as unknown
    return names


def split_states(cell: Optional[str]) -> list[str]:
    """Recommending states of a table cell: separated by | ; newline or commas, "and" between two."""
    return _state_list(cell or "", strict=False) or []


def recommendation_states(text: str) -> tuple[list[str], str]:
    """(recommending states, text without its trailing state parentheses) of an OHCHR recommendation.

    Every trailing parenthesis whose parts are all countries is peeled off ("(France) (Lithuania);");
    states closing earlier parts of a merged recommendation ("(Ukraine); Increase ...") come first and
    stay in the text.  A parenthesis that is not a list of countries ("(No. 29)", "(ICRMW)") stops it.
    """
    rest = text.rstrip(_END_PUNCT)
    trailing: list[str] = []
    while True:
        m = _TRAILING_GROUP.search(rest)
        if not m:
            break
        states = _state_list(m.group(0)[1:-1], strict=True)
        if not states:
            break
        trailing = states + trailing
        rest = rest[: m.start()].rstrip(" \t\n")
    if not trailing:
        return [], text
    inner: list[str] = []
    for m in _INNER_GROUP.finditer(rest):
        states = _state_list(m.group(1)[1:-1], strict=True)
        if states:
            inner.extend(states)
    return list(dict.fromkeys(inner + trailing)), rest


def split_multi(cell: Optional[str], *, labels: bool = False) -> list[str]:
    """Items of a multi-valued cell, bullets removed; never split on commas.

    Newlines and "|" win over ";" when a cell has both, because theme labels contain semicolons
    ("Children: definition; general principles; protection").  With ``labels`` and only ";" as
    separator, a part starting in lower case continues the previous label instead of starting one.
    """
    cell = cell or ""
    strong = re.compile(r"\s*(?:\||\r?\n)\s*")
    if strong.search(cell):
        parts = strong.split(cell)
    else:
        parts = []
        for part in cell.split(";"):
            if labels and parts and part.strip()[:1].islower():
                parts[-1] = f"{parts[-1].rstrip()}; {part.strip()}"
            else:
                parts.append(part)
    items = (_BULLET.sub("", p).strip() for p in parts)
    return list(dict.fromkeys(i for i in items if i))


def theme_tag(label: str, vocabulary: str = "uhri") -> tuple[str, str, str]:
    """(vocabulary, code, label) of a theme: code "A12" of "A12 Acceptance of ...", else the label itself."""
    label = " ".join(label.split())
    m = _THEME_CODE.match(label)
    return vocabulary, (m.group(1) if m else label), label


def sdg_tag(value: str) -> Optional[tuple[str, str, str]]:
    """("sdg_goal", "16", name) of "16 - PEACE, ..." / "SDG 16" / "16"; ("sdg_target", "5.2", ...) of a target.

    None when the value names no goal 1-17.
    """
    value = " ".join(value.split())
    m = _SDG.match(value)
    if not m:
        return None
    code, name = m.group(1).lower(), m.group(2).strip() or value
    goal = int(code.split(".")[0])
    if not 1 <= goal <= 17:
        return None
    return ("sdg_target" if "." in code else "sdg_goal"), code, name


def tag_cell_sections(cell: Optional[str]) -> dict[str, list[str]]:
    """Items of an OHCHR themes cell by section: themes (before any heading), sdgs, affected_persons."""
    out: dict[str, list[str]] = {"themes": [], "sdgs": [], "affected_persons": []}
    section = "themes"
    for line in (cell or "").splitlines():
        line = line.strip()
        if not line:
            continue
        head, colon, after = line.partition(":")
        key = _SECTION_HEADINGS.get(" ".join(head.split()).casefold()) if colon else None
        if key:
            section = key
            line = after.strip()
            if not line:
                continue
        item = _BULLET.sub("", line).strip()
        if item and item not in out[section]:
            out[section].append(item)
    return out


def tags_of(themes: Iterable[str], sdgs: Iterable[str], theme_vocabulary: str = "uhri"
            ) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], list[str]]:
    """(theme tags, SDG tags, SDG values that name no goal) — tags deduplicated, in order."""
    theme_tags = list(dict.fromkeys(theme_tag(t, theme_vocabulary) for t in themes if t.strip()))
    sdg_tags, bad = [], []
    for value in sdgs:
        tag = sdg_tag(value)
        if tag is None:
            bad.append(value)
        elif tag[:2] not in {t[:2] for t in sdg_tags}:
            sdg_tags.append(tag)
    return theme_tags, sdg_tags, bad


def wg_report_symbol(text: Optional[str]) -> Optional[str]:
    """The Working Group report symbol in a source of position: "A/HRC/28/15/Add.1 - Para. 3" -> "A/HRC/28/15"."""
    m = _WG_SYMBOL.search(text or "")
    return m.group(0) if m else None


def review_title(text: str) -> dict[str, object]:
    """State under review, cycle and session named in a title such as "UPR of Slovenia (2nd Cycle – 20th session)".

    Returns only the keys found ("state", "cycle", "session").
    """
    m = _TITLE.search(text)
    if m:
        return {"state": " ".join(m.group("state").split()), "cycle": int(m.group("cycle")),
                "session": int(m.group("session"))}
    found: dict[str, object] = {}
    if (s := _SESSION_ONLY.search(text)):
        found["session"] = int(s.group(1))
    if (c := _CYCLE_ONLY.search(text)):
        found["cycle"] = int(c.group(1))
    return found
