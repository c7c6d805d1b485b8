"""Bad input: every fatal problem names the file (and row/field), and leaves the database as it was."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlmodel import Session

from matcher import import_file, stats

from conftest import DATA

SAMPLE = DATA / "uprinfo_sample_macroman.csv"
HEADER = "To,To-Rgrp,To-Org,Text,From,From-Rgrp,From-Org,Response,Action,Issue,Session"


def _snapshot(engine, db_url):
    """Stats plus, on SQLite, the file's bytes: a failed ingest must change neither."""
    engine.dispose()
    with Session(engine) as s:
        st = stats(s)
    file_hash = None
    if db_url.startswith("sqlite:///"):
        engine.dispose()
        file_hash = hashlib.sha256(Path(db_url.removeprefix("sqlite:///")).read_bytes()).hexdigest()
    return st, file_hash


@pytest.fixture
def loaded(engine):
    """A store that already holds the real sample, so 'unchanged' is meaningful."""
    assert import_file(engine, SAMPLE, kind="upr").ok
    return engine


def _bad(tmp_path: Path, name: str, content: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def _rows(n: int = 3) -> str:
    base = SAMPLE.read_bytes().decode("mac_roman").split("\r")
    return "\r".join(base[: n + 1])


CASES = {
    "empty.csv": (b"", None, "empty"),
    "only_spaces.csv": (b"   \r\n  ", None, "empty"),
    "missing_column.csv": (HEADER.replace(",Response", "").encode() + b"\rKenya,Africa,AU,Text,Norway,WEOG,,5,x,8\r",
                           1, "missing required column(s): Response"),
    "not_a_table.csv": (b"hello world\nthis is not a recommendations file\n", None, "could not recognise"),
    "binary.csv": (b"\x00\x01\x02" * 100, None, "could not recognise"),
    "truncated.xlsx": ((DATA / "uprinfo_sample_macroman.csv").read_bytes()[:0] + b"PK\x03\x04" + b"\x00" * 50, None, ""),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fatal_errors_leave_store_unchanged(loaded, db_url, tmp_path, name):
    content, row, words = CASES[name]
    before = _snapshot(loaded, db_url)
    summary = import_file(loaded, _bad(tmp_path, name, content), kind="upr")
    assert not summary.ok
    assert name in summary.error
    assert words.lower() in summary.error.lower()
    if row is not None:
        assert summary.problems[0]["row"] == row
    assert _snapshot(loaded, db_url) == before


def test_wrong_forced_encoding_is_fatal_and_names_the_row(loaded, db_url, tmp_path):
    # A UTF-8 file with an accented name, read as if it were ASCII.
    text = HEADER + "\rCôte d'Ivoire,Africa,AU,Ratify the Convention,Norway,WEOG,,Accepted,5,International instruments,6\r"
    path = _bad(tmp_path, "utf8.csv", text.encode("utf-8"))
    before = _snapshot(loaded, db_url)
    summary = import_file(loaded, path, kind="upr", options={"encoding": "ascii"})
    assert not summary.ok and "utf8.csv" in summary.error and "ascii" in summary.error
    assert summary.problems[0]["row"] == 2
    assert _snapshot(loaded, db_url) == before


def test_bad_row_late_in_file_rolls_back_everything(loaded, db_url, tmp_path):
    # 3 good rows, then a row with too many cells: the whole file is refused.
    content = (_rows(3) + "\rKenya,Africa,AU,Text,Norway,WEOG,,Accepted,5,Justice,8,extra,cells\r").encode("mac_roman")
    before = _snapshot(loaded, db_url)
    summary = import_file(loaded, _bad(tmp_path, "broken.csv", content), kind="upr", fmt="uprinfo")
    assert not summary.ok and "broken.csv, row 5" in summary.error
    assert _snapshot(loaded, db_url) == before


def test_row_problems_are_counted_not_fatal(engine, tmp_path):
    rows = [
        HEADER,
        "Kenya,Africa,AU,Ratify the Convention against Torture,Norway,WEOG,,Accepted,5,Torture and other CID treatment,8",
        "Atlantis,Other,,Adopt a national action plan,Norway,WEOG,,Accepted,5,National plan of action,8",
        "Kenya,Africa,AU,,Norway,WEOG,,Accepted,5,Justice,8",
        "Kenya,Africa,AU,Abolish the death penalty,Norway,WEOG,,Maybe,5,Death penalty,8",
        "Kenya,Africa,AU,Ratify the Convention against Torture,Norway,WEOG,,Accepted,5,Torture and other CID treatment,8",
    ]
    path = _bad(tmp_path, "rows.csv", "\r".join(rows).encode("mac_roman"))
    s = import_file(engine, path, kind="upr")
    assert s.ok
    assert (s.read, s.inserted, s.skipped) == (5, 3, 2)
    by_field = {(p["row"], p["field"]): p for p in s.problems}
    assert "Atlantis" in by_field[(3, "state_under_review")]["message"]  # unknown country: kept, reported
    assert by_field[(4, "text")]["severity"] == "error"  # empty text: skipped
    assert "Maybe" in by_field[(5, "response")]["message"]  # unknown response: skipped
    assert "word for word" in by_field[(6, None)]["message"]  # duplicate: kept as occurrence 2
    with Session(engine) as sess:
        st = stats(sess)
    assert st["recommendations"]["by_state"] == {"KEN": 2, "unresolved": 1}


def test_truncated_csv_is_refused_not_half_stored(loaded, db_url, tmp_path):
    cut = _bad(tmp_path, "trunc.csv", SAMPLE.read_bytes()[:3000])
    before = _snapshot(loaded, db_url)
    summary = import_file(loaded, cut, kind="upr")
    assert not summary.ok and "trunc.csv" in summary.error and "truncated" in summary.error
    assert _snapshot(loaded, db_url) == before
