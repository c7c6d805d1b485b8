"""Bundled real demo data: Kenya across the sources upr-align reads (see demo/README.md)."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"

# (CLI family, file name, what it is) in the order the demo loads them.
FILES: list[tuple[str, str, str]] = [
    ("upr", "uprinfo_kenya_session8.csv",
     "UPR Info export, Kenya, UPR session 8 (review of 2010; cycle 1): 166 recommendations, Mac Roman/CR as downloaded"),
    ("cf", "uninfo_api_KEN.json",
     "UN INFO Kenya Cooperation Framework 2022-2026 (API-derived tree): 288 sub-outputs with required/available/"
     "spent money"),
    ("cf", "uninfo_jwp_africa_education.xlsx",
     "UN INFO Joint Work Plan export, Africa, education theme (2025-06-11): 778 sub-outputs in 51 countries, "
     "money 2016-2028"),
    ("iati", "iati_dportal_covid19_2021-06_KE.xml",
     "IATI activities for Kenya from 64 publishers (d-portal COVID-19 query, June 2021): 307 activities"),
]


def files() -> list[tuple[str, Path, str]]:
    """(family, path, description) of every bundled demo file that is present."""
    return [(kind, DATA / name, what) for kind, name, what in FILES if (DATA / name).is_file()]
