"""Country names as written -> ISO 3166-1 alpha-3, never guessing.

Order: our alias table (mappings/country_aliases.csv, UN and source spellings), then an exact
ISO code or ISO 3166 short name (pycountry), then country_converter.  An ambiguous or unknown
name resolves to None and the caller reports it as a problem; a name is never mapped to a
"closest" country.
"""
from __future__ import annotations

import html
import logging
import re
from functools import lru_cache
from typing import Optional

import pycountry

from mappings import table

_SPACES = re.compile(r"\s+")


def _fold(name: str) -> str:
    name = html.unescape(name).replace("’", "'").replace("‘", "'")
    return _SPACES.sub(" ", name).strip().casefold()


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    return {_fold(r["name"]): r["iso3"] for r in table("country_aliases.csv")}


@lru_cache(maxsize=1)
def _groups() -> dict[str, tuple[str, list[str]]]:
    return {_fold(r["group"]): (r["group"], r["members"].split(";")) for r in table("country_groups.csv")}


@lru_cache(maxsize=1)
def _converter():
    import country_converter as coco

    logging.getLogger("country_converter").setLevel(logging.CRITICAL)
    return coco.CountryConverter()


@lru_cache(maxsize=1024)
def iso2_to_iso3(code: Optional[str]) -> Optional[str]:
    """ISO3 of a two-letter country code (IATI recipient-country, ISO 3166-1 alpha-2, plus the user-assigned
    codes of our alias table such as XK for Kosovo), or None: codes never go through country_converter, whose
    name matching has nothing to add for a code and costs a pandas table in the process that reads them."""
    key = _fold(str(code or ""))
    if len(key) != 2 or not key.isalpha():
        return None
    if key in _aliases():
        return _aliases()[key]
    found = pycountry.countries.get(alpha_2=key.upper())
    return found.alpha_3 if found else None


@lru_cache(maxsize=4096)
def to_iso3(name: Optional[str]) -> Optional[str]:
    """ISO3 code for a country name or code as written, or None when unknown or ambiguous."""
    if name is None:
        return None
    key = _fold(str(name))
    if not key:
        return None
    if key in _aliases():
        return _aliases()[key]
    if _groups().get(key):
        return None  # a group is never one country
    if len(key) in (2, 3) and key.isalpha():
        found = pycountry.countries.get(alpha_3=key.upper()) if len(key) == 3 else pycountry.countries.get(alpha_2=key.upper())
        if found:
            return found.alpha_3
    plain = html.unescape(str(name)).strip()
    found = pycountry.countries.get(name=plain)
    if found:  # "Kenya": country_converter reads every ISO short name the same way (tests/test_taxonomy.py),
        return found.alpha_3  # but importing it (pandas) costs more than reading a whole small file
    result = _converter().convert(plain, to="ISO3", not_found=None)
    # country_converter echoes unknown three-letter input ("XYZ"): accept only real ISO codes
    if isinstance(result, str) and re.fullmatch(r"[A-Z]{3}", result) and pycountry.countries.get(alpha_3=result):
        return result
    return None  # not found, or several candidates


def group_members(name: Optional[str]) -> Optional[tuple[str, list[str]]]:
    """(canonical group name, member ISO3 codes) for a multi-country office/group, else None."""
    if not name:
        return None
    return _groups().get(_fold(name))


def country_name(iso3: str) -> str:
    """English short name for an ISO3 code (the code itself if unknown)."""
    found = pycountry.countries.get(alpha_3=iso3)
    return getattr(found, "common_name", None) or (found.name if found else iso3)
