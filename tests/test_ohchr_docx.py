"""OHCHR thematic lists of recommendations (DOCX, Slovenia cycles 2-4), on every backend."""
from __future__ import annotations

from collections import Counter

import docx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from matcher import import_file
from matcher.models import ItemTag, Recommendation, RecommendingState

from conftest import DATA, rec_at, table_counts

C2 = DATA / "UPR20__Slovenia_ThematicListRecommendations_E.docx"
C3 = DATA / "UPR34_Slovenia_Thematic_list_of_Recommendations.docx"
C4 = DATA / "upr48-slovenia-thematic-list-of-recommendatio.docx"
REVIEWS = {C2: (2, 20, "A/HRC/28/15"), C3: (3, 34, "A/HRC/43/15"), C4: (4, 48, "A/HRC/59/15")}


def _document_positions(path) -> Counter:
    """Positions as the document's table shows them, counted independently of the reader."""
    table = docx.Document(str(path)).tables[0]
    positions = Counter()
    for row in table.rows[1:]:
        cells = row.cells
        if cells[0]._tc is not cells[1]._tc:  # cluster rows are one merged cell
            positions[cells[1].text.strip()] += 1
    return positions


def _states(s, rec):
    rows = s.execute(select(RecommendingState).where(RecommendingState.recommendation_id == rec.id)
                     .order_by(RecommendingState.position)).scalars()
    return [(x.iso3, x.name) for x in rows]


def _tags(s, rec, vocabulary):
    return s.execute(select(ItemTag.code, ItemTag.label).where(ItemTag.item_id == rec.id,
                                                               ItemTag.vocabulary == vocabulary)
                     .order_by(ItemTag.id)).all()


@pytest.mark.parametrize("path", [C2, C3, C4], ids=["cycle2", "cycle3", "cycle4"])
def test_every_recommendation_with_the_documents_positions(engine, path):
    positions = _document_positions(path)
    n = sum(positions.values())
    summary = import_file(engine, path, kind="upr")
    assert summary.ok, summary.error
    assert summary.source_type == "ohchr-docx"
    assert (summary.read, summary.inserted, summary.skipped) == (n, n, 0)
    assert not [p for p in summary.problems if p["severity"] == "error"]
    cycle, session, symbol = REVIEWS[path]
    with Session(engine) as s:
        got = Counter(s.execute(select(Recommendation.response_raw)).scalars())
        assert got == positions and set(got) == {"Supported", "Noted"}
        assert Counter(s.execute(select(Recommendation.response)).scalars()) == {
            "accepted": positions["Supported"], "noted": positions["Noted"]}
        meta = set(s.execute(select(Recommendation.state_under_review, Recommendation.state_under_review_name,
                                    Recommendation.cycle, Recommendation.session, Recommendation.document_symbol)))
        assert meta == {("SVN", "Slovenia", cycle, session, symbol)}
        refs = list(s.execute(select(Recommendation.source_row)).scalars())
        assert all(r.startswith("table 1 row ") for r in refs) and len(set(refs)) == n


def test_joint_and_merged_recommendations_name_every_state(engine):
    for path in (C2, C3, C4):
        assert import_file(engine, path, kind="upr").ok
    with Session(engine) as s:
        rec = rec_at(s, "121.1", 34)  # "(France) (Lithuania);"
        assert _states(s, rec) == [("FRA", "France"), ("LTU", "Lithuania")]
        assert rec.text == "Ratify the International Convention for the Protection of All Persons from Enforced Disappearance"
        assert rec.text_original.startswith("121.1 Ratify") and rec.text_original.endswith("(France) (Lithuania);")
        # a UN name with its own parenthesis inside a list of states
        assert _states(s, rec_at(s, "115.8", 20)) == [
            ("SEN", "Senegal"), ("SLE", "Sierra Leone"), ("VEN", "Venezuela (Bolivarian Republic of)"),
            ("PER", "Peru"), ("URY", "Uruguay")]
        assert rec_at(s, "115.8", 20).text == "Ratify ICRMW"
        # merged recommendations: each part closes with its own state
        assert [iso for iso, _ in _states(s, rec_at(s, "115.38", 20))] == ["EGY", "PER", "AZE"]
        assert [iso for iso, _ in _states(s, rec_at(s, "121.2", 34))] == ["UKR", "SVK"]
        eight = _states(s, rec_at(s, "140.1", 48))
        assert len(eight) == 8 and eight[-1] == ("VEN", "Bolivarian Republic of Venezuela")
        # "(No. 29)" is part of the treaty name, not a state
        rec = rec_at(s, "121.3", 34)
        assert _states(s, rec) == [("GBR", "United Kingdom of Great Britain and Northern Ireland")]
        assert rec.text.endswith("Forced Labour Convention, 1930 (No. 29)")
        unresolved = s.execute(select(func.count()).select_from(RecommendingState)
                               .where(RecommendingState.iso3.is_(None))).scalar_one()
        assert unresolved == 0


def test_themes_sdgs_and_affected_persons_are_stored(engine):
    for path in (C2, C3, C4):
        assert import_file(engine, path, kind="upr").ok
    with Session(engine) as s:
        rec = rec_at(s, "115.2", 20)  # cycle 2: coded UHRI themes, no SDGs
        assert _tags(s, rec, "uhri") == [("A12", "A12 Acceptance of international norms"),
                                         ("B32", "B32 Racial discrimination"), ("G1", "G1 Members of minorities")]
        assert _tags(s, rec, "affected_persons") == [
            ("minorities/ racial, ethnic, linguistic, religious or descent-based groups",) * 2]
        assert _tags(s, rec, "sdg_goal") == []
        rec = rec_at(s, "121.1", 34)  # cycle 3: SDGs inside the themes cell
        assert _tags(s, rec, "uhri") == [("Acceptance of international norms",) * 2, ("Enforced disappearances",) * 2]
        assert _tags(s, rec, "sdg_goal") == [("16", "PEACE, JUSTICE AND STRONG INSTITUTIONS")]
        assert _tags(s, rec, "affected_persons") == [("Disappeared persons",) * 2]
        rec = rec_at(s, "140.253", 48)  # cycle 4: SDGs in their own column, "Groups of Persons"
        assert [c for c, _ in _tags(s, rec, "sdg_goal")] == ["10", "16"]
        assert [c for c, _ in _tags(s, rec, "affected_persons")] == ["Public officials", "Stateless persons"]
        # a theme label with semicolons of its own stays one theme
        labels = set(s.execute(select(ItemTag.label).where(ItemTag.vocabulary == "uhri")).scalars())
        assert "Children: definition; general principles; protection" in labels
        assert "general principles" not in labels
        per_vocab = dict(s.execute(select(ItemTag.vocabulary, func.count()).group_by(ItemTag.vocabulary)).all())
        assert per_vocab["sdg_goal"] > 0 and per_vocab["uhri"] > 0 and per_vocab["affected_persons"] > 0


def test_reingest_is_idempotent(engine):
    first = import_file(engine, C3, kind="upr")
    before = table_counts(engine)
    again = import_file(engine, C3, kind="upr")
    assert again.ok and (again.inserted, again.updated, again.skipped) == (0, 0, 0)
    assert again.unchanged == first.inserted == first.read
    after = table_counts(engine)
    assert after == {**before, "ImportBatch": before["ImportBatch"] + 1}


def _write_docx(path, header, rows, page_header=None):
    doc = docx.Document()
    if page_header:
        doc.sections[0].header.paragraphs[0].text = page_header
    doc.add_paragraph("Some other document")
    table = doc.add_table(rows=1, cols=len(header))
    for cell, text in zip(table.rows[0].cells, header):
        cell.text = text
    for values in rows:
        for cell, text in zip(table.add_row().cells, values):
            cell.text = text
    doc.save(str(path))
    return path


def test_docx_without_recommendations_table_is_refused(engine, tmp_path):
    assert import_file(engine, C2, kind="upr").ok
    before = table_counts(engine)
    bad = _write_docx(tmp_path / "minutes.docx", ["Item", "Decision"], [["115.1 Ratify X (France);", "Supported"]],
                      page_header="UPR of Slovenia (2nd Cycle – 20th session)")
    summary = import_file(engine, bad, kind="upr", fmt="ohchr-docx")
    assert not summary.ok
    assert summary.error.startswith("minutes.docx") and "no recommendations table" in summary.error
    assert summary.problems[0]["field"] == "Recommendation/Position"
    assert not import_file(engine, bad, kind="upr").ok  # not sniffed as a thematic list either
    truncated = tmp_path / "cut.docx"
    truncated.write_bytes(C3.read_bytes()[:20000])
    summary = import_file(engine, truncated, kind="upr", fmt="ohchr-docx")
    assert not summary.ok and summary.error.startswith("cut.docx") and "not a readable DOCX" in summary.error
    assert table_counts(engine) == before


def test_state_from_option_when_the_document_does_not_say(engine, tmp_path):
    rows = [["7.1 Ratify the Convention (France) (Kenya);\nSource of position: A/HRC/99/9/Add.1 - Para. 3", "Noted"],
            ["7.2 Consider a national plan (Peru);\nSource of position: A/HRC/99/9 - Para 7", "Supported"]]
    path = _write_docx(tmp_path / "list.docx", ["Recommendation", "Position", "Full list of themes"], rows)
    summary = import_file(engine, path, kind="upr")
    assert not summary.ok and "state_under_review" in summary.error and "list.docx" in summary.error
    summary = import_file(engine, path, kind="upr", options={"state": "Chile", "session": "99"})
    assert summary.ok, summary.error
    assert (summary.read, summary.inserted) == (2, 2)
    with Session(engine) as s:
        recs = s.execute(select(Recommendation).order_by(Recommendation.paragraph)).scalars().all()
        assert [(r.state_under_review, r.session, r.cycle, r.document_symbol, r.response) for r in recs] == [
            ("CHL", 99, 8, "A/HRC/99/9", "noted"), ("CHL", 99, 8, "A/HRC/99/9", "accepted")]
        assert _states(s, recs[0]) == [("FRA", "France"), ("KEN", "Kenya")]
        assert recs[0].source_row == "table 1 row 2"


def test_file_name_is_the_last_resort_and_says_so(engine, tmp_path):
    rows = [["12.4 Adopt a national action plan on business and human rights (Norway);", "Supported"]]
    path = _write_docx(tmp_path / "UPR40_South_Sudan_matrix.docx", ["Recommendation", "Position"], rows)
    summary = import_file(engine, path, kind="upr")
    assert summary.ok, summary.error
    warned = {p["field"]: p["message"] for p in summary.problems if "file name" in p["message"]}
    assert set(warned) == {"state", "session"} and "'South Sudan'" in warned["state"]
    with Session(engine) as s:
        rec = s.execute(select(Recommendation)).scalar_one()
        assert (rec.state_under_review, rec.session, rec.cycle, rec.paragraph) == ("SSD", 40, 3, "12.4")
        assert rec.document_symbol is None
    assert any(p["field"] == "document_symbol" for p in summary.problems)
