"""Taxonomy and crosswalk data files of upr-align, and the one loader that reads them.

Every file here names its source and licence in README.md beside it.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).parent


def data_path(name: str) -> Path:
    """Path of a data file shipped in mappings/."""
    return DATA_DIR / name


def read_table(name: str) -> list[dict[str, str]]:
    """Rows of a shipped CSV file (UTF-8, header row; lines starting with '#' are comments)."""
    with data_path(name).open(encoding="utf-8", newline="") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        return [dict(row) for row in csv.DictReader(lines)]


@lru_cache(maxsize=None)
def table(name: str) -> tuple[dict[str, str], ...]:
    """Cached, read-only rows of a shipped CSV file."""
    return tuple(read_table(name))
