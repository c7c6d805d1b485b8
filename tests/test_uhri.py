"""UHRI export ingest (XLSX) on a small fixture in the export's exact layout, on every backend."""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlmodel import Session

from matcher import import_file, stats
from matcher.models import ImportBatch, ItemTag, Recommendation, RecommendingState
from matcher.uhri_cells import bullet_list, excel_date, parse_sdg, parse_session, sdg_tags

from conftest import DATA

SAMPLE = DATA / "uhri_sample.xlsx"
POSITION = {"Supported": "accepted", "Noted": "noted", "Supported/Noted": "partially_accepted", "": "pending"}


def _sheet(path=SAMPLE) -> list[dict]:
    """The fixture's rows read plainly with openpyxl (independently of the reader)."""
    ws = load_workbook(path, read_only=True).worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def _expected(path=SAMPLE):
    rows = _sheet(path)
    upr = [r for r in rows if r["Reccomending Body"] == "- UPR"]
    first = {}
    for r in upr:
        first.setdefault(r["OHCHR Annotation Id"], r)
    by_response: dict[str, int] = {}
    for r in first.values():
        key = POSITION[r["UPR Position"] or ""]
        by_response[key] = by_response.get(key, 0) + 1
    return len(rows), len(rows) - len(upr), len(upr) - len(first), by_response


def _snapshot(engine):
    with Session(engine) as s:
        return (stats(s), s.execute(select(func.count()).select_from(ImportBatch)).one()[0],
                s.execute(select(func.count()).select_from(ItemTag)).one()[0])


def _rec(s: Session, paragraph: str) -> Recommendation:
    return s.execute(select(Recommendation).where(Recommendation.paragraph == paragraph)).scalar_one()


def _edited(tmp_path, name: str, edit) -> Path:
    wb = load_workbook(SAMPLE)
    ws = wb.active
    header = [c.value for c in ws[1]]
    edit(ws, {h: i + 1 for i, h in enumerate(header)})
    out = tmp_path / name
    wb.save(out)
    return out


def _row_of(ws, col: dict, paragraph: str) -> int:
    return next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, col["Text"]).value).startswith(paragraph + " "))


# --------------------------------------------------------------------------- ingest
def test_sample_counts_and_responses(engine):
    n, others, dups, by_response = _expected()
    summary = import_file(engine, SAMPLE, kind="upr")  # format found by sniffing
    assert summary.ok, summary.error
    assert summary.source_type == "uhri"
    assert (summary.read, summary.inserted, summary.skipped) == (n, n - others - dups, others + dups)
    st = _snapshot(engine)[0]["recommendations"]
    assert st["total"] == n - others - dups == 14
    assert st["by_response"] == by_response
    assert by_response["partially_accepted"] == 1 and by_response["pending"] == 1
    assert st["by_state"] == {"SVN": 14}


def test_non_upr_rows_are_one_summarised_problem(engine):
    summary = import_file(engine, SAMPLE, kind="upr")
    rows = _sheet()
    other_lines = [i + 2 for i, r in enumerate(rows) if r["Reccomending Body"] != "- UPR"]
    body = [p for p in summary.problems if p["field"] == "Reccomending Body"]
    assert len(body) == 1 and len(other_lines) == 2
    assert body[0]["row"] == other_lines[0] and body[0]["severity"] == "error"
    assert "2 row(s) not from the UPR" in body[0]["message"] and "CEDAW 1" in body[0]["message"]
    assert f"rows {other_lines[0]}, {other_lines[1]}" in body[0]["message"]
    with Session(engine) as s:  # the several-country special-procedure row never became a recommendation
        assert s.execute(select(Recommendation).where(Recommendation.document_symbol == "A/HRC/47/30")).first() is None


def test_duplicate_annotation_id_is_reported_and_skipped(engine):
    summary = import_file(engine, SAMPLE, kind="upr")
    dup = [p for p in summary.problems if p["message"].startswith("duplicate id")]
    assert len(dup) == 1 and dup[0]["row"] == len(_sheet()) + 1  # the last sheet row repeats the first
    with Session(engine) as s:
        rec = _rec(s, "121.1")
        assert dup[0]["message"] == f"duplicate id '{rec.source_key}' (already read earlier in this file)"
        assert rec.source_row == "2"


def test_fields_states_and_text(engine):
    import_file(engine, SAMPLE, kind="upr")
    with Session(engine) as s:
        rec = _rec(s, "122.7")
        assert (rec.state_under_review, rec.state_under_review_name) == ("SVN", "Slovenia")
        assert (rec.session, rec.cycle, rec.document_symbol, rec.response) == (34, 3, "A/HRC/43/15", "noted")
        # every trailing "(State)" group of a joint recommendation leaves the text, not only the last
        assert rec.text == "Ratify the 1961 Convention on the Reduction of Statelessness"
        assert rec.text_original.startswith("122.7 Ratify") and rec.text_original.endswith("(North Macedonia);")
        states = s.execute(select(RecommendingState).where(RecommendingState.recommendation_id == rec.id)
                           .order_by(RecommendingState.position)).scalars().all()
        assert [(x.iso3, x.name) for x in states] == [("SVK", "Slovakia"), ("ESP", "Spain"), ("MKD", "North Macedonia")]
        ilo = _rec(s, "122.10")  # "(No. 189)" is not a state: it stays in the text
        assert ilo.text.endswith("Domestic Workers Convention, 2011 (No. 189)")
        c4 = _rec(s, "140.7")  # "Session 48" -> 48, cycle 4
        assert (c4.session, c4.cycle) == (48, 4)
        tags = s.execute(select(ItemTag.vocabulary, ItemTag.code, ItemTag.label).where(ItemTag.item_id == rec.id)).all()
        assert sorted(tags) == [("affected_persons", "stateless persons", "stateless persons"),
                                ("uhri", "Acceptance of international norms", "Acceptance of international norms")]


def test_sdg_targets_and_implied_goals(engine):
    import_file(engine, SAMPLE, kind="upr")
    with Session(engine) as s:
        def sdgs(paragraph):
            rec = _rec(s, paragraph)
            rows = s.execute(select(ItemTag).where(ItemTag.item_id == rec.id, ItemTag.vocabulary.in_(
                ("sdg_goal", "sdg_target")))).scalars().all()
            return {(t.vocabulary, t.code): (t.label, t.route, t.extra) for t in rows}

        edu = sdgs("140.134")
        assert edu == {
            ("sdg_target", "4.1"): ("Free, equitable and quality primary and secondary education", "uhri", None),
            ("sdg_target", "4.2"): ("Access to quality early childhood development and pre-primary education", "uhri",
                                    None),
            ("sdg_goal", "4"): (None, "uhri", {"implied_by": ["4.1", "4.2"]}),
        }
        # target 5.5 and goal 5 both named: goal stored once, as declared, with its label
        assert sdgs("140.152") == {
            ("sdg_target", "5.5"): ("Women's full participation in leadership and decision-making", "uhri", None),
            ("sdg_goal", "5"): ("Gender equality", "uhri", None),
        }
        assert sdgs("122.7") == {}  # no SDG in the cell
        assert set(sdgs("140.7")) == {("sdg_goal", str(g)) for g in range(1, 9)}


def test_reingest_is_idempotent(engine):
    first = import_file(engine, SAMPLE, kind="upr")
    before = _snapshot(engine)
    again = import_file(engine, SAMPLE, kind="upr")
    assert again.ok and (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    after = _snapshot(engine)
    assert after[0] == before[0] and after[2] == before[2]  # only the import batch log grew


def test_edited_copy_updates_exactly_one_row_in_place(engine, tmp_path):
    import_file(engine, SAMPLE, kind="upr")
    with Session(engine) as s:
        old = _rec(s, "122.149")
        old_id, old_response = old.id, old.response

    def supported(ws, col):
        ws.cell(_row_of(ws, col, "122.149"), col["UPR Position"]).value = "Supported"

    edited = _edited(tmp_path, "uhri_sample_edited.xlsx", supported)
    summary = import_file(engine, edited, kind="upr")
    assert summary.ok, summary.error
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 1, 13)
    with Session(engine) as s:
        rec = _rec(s, "122.149")
        assert (old_response, rec.id, rec.response, rec.source_file) == ("noted", old_id, "accepted", edited.name)
        assert s.execute(select(func.count()).select_from(Recommendation)).one()[0] == 14
        states = s.execute(select(RecommendingState.iso3).where(RecommendingState.recommendation_id == rec.id)).all()
        assert states == [("CAN",)]  # children replaced, not doubled


def test_odd_cells_are_reported(engine, tmp_path):
    def spoil(ws, col):
        ws.cell(_row_of(ws, col, "121.5"), col["Document Publication Date"]).value = "soon"
        ws.cell(_row_of(ws, col, "121.5"), col["Sdgs"]).value = "- 18 - Not a goal\n- 3 - Good health and well-being"
        ws.cell(_row_of(ws, col, "122.31"), col["UPR Session"]).value = "2019"
        ws.cell(_row_of(ws, col, "140.16"), col["Countries Concerned"]).value = "- Slovenia\n- Croatia"

    summary = import_file(engine, _edited(tmp_path, "uhri_odd.xlsx", spoil), kind="upr")
    assert summary.ok and summary.inserted == 13
    found = {(p["field"], p["severity"]) for p in summary.problems}
    assert {("Document Publication Date", "warning"), ("Sdgs", "warning"), ("UPR Session", "warning"),
            ("Countries Concerned", "error")} <= found
    with Session(engine) as s:
        assert (_rec(s, "122.31").session, _rec(s, "122.31").cycle) == (None, None)
        codes = s.execute(select(ItemTag.code).where(ItemTag.item_id == _rec(s, "121.5").id,
                                                     ItemTag.vocabulary == "sdg_goal")).scalars().all()
        assert codes == ["3"]


def test_corrected_spelling_type_column_and_absent_optional_column(engine, tmp_path):
    def variant(ws, col):
        ws.cell(1, col["Reccomending Body"]).value = "Recommending Body"  # spelling corrected by hand
        row = _row_of(ws, col, "122.149")
        ws.cell(row, col["Reccomending Body"]).value = None  # no body: the Type column says UPR
        ws.cell(row, col["Type"]).value = "- UPR Recommendations"
        ws.delete_cols(col["Recommending Regions"])

    summary = import_file(engine, _edited(tmp_path, "uhri_variant.xlsx", variant), kind="upr")
    assert summary.ok and (summary.inserted, summary.skipped) == (14, 3)
    absent = [p for p in summary.problems if p["message"].startswith("column(s) not in this export")]
    assert len(absent) == 1 and absent[0]["row"] == 1 and absent[0]["message"].endswith("Recommending Regions")


def test_csv_saved_from_the_export_reads_the_same(engine, tmp_path):
    rows = _sheet()
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(rows[0].keys())
    w.writerows([["" if v is None else v for v in r.values()] for r in rows])
    path = tmp_path / "uhri.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    summary = import_file(engine, path, kind="upr")
    assert summary.ok and summary.source_type == "uhri"
    assert (summary.read, summary.inserted, summary.skipped) == (17, 14, 3)
    assert not [p for p in summary.problems if p["severity"] == "warning"]


# --------------------------------------------------------------------------- bad input: nothing written
def test_truncated_workbook_is_refused_and_store_unchanged(engine):
    import_file(engine, SAMPLE, kind="upr")
    before = _snapshot(engine)
    data = SAMPLE.read_bytes()
    for fmt in ("uhri", None):  # forced, and left to sniffing
        summary = import_file(engine, data[: len(data) // 2], name="uhri_cut.xlsx", kind="upr", fmt=fmt)
        assert not summary.ok
        assert summary.error.startswith("uhri_cut.xlsx")
        assert _snapshot(engine) == before
    assert "truncated" in import_file(engine, data[: len(data) // 2], name="uhri_cut.xlsx", fmt="uhri").error


def test_damaged_sheet_fails_mid_stream_and_store_unchanged(engine):
    # A readable zip whose sheet XML stops half way: the header reads, the rows do not.
    src = zipfile.ZipFile(SAMPLE)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = body[: len(body) * 2 // 3]
            dst.writestr(item, body)
    before = _snapshot(engine)
    summary = import_file(engine, out.getvalue(), name="uhri_damaged.xlsx", kind="upr", fmt="uhri")
    assert not summary.ok
    assert summary.error.startswith("uhri_damaged.xlsx, row ") and "damaged or truncated" in summary.error
    assert _snapshot(engine) == before


def test_missing_text_column_names_it_and_store_unchanged(engine, tmp_path):
    import_file(engine, SAMPLE, kind="upr")
    before = _snapshot(engine)
    path = _edited(tmp_path, "uhri_no_text.xlsx", lambda ws, col: ws.delete_cols(col["Text"]))
    summary = import_file(engine, path, kind="upr")  # still recognised as UHRI, so the column can be named
    assert not summary.ok
    assert summary.error.startswith("uhri_no_text.xlsx, row 1: missing required column(s): Text ")
    assert summary.problems[0]["severity"] == "fatal"
    assert _snapshot(engine) == before


# --------------------------------------------------------------------------- cells (backend-independent)
def test_uprinfo_file_is_not_sniffed_as_uhri():
    from ingest.uhri import READER
    from matcher.sources import Source

    assert READER.sniff(Source.of(SAMPLE))
    assert not READER.sniff(Source.of(DATA / "uprinfo_sample_macroman.csv"))


@pytest.mark.parametrize("raw, session", [("39", 39), (39.0, 39), ("Session 39", 39), ("- 39th session", 39),
                                          ("", None), ("2019", None), ("34 / 35", None)])
def test_parse_session(raw, session):
    assert parse_session(raw) == session


def test_excel_dates():
    assert excel_date(43808) == date(2019, 12, 9)
    assert excel_date("46125.4996282407") == date(2026, 4, 13)
    assert excel_date(datetime(2025, 4, 3, 0, 0)) == date(2025, 4, 3)
    assert excel_date("13/12/2019") == date(2019, 12, 13)
    assert excel_date(None) is None and excel_date("") is None
    for bad in ("soon", 12, "31/02/2020", 2958465):
        with pytest.raises(ValueError):
            excel_date(bad)


def test_sdg_cells():
    assert parse_sdg("1.4 - Equal rights to economic resources") == ("sdg_target", "1.4", "1", "Equal rights to "
                                                                      "economic resources")
    assert parse_sdg("16.b - Non-discriminatory laws") == ("sdg_target", "16.b", "16", "Non-discriminatory laws")
    assert parse_sdg("5 - Gender equality") == ("sdg_goal", "5", "5", "Gender equality")
    assert parse_sdg("18 - Not a goal") is None and parse_sdg("Gender equality") is None
    items = bullet_list("- 1.4 - Equal rights\r\n- 1.2 - Halve poverty\n\n- 5 - Gender equality\n- 5 - Gender equality")
    tags, implied, bad = sdg_tags(items + ["nonsense"])
    assert tags == [("sdg_target", "1.4", "Equal rights"), ("sdg_target", "1.2", "Halve poverty"),
                    ("sdg_goal", "1", None), ("sdg_goal", "5", "Gender equality")]
    assert implied == {"1": ["1.4", "1.2"]} and bad == ["nonsense"]


def test_publication_dates_are_kept_in_extra(engine):
    assert import_file(engine, SAMPLE).ok
    with Session(engine) as s:
        extras = [r.extra for r in s.execute(select(Recommendation)).scalars()]
    dated = [e for e in extras if e and "document_publication_date" in e]
    assert dated, extras
    for e in dated:
        date.fromisoformat(e["document_publication_date"])  # ISO text, Excel serials converted
