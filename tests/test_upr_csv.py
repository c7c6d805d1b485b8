"""Generic recommendations table (CSV/XLSX) on two real Slovenia parses with different headers, on every backend."""
from __future__ import annotations

import csv
import io
from collections import Counter

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import Session

from matcher import import_file
from matcher.models import ItemTag, Recommendation, RecommendingState
from matcher.xlsx import UNSAVED_HINT

from conftest import DATA, rec_at, table_counts

WIDE = DATA / "ohchr_slovenia_thematic_c2-c4_slice.csv"  # state_under_review, ..., wg_report, paragraph, ...
NARROW = DATA / "ohchr_slovenia_sdg_themes_slice.csv"  # cycle, upr_session, rec_id, ...; no state column
SLOVENIA = {"state": "Slovenia"}


def _rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _file_counts(path) -> Counter:
    return Counter((int(r["cycle"]), r["position"]) for r in _rows(path))


def _stored_counts(engine) -> Counter:
    with Session(engine) as s:
        return Counter(s.execute(select(Recommendation.cycle, Recommendation.response_raw)).all())


def _states(s, rec):
    return list(s.execute(select(RecommendingState.iso3).where(RecommendingState.recommendation_id == rec.id)
                          .order_by(RecommendingState.position)).scalars())


def test_both_layouts_ingest_every_row(engine):
    n = len(_rows(WIDE))
    summary = import_file(engine, WIDE, kind="upr")
    assert summary.ok, summary.error
    assert summary.source_type == "csv"
    assert (summary.read, summary.inserted, summary.skipped) == (n, n, 0)
    assert _stored_counts(engine) == _file_counts(WIDE)

    n2 = len(_rows(NARROW))
    summary = import_file(engine, NARROW, kind="upr", options=SLOVENIA)
    assert summary.ok, summary.error
    assert summary.source_type == "csv" and (summary.read, summary.skipped) == (n2, 0)
    with Session(engine) as s:
        assert set(s.execute(select(Recommendation.state_under_review)).scalars()) == {"SVN"}
        # the narrow layout has no wg_report: the symbol comes from source_of_position
        assert rec_at(s, "140.253", 48).document_symbol == "A/HRC/59/15"


def test_same_recommendation_gets_the_same_id_from_both_layouts(engine):
    assert import_file(engine, NARROW, kind="upr", options=SLOVENIA).ok
    summary = import_file(engine, WIDE, kind="upr")
    assert summary.ok
    # The wide file's recommending_states column differs from the text on a few rows (merged
    # recommendations, "No. 29" taken for a state): those, and only those, are new rows, and each is reported.
    mismatched = {p["row"] for p in summary.problems if "but the text names" in p["message"]}
    assert len(mismatched) == 5
    assert summary.inserted == len(mismatched)
    assert summary.unchanged == summary.read - len(mismatched)


def test_joint_states_themes_and_sdgs(engine):
    assert import_file(engine, NARROW, kind="upr", options=SLOVENIA).ok
    with Session(engine) as s:
        rec = rec_at(s, "121.1", 34)
        assert _states(s, rec) == ["FRA", "LTU"]
        assert rec.text.endswith("Enforced Disappearance") and rec.text_original.endswith("(France) (Lithuania);")
        assert _states(s, rec_at(s, "115.8", 20)) == ["SEN", "SLE", "VEN", "PER", "URY"]
        assert _states(s, rec_at(s, "115.38", 20)) == ["EGY", "PER", "AZE"]
        rec = rec_at(s, "115.130", 20)
        themes = s.execute(select(ItemTag.code, ItemTag.label).where(ItemTag.item_id == rec.id,
                                                                     ItemTag.vocabulary == "uhri")).all()
        assert sorted(themes) == [("A41", "A41 Constitutional and legislative framework"),
                                  ("F31", "F31 Children: definition; general principles; protection"),
                                  ("F34", "F34 Children: Juvenile justice")]
        rec = rec_at(s, "140.7", 48)
        goals = s.execute(select(ItemTag.code).where(ItemTag.item_id == rec.id, ItemTag.vocabulary == "sdg_goal")
                          .order_by(ItemTag.id)).scalars().all()
        assert goals == ["1", "2", "3", "4", "5", "6", "7", "8"]
        stored = s.execute(select(func.count()).select_from(ItemTag).where(ItemTag.vocabulary == "sdg_goal")).scalar_one()
    assert stored == sum(len([g for g in r["sdg_goals"].split(";") if g.strip()]) for r in _rows(NARROW))


def test_reingest_is_idempotent(engine):
    first = import_file(engine, WIDE, kind="upr")
    before = table_counts(engine)
    again = import_file(engine, WIDE, kind="upr")
    assert again.ok and (again.inserted, again.updated, again.skipped) == (0, 0, 0)
    assert again.unchanged == first.inserted == first.read
    assert table_counts(engine) == {**before, "ImportBatch": before["ImportBatch"] + 1}


def test_missing_text_column_is_refused_and_nothing_written(engine, tmp_path):
    assert import_file(engine, WIDE, kind="upr").ok
    before = table_counts(engine)
    rows = _rows(WIDE)
    bad = tmp_path / "no_text.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[c for c in rows[0] if c != "text"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    summary = import_file(engine, bad, kind="upr")
    assert not summary.ok
    assert summary.error.startswith("no_text.csv, row 1, field 'text': missing required column 'text'")
    assert summary.problems[0]["field"] == "text"
    assert table_counts(engine) == before


def test_missing_state_without_option_is_refused(engine):
    summary = import_file(engine, NARROW, kind="upr")
    assert not summary.ok
    assert "field 'state_under_review'" in summary.error and "--state" in summary.error
    assert table_counts(engine)["Recommendation"] == 0


def test_xlsx_formulas_with_no_saved_value_are_warned_and_never_read_as_values(engine, tmp_path):
    # a table a script wrote with openpyxl: its formulas have no saved value (Excel and LibreOffice save one)
    rows = _rows(WIDE)[:4]
    wb = Workbook()
    ws = wb.active
    ws.append(list(rows[0]) + ["helper"])
    for r in rows:
        ws.append(list(r.values()) + ["=ROW()"])
    header = list(rows[0])
    text, session = header.index("text") + 1, header.index("session") + 1
    ws.cell(row=3, column=text).value = '=CONCAT("Ratify ", "the Convention")'
    ws.cell(row=4, column=session).value = "=20+14"
    path = tmp_path / "script.xlsx"
    wb.save(path)
    summary = import_file(engine, path, kind="upr")
    assert summary.ok, summary.error
    assert (summary.read, summary.inserted, summary.skipped) == (4, 3, 1)
    formulas = [(p["row"], p["field"], p["severity"], p["message"]) for p in summary.problems if "formula" in p["message"]]
    letters = ws.cell(row=3, column=text).column_letter, ws.cell(row=4, column=session).column_letter
    assert formulas == [
        (3, "text", "warning", f'a formula with no saved value (=CONCAT("Ratify ", "the Convention")) in sheet '
                               f"'Sheet', cell {letters[0]}3: read as empty; "
                               f"{UNSAVED_HINT}"),
        (4, "session", "warning", f"a formula with no saved value (=20+14) in sheet 'Sheet', cell {letters[1]}4: read "
                                  f"as empty; {UNSAVED_HINT}")]  # the unused 'helper' column: reported unused, not per cell
    assert (3, "text", "error", "recommendation text is empty") in {
        (p["row"], p["field"], p["severity"], p["message"]) for p in summary.problems}
    with Session(engine) as s:
        assert s.execute(select(Recommendation.session).where(Recommendation.source_row == "4")).scalar_one() is None


def test_xlsx_with_a_title_row_and_a_cp1252_csv(engine, tmp_path):
    rows = _rows(WIDE)
    wb = Workbook()
    ws = wb.active
    ws.append(["Slovenia: thematic list of recommendations, cycles 2-4"])
    ws.append(list(rows[0]))
    for r in rows:
        ws.append(list(r.values()))
    xlsx = tmp_path / "wide.xlsx"
    wb.save(xlsx)
    summary = import_file(engine, xlsx, kind="upr")
    assert summary.ok, summary.error
    assert summary.source_type == "csv" and summary.inserted == len(rows)
    assert _stored_counts(engine) == _file_counts(WIDE)
    # the same rows again as Windows-1252: same content, so nothing changes
    legacy = tmp_path / "wide_cp1252.csv"
    legacy.write_bytes(WIDE.read_text(encoding="utf-8").encode("cp1252"))
    summary = import_file(engine, legacy, kind="upr")
    assert summary.ok, summary.error
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 0, len(rows))
