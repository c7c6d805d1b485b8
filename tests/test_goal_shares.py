"""Goal shares: declared goals beside what the text alone gets, per SDG goal (OHCHR's Slovenia tags, real slice)."""
from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from matcher import import_file
from matcher.classify import classify_texts
from matcher.goal_shares import COLUMNS, DISAGREEMENT_COLUMNS, goal_disagreements, goal_shares
from matcher.models import Recommendation

from conftest import DATA

SLICE = DATA / "ohchr_slovenia_sdg_themes_slice.csv"  # 57 recommendations, cycles 2-4; OHCHR goals on cycles 3-4


def _declared_by_paragraph() -> dict[tuple[int, str], set[str]]:
    """OHCHR's goals per (session, paragraph) as the file gives them."""
    rows = list(csv.DictReader(io.StringIO(SLICE.read_text(encoding="utf-8"))))
    return {(int(r["upr_session"]), r["rec_id"]): {g.strip() for g in r["sdg_goals"].split(";") if g.strip()}
            for r in rows}


def test_goal_shares_compare_declared_and_predicted(engine):
    assert import_file(engine, SLICE, kind="upr", options={"state": "Slovenia"}).ok
    with Session(engine) as s:
        report = goal_shares(s, country="SVN")
        recs = s.execute(select(Recommendation.id, Recommendation.text, Recommendation.session,
                                Recommendation.paragraph)).all()
        declared_only = goal_shares(s, country="SVN", with_declared=True)
        accepted = goal_shares(s, country="SVN", response="accepted")
    texts = {r.id: r.text for r in recs}
    assert report["items"] == len(texts) == 57
    # the declared side: OHCHR's goals as the file gives them
    given = _declared_by_paragraph()
    declared = {r.id: given[(r.session, r.paragraph)] for r in recs}
    assert report["with_declared"] == sum(1 for g in declared.values() if g)
    assert report["declared_pairs"] == sum(len(g) for g in declared.values())
    # the predicted side: the classifier on the texts alone, without the declared tags
    ids = sorted(texts)
    predicted = {i: set(r.codes("sdg_goal")) for i, r in zip(ids, classify_texts([texts[i] for i in ids]))}
    by_goal = {row["goal"]: row for row in report["data"]}
    assert list(by_goal) == [str(g) for g in range(1, 18)] and set(report["data"][0]) == set(COLUMNS)
    for goal, row in by_goal.items():
        assert row["declared"] == sum(goal in d for d in declared.values())
        assert row["predicted"] == sum(goal in p for p in predicted.values())
        assert row["both"] == sum(goal in declared[i] and goal in predicted[i] for i in ids)
        assert row["only_declared"] + row["both"] == row["declared"]
        assert row["only_predicted"] + row["both"] == row["predicted"]
        assert row["by_model"] <= row["predicted"] and row["by_targets"] <= row["predicted"]
    assert report["without_prediction"] == sum(not p for p in predicted.values())
    assert abs(sum(r["declared_share"] for r in report["data"]) - 1) < 1e-3
    assert abs(sum(r["predicted_share"] for r in report["data"]) - 1) < 1e-3
    assert by_goal["16"]["declared"] >= 1 and by_goal["16"]["predicted"] >= 1  # justice texts on both sides
    # scope: only the texts with declared goals; only accepted recommendations
    # disagreements: exactly the items with declared goals whose text alone gets other goals
    with Session(engine) as s:
        rows = goal_disagreements(s, country="SVN")
    differ = {i for i in ids if declared[i] and declared[i] != predicted[i]}
    assert {r["item_id"] for r in rows} == differ and differ
    for r in rows:
        split = lambda cell: set(filter(None, cell.split(";")))  # noqa: E731
        assert set(r) == set(DISAGREEMENT_COLUMNS) and r["text"] == texts[r["item_id"]]
        assert split(r["declared"]) == declared[r["item_id"]] and split(r["predicted"]) == predicted[r["item_id"]]
        assert split(r["only_declared"]) == declared[r["item_id"]] - predicted[r["item_id"]]
        assert split(r["only_predicted"]) == predicted[r["item_id"]] - declared[r["item_id"]]
        assert all(f"{g}: " in r["predicted_evidence"] for g in split(r["predicted"]))
    assert declared_only["items"] == declared_only["with_declared"] == report["with_declared"] < report["items"]
    assert declared_only["declared_pairs"] == report["declared_pairs"]
    assert accepted["items"] < report["items"]


def test_goal_shares_cli_and_api(engine, db_url):
    assert import_file(engine, SLICE, kind="upr", options={"state": "Slovenia"}).ok
    runner = CliRunner()
    r = runner.invoke(app, ["goal-shares", "--country", "Slovenia", "--db", db_url])
    assert r.exit_code == 0 and "57 recommendation items of SVN" in r.output and "32 with declared goals" in r.output
    r = runner.invoke(app, ["goal-shares", "--country", "SVN", "--with-declared", "--format", "csv", "--db", db_url])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.exit_code == 0 and [row["goal"] for row in rows] == [str(g) for g in range(1, 18)]
    r = runner.invoke(app, ["goal-shares", "--country", "SVN", "--item-type", "activity", "--response", "accepted",
                            "--db", db_url])
    assert r.exit_code == 2 and "recommendations only" in r.output
    r = runner.invoke(app, ["goal-shares", "--item-type", "nonsense", "--db", db_url])
    assert r.exit_code == 2
    r = runner.invoke(app, ["goal-shares", "--country", "KEN", "--db", db_url])  # nothing of Kenya in this store
    assert r.exit_code == 0 and "no recommendation items of KEN in the store" in r.output and "┃" not in r.output

    from fastapi.testclient import TestClient

    from api.app import create_app

    client = TestClient(create_app(engine), raise_server_exceptions=False)
    body = client.get("/goal-shares", params={"country": "SVN", "with_declared": "true"}).json()
    assert body["items"] == body["with_declared"] == 32
    assert [int(row["declared"]) for row in rows] == [row["declared"] for row in body["data"]]
    assert client.get("/goal-shares", params={"country": "Atlantis"}).status_code == 422
    assert client.get("/goal-shares", params={"country": "SVN", "item_type": "activity",
                                              "response": "accepted"}).status_code == 422
    assert json.loads(client.get("/goal-shares", params={"country": "SVN", "item_type": "cf_item"}).text)["items"] == 0
    # disagreements: CLI (table and CSV) and API agree
    r = runner.invoke(app, ["disagreements", "--country", "SVN", "--format", "csv", "--limit", "0", "--db", db_url])
    listed = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.exit_code == 0 and listed and list(listed[0]) == DISAGREEMENT_COLUMNS
    r = runner.invoke(app, ["disagreements", "--country", "SVN", "--db", db_url])
    assert r.exit_code == 0 and f"{len(listed)} recommendation items of SVN" in r.output
    page = client.get("/disagreements", params={"country": "SVN", "limit": 5, "offset": 1}).json()
    assert page["count"] == len(listed) and [d["item_id"] for d in page["data"]] == [
        d["item_id"] for d in listed[1:6]]
    assert client.get("/disagreements", params={"country": "nowhere"}).status_code == 422
