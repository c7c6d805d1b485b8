"""Bundled real demo data: Kenya across the sources upr-align reads (see demo/README.md)."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"

# (CLI family, file name, what it is) in the order the demo loads them.
FILES: list[tuple[str, str, str]] = [
    ("upr", "uprinfo_kenya_session8.csv",
     "UPR Info export, Kenya, UPR session 8 (review of 2010; cycle 1): 166 recommendations, Mac Roman/CR as downloaded"),
]


def files() -> list[tuple[str, Path, str]]:
    """(family, path, description) of every bundled demo file that is present."""
    return [(kind, DATA / name, what) for kind, name, what in FILES if (DATA / name).is_file()]
