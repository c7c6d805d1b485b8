"""UPR Info export ingest on real slices (Mac Roman + CR), on every backend."""
from __future__ import annotations

import csv
import io

from sqlalchemy import select
from sqlmodel import Session

from matcher import import_file, session_scope, stats
from matcher.models import ItemTag, Recommendation, RecommendingState

from conftest import DATA

SAMPLE = DATA / "uprinfo_sample_macroman.csv"


def _file_counts(path):
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("mac_roman"), newline="")))[1:]
    return len(rows), sum(r[7] == "Accepted" for r in rows), sum(r[7] == "Noted" for r in rows)


def test_sample_ingests_every_row(engine):
    n, accepted, noted = _file_counts(SAMPLE)
    summary = import_file(engine, SAMPLE, kind="upr")
    assert summary.ok, summary.error
    assert summary.source_type == "uprinfo"
    assert (summary.read, summary.inserted, summary.skipped) == (n, n, 0)
    with session_scope() as s:
        st = stats(s)
    assert st["recommendations"]["total"] == n
    assert st["recommendations"]["by_response"] == {"accepted": accepted, "noted": noted}
    assert "unresolved" not in st["recommendations"]["by_state"]
    assert st["recommendations"]["by_state"]["KEN"] == 40


def test_reingest_is_idempotent(engine):
    first = import_file(engine, SAMPLE, kind="upr")
    again = import_file(engine, SAMPLE, kind="upr")
    assert again.ok and again.inserted == 0 and again.updated == 0
    assert again.unchanged == first.inserted


def test_fields_are_normalised(engine):
    import_file(engine, SAMPLE, kind="upr")
    with Session(engine) as s:
        rec = s.execute(select(Recommendation).where(Recommendation.text.like("Enact legislation and take effective measures to protect%"))).scalar_one()
        assert rec.state_under_review == "AFG" and rec.state_under_review_name == "Afghanistan"
        assert (rec.session, rec.cycle, rec.response, rec.response_raw) == (5, 1, "accepted", "Accepted")
        assert (rec.action_category, rec.action_category_origin) == (5, "source")
        states = s.execute(select(RecommendingState).where(RecommendingState.recommendation_id == rec.id)).scalars().all()
        assert [(x.iso3, x.name) for x in states] == [("AUT", "Austria")]
        tags = s.execute(select(ItemTag.vocabulary, ItemTag.code, ItemTag.label).where(ItemTag.item_id == rec.id)).all()
        assert sorted(tags) == [("uprinfo", "rights-of-the-child", "Rights of the Child"),
                                ("uprinfo", "women-s-rights", "Women's rights")]


def test_unknown_recommending_state_and_duplicates_are_reported(engine):
    summary = import_file(engine, SAMPLE, kind="upr")
    messages = [p["message"] for p in summary.problems]
    assert sum("'(Unknown)'" in m for m in messages) == 5
    dup = [p for p in summary.problems if "word for word" in p["message"]]
    assert len(dup) == 1 and dup[0]["severity"] == "warning"


def _sample_rows():
    return list(csv.reader(io.StringIO(SAMPLE.read_bytes().decode("mac_roman"), newline="")))


def test_same_columns_in_utf8_csv_and_xlsx_give_the_same_store(engine, tmp_path):
    from openpyxl import Workbook

    rows = _sample_rows()
    utf8 = tmp_path / "export-utf8.csv"
    with utf8.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    xlsx = tmp_path / "export.xlsx"
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append([int(v) if v.isdigit() else v for v in r])
    wb.save(xlsx)

    first = import_file(engine, SAMPLE, kind="upr")
    for path in (utf8, xlsx):
        again = import_file(engine, path, kind="upr")
        assert again.ok, again.error
        assert again.source_type == "uprinfo"
        # same content, other encoding/container: every row is recognised as already stored
        assert (again.read, again.inserted, again.updated, again.unchanged) == (first.read, 0, 0, first.inserted)


def test_truncated_xlsx_is_refused_and_store_unchanged(engine, tmp_path):
    from openpyxl import Workbook

    xlsx = tmp_path / "export.xlsx"
    wb = Workbook()
    for r in _sample_rows():
        wb.active.append(r)
    wb.save(xlsx)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(xlsx.read_bytes()[: xlsx.stat().st_size // 2])
    import_file(engine, SAMPLE, kind="upr")
    with session_scope() as s:
        before = stats(s)
    summary = import_file(engine, cut, kind="upr", fmt="uprinfo")
    assert not summary.ok and "cut.xlsx" in summary.error
    assert "truncated" in summary.error or "damaged" in summary.error
    with session_scope() as s:
        assert stats(s) == before


def test_newer_version_updates_rows_in_place(engine, tmp_path):
    rows = _sample_rows()
    first = import_file(engine, SAMPLE, kind="upr")
    target = next(i for i, r in enumerate(rows) if i and r[7] == "Noted")
    rows[target][7] = "Accepted"  # the state changed its position in a later addendum
    rows[target][9] += ",Justice"
    newer = tmp_path / "newer.csv"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r").writerows(rows)
    newer.write_bytes(out.getvalue().encode("mac_roman"))
    again = import_file(engine, newer, kind="upr")
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, first.inserted - 1)
    with Session(engine) as s:
        rec = s.execute(select(Recommendation).where(Recommendation.response_raw == "Accepted",
                                                    Recommendation.source_file == "newer.csv")).scalar_one()
        tags = s.execute(select(ItemTag.code).where(ItemTag.item_id == rec.id)).scalars().all()
        assert "justice" in tags
        assert s.execute(select(Recommendation).where(Recommendation.id == rec.id)).scalar_one().response == "accepted"
    with session_scope() as s:
        assert stats(s)["recommendations"]["total"] == first.inserted


def test_resaved_with_semicolons_reads_the_same(engine, tmp_path):
    """The export re-saved by a spreadsheet in a European locale (semicolons, Windows-1252, CRLF): same rows."""
    rows = list(csv.reader(io.StringIO(SAMPLE.read_bytes().decode("mac_roman"), newline="")))
    out = tmp_path / "uprinfo_semicolons.csv"
    with open(out, "w", encoding="cp1252", errors="replace", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    n, accepted, noted = _file_counts(SAMPLE)
    summary = import_file(engine, out, kind="upr")
    assert summary.ok, summary.error
    assert summary.source_type == "uprinfo" and (summary.read, summary.inserted, summary.skipped) == (n, n, 0)
    with session_scope() as s:
        assert stats(s)["recommendations"]["by_response"] == {"accepted": accepted, "noted": noted}
