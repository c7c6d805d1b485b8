"""Crosswalks shipped in mappings/: theme -> SDG targets, DAC sector -> SDG targets, UN INFO <-> IATI markers.

Every link carries a ``basis`` (``curated`` = reviewed one by one; ``inferred`` = rule-based or approximate,
weaker evidence) and a one-line rationale, so a classifier can show why a label was proposed and weigh it.
Rows with an empty target are deliberate: the theme or sector maps to a goal only, or to nothing.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Optional

from mappings import table

from .taxonomy import THEME_VOCABULARIES, theme_code

BASES = ("curated", "inferred")


class Link(NamedTuple):
    """One crosswalk link: SDG target ("" for a goal-only link), its goal, basis and rationale."""

    target: str
    goal: str
    basis: str
    rationale: str


# --------------------------------------------------------------------------- themes
@lru_cache(maxsize=None)
def _theme_rows() -> dict[tuple[str, str], tuple[Link, ...]]:
    out: dict[tuple[str, str], list[Link]] = {}
    for r in table("crosswalk_theme_sdg.csv"):
        t = r["target"]
        out.setdefault((r["vocabulary"], r["theme"]), []).append(
            Link(t, t.split(".")[0] if t else "", r["basis"], r["rationale"]))
    return {k: tuple(v) for k, v in out.items()}


def _theme_links(theme: str, vocabulary: str) -> tuple[Link, ...]:
    """All rows (incl. the no-target row) of a theme; UHRI labels without rows use their coded twin (same_as)."""
    if vocabulary not in THEME_VOCABULARIES:
        raise ValueError(f"unknown theme vocabulary {vocabulary!r}")
    code = theme_code(vocabulary, theme) or theme
    rows = _theme_rows().get((vocabulary, code))
    if rows is None and vocabulary == "uhri":
        twin = (theme("uhri", code) or {}).get("same_as")
        rows = _theme_rows().get((vocabulary, twin)) if twin else None
    return rows or ()


def theme_targets(theme: str, vocabulary: str = "uprinfo") -> list[tuple[str, str, str]]:
    """(target, basis, rationale) for a theme id/label; [] when it maps to no target or is unknown."""
    return [(link.target, link.basis, link.rationale) for link in _theme_links(theme, vocabulary) if link.target]


def theme_no_target_reason(theme: str, vocabulary: str = "uprinfo") -> Optional[str]:
    """Why a theme deliberately maps to no SDG target, or None when it has targets (or is not covered)."""
    links = _theme_links(theme, vocabulary)
    return links[0].rationale if links and not any(link.target for link in links) else None


def theme_covered(theme: str, vocabulary: str = "uprinfo") -> bool:
    """True when the crosswalk says something about the theme (targets or an explicit no-target row)."""
    return bool(_theme_links(theme, vocabulary))


# --------------------------------------------------------------------------- DAC sectors
@lru_cache(maxsize=None)
def _dac_rows() -> dict[str, tuple[Link, ...]]:
    out: dict[str, list[Link]] = {}
    for r in table("crosswalk_dac5_sdg.csv"):
        out.setdefault(r["code"], []).append(Link(r["target"], r["goal"], r["basis"], r["rationale"]))
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=None)
def _dac_sectors() -> dict[str, dict[str, str]]:
    return {r["code"]: r for r in table("dac_sectors.csv")}


def dac_sector(code: object) -> Optional[dict[str, str]]:
    """Codelist row of a DAC-5 or DAC-3 code (code, level, dac3, group, names, status), or None."""
    return _dac_sectors().get(str(code).strip())


def dac_links(code: object) -> tuple[Link, ...]:
    """SDG links of a DAC sector code: its own DAC-5 rows, else its DAC-3 category's, else ().

    All are ``inferred`` (no official DAC -> SDG mapping exists); a link with an empty target is goal-only and
    a single link with neither target nor goal says the sector has no SDG link (see its rationale).
    """
    c = str(code).strip()
    if c.endswith(".0"):  # codes read from spreadsheets as numbers
        c = c[:-2]
    if not c.isdigit():
        return ()
    rows = _dac_rows()
    return rows.get(c) or (rows.get(c[:3]) if len(c) == 5 else None) or ()


def dac_targets(code: object) -> list[tuple[str, str, str]]:
    """(target, basis, rationale) of a DAC-5/DAC-3 code, falling back DAC-5 -> DAC-3 -> []."""
    return [(link.target, link.basis, link.rationale) for link in dac_links(code) if link.target]


def dac_goals(code: object) -> list[str]:
    """SDG goals of a DAC sector code (from its targets and goal-only links), in crosswalk order."""
    return list(dict.fromkeys(link.goal for link in dac_links(code) if link.goal))


# --------------------------------------------------------------------------- markers
@lru_cache(maxsize=None)
def marker_rows() -> tuple[dict[str, str], ...]:
    """All rows of crosswalk_markers.csv (UN INFO marker/LNOB <-> IATI policy marker, humanitarian scope, sector)."""
    return table("crosswalk_markers.csv")


def uninfo_to_iati(uninfo_code: str, vocabulary: str = "uninfo_marker") -> list[dict[str, str]]:
    """IATI counterparts of a UN INFO marker tag code such as "gender:3" or "humanitarian:appeal".

    Rows whose relation is ``none`` are left out; an empty list means no IATI counterpart.
    """
    code = " ".join(str(uninfo_code).split()).lower()
    return [r for r in marker_rows() if r["uninfo_vocabulary"] == vocabulary and r["uninfo_code"].lower() == code
            and r["relation"] != "none" and r["direction"] in ("both", "uninfo_to_iati")]


def iati_to_uninfo(iati_code: object, significance: object = None,
                   vocabulary: str = "policy_marker") -> list[dict[str, str]]:
    """UN INFO counterparts of an IATI policy marker (code, significance 0-4) or humanitarian-scope type."""
    code = str(iati_code).strip()
    sig = None if significance in (None, "") else str(significance).strip()
    return [r for r in marker_rows() if r["iati_vocabulary"] == vocabulary and r["iati_code"] == code
            and (sig is None or r["iati_significance"] in ("", sig)) and r["relation"] != "none"
            and r["direction"] in ("both", "iati_to_uninfo")]
