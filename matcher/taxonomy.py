"""The SDG and human-rights theme vocabularies shipped in mappings/: lookups, titles and code normalisation.

Everything reads the shipped CSVs through ``mappings.table`` (never ../shared at run time) and is cached, so
lookups are dictionary hits.  SDG codes are canonical strings: goals "5", targets "5.2" / "4.a" / "17.18",
indicators "5.2.1".  Crosswalks between vocabularies live in ``matcher.crosswalks``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from mappings import table

LANGS = ("en", "fr", "es")
THEME_VOCABULARIES = ("uprinfo", "uhri")

# Prefixes people put before a code: "SDG 4.a", "Target 4.a", "Cible 4.a", "Meta 4.a", "Goal 5", "Objectif 5".
_PREFIX = re.compile(r"^(?:(?:sdgs?|odds?|ods|un|global|goal|target|indicator|objectif|objetivo|cible|meta|"
                     r"indicateur|indicador|no\.?|n°|#)[\s:.\-]*)+", re.I)
_CODE = re.compile(r"^0*(\d{1,2})(?:\s*\.\s*(?:0*(\d{1,2})|([a-z])))?(?:\s*\.\s*0*(\d{1,2}))?$", re.I)


def _clean(raw: object) -> str:
    """Text of a code cell without prefixes, brackets and trailing punctuation ("SDG 4.A:" -> "4.A")."""
    s = " ".join(str(raw if raw is not None else "").split()).strip(" ()[]:;,")
    s = _PREFIX.sub("", s).strip(" ()[]:;,")
    return s.rstrip(".")


def _parts(raw: object) -> Optional[tuple[str, Optional[str], Optional[str]]]:
    """(goal, target part, indicator part) of a code, each canonical ("04.A" -> ("4", "a", None)), or None."""
    m = _CODE.match(_clean(raw))
    if not m:
        return None
    goal, num, letter, ind = m.groups()
    part = str(int(num)) if num is not None else (letter.lower() if letter else None)
    if ind is not None and part is None:
        return None
    return str(int(goal)), part, (str(int(ind)) if ind is not None else None)


def normalise_goal(raw: object) -> Optional[str]:
    """Canonical goal code ("SDG 05" -> "5") if it names one of the 17 goals, else None."""
    p = _parts(raw)
    return p[0] if p and p[1] is None and p[0] in _goals() else None


def normalise_target(raw: object) -> Optional[str]:
    """Canonical target code ("Target 4.A" -> "4.a", "04.1" -> "4.1") if it is one of the 169 targets, else None."""
    p = _parts(raw)
    if not p or p[1] is None or p[2] is not None:
        return None
    code = f"{p[0]}.{p[1]}"
    return code if code in _targets() else None


def normalise_indicator(raw: object) -> Optional[str]:
    """Canonical indicator code ("1.1.1") if it is in the current UNSD list, else None."""
    p = _parts(raw)
    if not p or p[2] is None:
        return None
    code = f"{p[0]}.{p[1]}.{p[2]}"
    return code if code in _indicators() else None


def is_valid_target(raw: object) -> bool:
    """True when ``raw`` names one of the 169 SDG targets in any usual spelling (4.a, 4.A, SDG 4.a, 04.1)."""
    return normalise_target(raw) is not None


@lru_cache(maxsize=None)
def _goals() -> dict[str, dict[str, str]]:
    return {r["code"]: r for r in table("sdg_goals.csv")}


@lru_cache(maxsize=None)
def _targets() -> dict[str, dict[str, str]]:
    return {r["code"]: r for r in table("sdg_targets.csv")}


@lru_cache(maxsize=None)
def _indicators() -> dict[str, dict[str, str]]:
    return {r["code"]: r for r in table("sdg_indicators.csv")}


def goals() -> tuple[dict[str, str], ...]:
    """The 17 goals: code, goal, short_{en,fr,es}, title_{en,fr,es}."""
    return tuple(_goals().values())


def targets(goal: Optional[str] = None) -> tuple[dict[str, str], ...]:
    """The 169 targets (code, goal, title_{en,fr,es}), or those of one goal."""
    rows = _targets().values()
    return tuple(rows if goal is None else (r for r in rows if r["goal"] == str(goal)))


def indicators(target: Optional[str] = None) -> tuple[dict[str, str], ...]:
    """The current UNSD indicators (code, goal, target, title_{en,fr,es}), or those of one target."""
    rows = _indicators().values()
    code = normalise_target(target) if target is not None else None
    return tuple(rows if target is None else (r for r in rows if r["target"] == code))


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"language {lang!r} not available; use one of {', '.join(LANGS)}")
    return lang


def title(code: object, lang: str = "en") -> Optional[str]:
    """Official title of a goal, target or indicator in ``lang`` (en/fr/es); None for an unknown code."""
    lang = _lang(lang)
    for norm, index in ((normalise_goal, _goals), (normalise_target, _targets), (normalise_indicator, _indicators)):
        c = norm(code)
        if c:
            return index()[c][f"title_{lang}"]
    return None


def target(code: object, lang: str = "en") -> Optional[str]:
    """Title of a target in ``lang``; None when ``code`` is not a target."""
    c = normalise_target(code)
    return _targets()[c][f"title_{_lang(lang)}"] if c else None


def goal_short(code: object, lang: str = "en") -> Optional[str]:
    """Short goal name ("Gender equality") in ``lang``; None for an unknown goal."""
    c = normalise_goal(code)
    return _goals()[c][f"short_{_lang(lang)}"] if c else None


def goal_of(code: object) -> Optional[str]:
    """Goal of a goal, target or indicator code ("4.a" -> "4", "16.10.2" -> "16"); None if not a valid code."""
    c = normalise_goal(code) or normalise_target(code) or normalise_indicator(code)
    return c.split(".")[0] if c else None


# --------------------------------------------------------------------------- human-rights themes
def theme_key(label: str) -> str:
    """Spelling-insensitive key of a theme label ('&' = 'and', case, punctuation and spaces ignored)."""
    return re.sub(r"[^a-z0-9]+", " ", label.lower().replace("&", " and ")).strip()


@lru_cache(maxsize=None)
def _themes(vocabulary: str) -> dict[str, dict[str, str]]:
    if vocabulary == "uprinfo":
        return {r["id"]: {"code": r["id"], "label": r["label"], "rows": r["rows_in_sessions_1_17"]}
                for r in table("uprinfo_issues.csv")}
    if vocabulary == "uhri":
        return {r["code"]: dict(r) for r in table("uhri_themes.csv")}
    raise ValueError(f"unknown theme vocabulary {vocabulary!r}; use one of {', '.join(THEME_VOCABULARIES)}")


@lru_cache(maxsize=None)
def _theme_index(vocabulary: str) -> dict[str, str]:
    """Every spelling key (code, label, variants, 'A12 label') -> theme code."""
    index: dict[str, str] = {}
    for code, r in _themes(vocabulary).items():
        spellings = [code, r["label"], *(r.get("variants") or "").split("|")]
        if r.get("scheme") == "coded":
            spellings.append(f"{code} {r['label']}")
        for s in spellings:
            if s:
                index.setdefault(theme_key(s), code)
    return index


def themes(vocabulary: str = "uprinfo") -> tuple[dict[str, str], ...]:
    """Themes of a vocabulary: ``uprinfo`` (54 UPR Info issues) or ``uhri`` (UHRI themes seen in OHCHR lists)."""
    return tuple(_themes(vocabulary).values())


def theme(vocabulary: str, code: str) -> Optional[dict[str, str]]:
    """Row of a theme (code, label, ...; UHRI rows also scheme, same_as, variants) for any spelling; else None."""
    c = theme_code(vocabulary, code)
    return _themes(vocabulary)[c] if c else None


def theme_code(vocabulary: str, raw: str) -> Optional[str]:
    """Canonical theme code for an id, label or spelling variant ("Women's rights" -> "women-s-rights"); else None."""
    if not raw:
        return None
    return _theme_index(vocabulary).get(theme_key(str(raw)))


def theme_label(vocabulary: str, code: str) -> Optional[str]:
    """Label of a theme (any spelling of it accepted); None when unknown."""
    c = theme_code(vocabulary, code)
    return _themes(vocabulary)[c]["label"] if c else None
