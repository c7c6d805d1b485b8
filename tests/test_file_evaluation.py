"""`upr-align evaluate FILE`: the classifier in use scored against a labelled file of the user's own."""
from __future__ import annotations

import csv
import json

import pytest
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from cli.main import app
from matcher.classify import classify_texts
from matcher.evaluation import scores
from matcher.file_evaluation import (LabelError, describe_skipped, evaluate_file, parse_cell, read_labelled,
                                     seen_in_training)
from matcher.model import load_examples
from matcher.settings import goal_cap_settings
from matcher.tables import TableError
from matcher.xlsx import UNSAVED_HINT

from conftest import DATA

runner = CliRunner()
SLOVENIA = DATA / "ohchr_slovenia_sdg_themes_slice.csv"  # real OHCHR goals in `sdg_goals` ("3;16")
SLOVENIA_RAW = DATA / "ohchr_slovenia_thematic_c2-c4_slice.csv"  # "16 - PEACE, JUSTICE AND STRONG INSTITUTIONS"

HINT_TAIL = UNSAVED_HINT.split("saved,", 1)[1]  # after 'so its values are saved,'


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("cell, goals, targets", [
    ("5;16", {"5", "16"}, set()),
    ("SDG 5", {"5"}, set()),
    ("Goal 05: Gender equality", {"5"}, set()),
    ("[1, 5, 16]", {"1", "5", "16"}, set()),
    ("5 16", {"5", "16"}, set()),
    ("5.2, 16.1", {"5", "16"}, {"5.2", "16.1"}),
    ("Target 16.b | 4.A", {"16", "4"}, {"16.b", "4.a"}),
    ("5.2.1", {"5"}, {"5.2"}),
    ("Gender equality", {"5"}, set()),
    ("16 - PEACE, JUSTICE AND STRONG INSTITUTIONS", {"16"}, set()),
    ("3 - GOOD HEALTH AND WELL-BEING; 16 - PEACE, JUSTICE AND STRONG INSTITUTIONS", {"3", "16"}, set()),
    ("Faim « zéro »", {"2"}, set()),
    ("Paz, justicia e instituciones fuertes", {"16"}, set()),
    (5.0, {"5"}, set()),
    ("5.0", {"5"}, set()),  # pandas writes a goal column of floats so
    ("SDG 5 and SDG 16", {"5", "16"}, set()),
    ("SDG5 & SDG16", {"5", "16"}, set()),
    ("Goals 5, 16", {"5", "16"}, set()),
    ("5+16", {"5", "16"}, set()),
    ("Goal 5 (target 5.2)", {"5"}, {"5.2"}),
    ("SDG 5 - Target 5.2", {"5"}, {"5.2"}),
    ("5.2 End all violence against women (our wording)", {"5"}, {"5.2"}),
    ("16.2 End abuse, exploitation, trafficking and all forms of violence against and torture of children",
     {"16"}, {"16.2"}),  # a target with its official title, commas and all
    ("none", set(), set()),
    ("-", set(), set()),
    ("n.a.", set(), set()),
])
def test_label_cells_in_the_spellings_people_use(cell, goals, targets):
    assert parse_cell(cell) == (goals, targets)


def test_empty_and_unreadable_label_cells():
    assert parse_cell("") is None and parse_cell(None) is None
    for bad in ("SDG 18", "5.9", "banana", "5; SDG 19", "The goal is 5", "0"):
        with pytest.raises(LabelError, match="is not an SDG goal or target"):
            parse_cell(bad)
    for unsure in ("?", "...", "*"):  # says nothing: not read as "no label"
        with pytest.raises(LabelError, match="names no goal or target"):
            parse_cell(unsure)
    for ambiguous in ("1-8", "5–16"):  # a range or two goals? not guessed
        with pytest.raises(LabelError, match="a range or two codes"):
            parse_cell(ambiguous)
    with pytest.raises(LabelError, match="not a list of codes"):
        parse_cell("5;" * 2000)
    assert parse_cell("Women's rights; Justice", "uprinfo") == ({"women-s-rights", "justice"}, set())
    with pytest.raises(LabelError, match="not a UPR Info issue"):
        parse_cell("5", "uprinfo")


def _write_csv(path, rows, header=("id", "text", "sdg")):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_rows_merged_skipped_and_counted(tmp_path):
    f = tmp_path / "labels.csv"
    _write_csv(f, [
        (1, "Eliminate all forms of violence against women and girls.", "5"),
        (2, "ELIMINATE all forms of violence against women and girls", "16"),  # same text: merged, goals 5 and 16
        (3, "", "4"),                                                     # no text
        (4, "Ensure free primary education for all children.", ""),       # empty label
        (5, "Protect wetlands and forests.", "SDG 18"),                   # no such goal
        (6, "Combat corruption and bribery in all their forms.", "16.5"),
    ])
    items, counts = read_labelled(f, "text", "sdg")
    assert [(t.rows, t.goals, t.targets, t.has_targets) for t in items] == [
        ([2, 3], {"5", "16"}, set(), False), ([7], {"16"}, {"16.5"}, True)]
    assert counts["rows"] == 6 and counts["texts"] == 2 and counts["merged_rows"] == 1
    assert counts["skipped"] == {"no_text": 1, "no_label": 1, "bad_label": 1, "unsaved_formula": 0}
    assert counts["skipped_rows"]["no_text"] == [4] and counts["skipped_rows"]["no_label"] == [5]
    assert counts["skipped_rows"]["bad_label"] == ["row 6: 'SDG 18' is not an SDG goal or target"]
    items, counts = read_labelled(f, "text", "sdg", empty_is_none=True)
    assert len(items) == 3 and items[1].goals == set() and counts["skipped"]["no_label"] == 0


def _formula_labels(path, texts_and_labels) -> None:
    """A workbook as a script writes it with openpyxl: formulas are stored without a saved value."""
    wb = Workbook()
    ws = wb.active
    ws.append(["text", "sdg", "code"])
    for row in texts_and_labels:
        ws.append(row)
    wb.save(path)


def test_a_formula_with_no_saved_value_is_skipped_and_counted_never_an_empty_label(tmp_path):
    f = tmp_path / "labels.xlsx"
    _formula_labels(f, [
        ("Eliminate all forms of violence against women and girls.", "5", "5"),
        ("Ensure free primary education for all children.", "=C3", "4"),     # label: a formula, no value saved
        ("Protect wetlands and forests.", "", "15"),                         # label: really empty
        ("=CONCAT(\"Combat \", \"corruption\")", "16", "16"),               # text: a formula, no value saved
    ])
    for empty_is_none in (False, True):
        items, counts = read_labelled(f, "text", "sdg", empty_is_none=empty_is_none)
        assert counts["skipped"]["unsaved_formula"] == 2
        assert counts["skipped_rows"]["unsaved_formula"] == ["row 3: column 'sdg'", "row 5: column 'text'"]
        # the formula label is never read as empty, so --empty-is-none never makes it a 'none' label
        assert [t.text for t in items] == ["Eliminate all forms of violence against women and girls."] + (
            ["Protect wetlands and forests."] if empty_is_none else [])
        assert counts["skipped"]["no_label"] == (0 if empty_is_none else 1)
    line = describe_skipped(counts)
    assert line == ("skipped: 2 with a formula with no saved value (row 3: column 'sdg'; row 5: column 'text'): "
                    f"{UNSAVED_HINT}")

    # every label a formula: the error says why and what to do
    _formula_labels(f, [("Ensure free primary education for all children.", "=C2", "4")])
    with pytest.raises(TableError, match=r"no row has both a text in 'text' and a label in 'sdg' \(1 row read; "
                                         r"skipped: 1 with a formula with no saved value \(row 2: column 'sdg'\): "
                                         r"open and save the file in Excel or LibreOffice"):
        read_labelled(f, "text", "sdg", empty_is_none=True)


def test_evaluate_reports_formulas_with_no_saved_value(tmp_path, reader_client):
    f = tmp_path / "labels.xlsx"
    _formula_labels(f, [("Eliminate all forms of violence against women and girls.", "5", "5"),
                        ("Ensure free primary education for all children.", "=C3", "4")])
    r = run("evaluate", f, "--text-column", "text", "--label-column", "sdg", "--empty-is-none")
    assert r.exit_code == 0, r.output
    assert "labels.xlsx: 2 rows, 1 text" in r.output
    assert ("skipped: 1 with a formula with no saved value (row 3: column 'sdg'): open and save the file in Excel or "
            f"LibreOffice so its values are saved,{HINT_TAIL}") in " ".join(r.output.split())
    report = evaluate_file(f, "text", "sdg", empty_is_none=True)
    assert report["texts"] == 1 and report["scores"]["all"]["sdg_goal"]["gold_pairs"] == 1
    r = reader_client.post("/classify/evaluate", files={"file": ("labels.xlsx", f.read_bytes())},
                           data={"text_column": "text", "label_column": "sdg", "empty_is_none": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["skipped_rows"] == {"unsaved_formula": ["row 3: column 'sdg'"]}


def test_texts_in_any_script_stay_apart_and_targets_are_judged_under_their_goals(tmp_path):
    f = tmp_path / "labels.csv"
    _write_csv(f, [(1, "Обеспечить всеобщее начальное образование", "4"),
                   (2, "Искоренить крайнюю нищету", "1"),
                   (3, "确保性别平等", "5"),
                   (4, "Garantizar la educación", "4"),
                   (5, "Garantizar la EDUCACIÓN!", "16")])  # the same text: merged
    items, counts = read_labelled(f, "text", "sdg")
    assert counts["texts"] == 4 and [t.goals for t in items] == [{"4"}, {"1"}, {"5"}, {"4", "16"}]
    text = "Take measures to combat trafficking in persons, especially women and children, and protect its victims."
    _write_csv(f, [(1, text, "5.2; 16")])  # targets given for goal 5, none for goal 16
    report = evaluate_file(f, "text", "sdg")
    predicted = classify_texts([text])[0].codes("sdg_target")
    assert any(not t.startswith("5.") for t in predicted)  # e.g. 16.2, 8.7: not judged
    m = report["scores"]["all"]["sdg_target"]
    assert m["gold_pairs"] == 1 and m["pred_pairs"] == len([t for t in predicted if t.startswith("5.")])


def test_files_that_cannot_be_evaluated_say_why(tmp_path):
    f = tmp_path / "labels.csv"
    _write_csv(f, [(1, "Some text", "")])
    with pytest.raises(TableError, match="no column 'label'.*'id', 'text', 'sdg'"):
        read_labelled(f, "text", "label")
    with pytest.raises(TableError, match=r"labels.csv: no row has both a text in 'text' and a label in 'sdg' "
                                         r"\(1 row read; skipped: 1 with an empty label cell \(row 2\) \(--empty-is-none, or empty_is_none "
                                         r"in the API, reads them as 'no label'\)\)"):
        read_labelled(f, "text", "sdg")
    _write_csv(f, [(1, "Some text", "SDG 99")])
    with pytest.raises(TableError, match=r"skipped: 1 with a label that names no code "
                                         r"\(row 2: 'SDG 99' is not an SDG goal or target\)"):
        read_labelled(f, "text", "sdg")
    r = run("evaluate", f, "--text-column", "text", "--label-column", "sdg")
    assert r.exit_code == 2 and "no row has both a text" in r.output
    _write_csv(f, [])
    with pytest.raises(TableError, match="a header but no rows"):
        read_labelled(f, "text", "sdg")
    _write_csv(f, [(1, "Some text", "5", "16")], header=("id", "text", "sdg", "sdg"))
    with pytest.raises(TableError, match="2 columns are named 'sdg'"):
        read_labelled(f, "text", "sdg")
    r = run("evaluate", f, "--text-column", "text")
    assert r.exit_code == 2 and "--label-column" in r.output
    r = run("evaluate", "--max-goals", "1")
    assert r.exit_code == 2 and "labelled FILE" in r.output
    r = run("evaluate", f, "--text-column", "text", "--label-column", "sdg", "--split", "uprinfo")
    assert r.exit_code == 2 and "--split" in r.output


def test_real_ohchr_goals_scored_and_written_per_text(tmp_path):
    """The OHCHR slice (real goals): the scores are those of the rows written out, and the evidence is there."""
    out = tmp_path / "rows.csv"
    report = evaluate_file(SLOVENIA, "text", "sdg_goals", out=out)
    assert report["rows"] == 57 and report["skipped"]["no_label"] > 0  # cycle 2 carries no goals
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report["texts"] > 20

    def codes(cell):
        return {c for c in cell.split(";") if c}

    gold = [codes(r["gold"]) for r in rows]
    pred = [codes(r["predicted"]) for r in rows]
    assert report["scores"]["all"]["sdg_goal"] == scores(gold, pred)
    for r, g, p in zip(rows, gold, pred):
        assert codes(r["missed"]) == g - p and codes(r["extra"]) == p - g
        assert (r["agrees"] == "yes") == (g == p)
        assert all(f"{c}: " in r["evidence"] for c in p)
    # the file's predictions are the classifier's, text by text
    assert pred == [set(res.codes("sdg_goal")) for res in classify_texts([r["text"] for r in rows])]
    # the same recommendations, with the goals spelled out ("16 - PEACE, JUSTICE AND ...") in the other parse
    raw = evaluate_file(SLOVENIA_RAW, "text", "sdg_labels_raw")
    assert raw["scores"]["all"]["sdg_goal"] == report["scores"]["all"]["sdg_goal"]
    per = {r["code"]: r for r in report["per_label"]["sdg_goal"]}
    assert sum(r["gold"] for r in per.values()) == report["scores"]["all"]["sdg_goal"]["gold_pairs"]
    # beside the rule in force: what --max-goals 1 scores, the same as a run with that cap
    capped = evaluate_file(SLOVENIA, "text", "sdg_goals", settings=goal_cap_settings(1))
    assert report["scores_one_goal"]["all"]["sdg_goal"] == capped["scores"]["all"]["sdg_goal"]
    assert capped["scores_one_goal"] == {}  # the cap already in force: nothing to add
    assert report["scores_one_goal"]["all"]["sdg_goal"]["pred_pairs"] <= report["texts"]
    assert report["scores_one_goal"]["all"] != report["scores"]["all"]  # OHCHR gives several goals: it differs


def test_texts_the_model_trained_on_are_scored_apart(tmp_path):
    """A training sentence (labelled sentences) is 'seen'; a new text is not; 'unseen' scores leave the seen out."""
    trained = load_examples("labelled_sentences")[0]
    new = ("The ministry piloted solar-powered irrigation pumps for smallholder farmers in three districts, cutting "
           "their diesel costs by a third.")
    assert seen_in_training([trained.text, new]) == [True, False]
    f = tmp_path / "labels.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["Text", "Goal"])
    ws.append([trained.text, int(trained.labels["sdg_goal"][0])])  # a number cell, as Excel stores it
    ws.append([new, "2;7"])
    ws.append(["@HYPERLINK(\"http://evil.example\") Abolish the death penalty.", "SDG 16"])
    wb.save(f)
    out = tmp_path / "rows.xlsx"
    r = run("evaluate", f, "--text-column", "Text", "--label-column", "Goal", "--out", out, "--max-goals", "1")
    assert r.exit_code == 0, r.output
    assert "1 of 3 texts nearly repeat a text the model trained on" in r.output
    assert "unseen  sdg_goal" in r.output and "per goal (all texts)" in r.output
    rows = list(load_workbook(out).active.values)
    assert rows[0][:3] == ("rows", "text", "seen_in_training")
    assert [row[2] for row in rows[1:]] == ["yes", "no", "no"]
    assert rows[3][1].startswith("@HYPERLINK")  # as written, in a text cell with Excel's quote prefix:
    cell = load_workbook(out).active["B4"]
    assert cell.data_type == "s" and cell.quotePrefix
    assert all(len([c for c in (row[4] or "").split(";") if c]) <= 1 for row in rows[1:])  # --max-goals 1


def test_theme_labels(tmp_path):
    f = tmp_path / "themes.csv"
    _write_csv(f, [(1, "Criminalize trafficking in persons and protect its victims.", "Trafficking"),
                   (2, "Guarantee the independence of the judiciary.", "Justice")], header=("id", "text", "issue"))
    report = evaluate_file(f, "text", "issue", vocabulary="uprinfo")
    assert set(report["scores"]["all"]) == {"uprinfo"}
    assert {r["code"] for r in report["per_label"]["uprinfo"]} >= {"trafficking", "justice"}


def test_evaluate_over_http_and_on_the_page(reader_client, monkeypatch):
    import io

    from matcher import settings as settings_mod

    client = reader_client
    data = SLOVENIA.read_bytes()
    form = {"text_column": "text", "label_column": "sdg_goals"}
    r = client.post("/classify/evaluate", files={"file": ("svn.csv", data, "text/csv")}, data=form)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report == {**evaluate_file(SLOVENIA, "text", "sdg_goals"), "file": "svn.csv"}
    r = client.post("/classify/evaluate", files={"file": ("svn.csv", data, "text/csv")}, data={**form, "format": "xlsx"})
    assert r.status_code == 200 and "svn_evaluated.xlsx" in r.headers["content-disposition"]
    rows = list(load_workbook(io.BytesIO(r.content)).active.values)
    assert rows[0][3:7] == ("gold", "predicted", "missed", "extra") and len(rows) == report["texts"] + 1
    # bad input: a missing column (named), no usable row, not a table
    r = client.post("/classify/evaluate", files={"file": ("svn.csv", data, "text/csv")},
                    data={**form, "label_column": "goals"})
    assert r.status_code == 422 and "no column 'goals'" in r.text
    r = client.post("/classify/evaluate", files={"file": ("e.csv", b"text,sdg\nabc,\n", "text/csv")},
                    data={"text_column": "text", "label_column": "sdg"})
    assert r.status_code == 422 and "no row has both" in r.text
    r = client.post("/classify/evaluate", files={"file": ("a.xml", b"<a/>", "text/xml")}, data=form)
    assert r.status_code == 415
    # the page: its form, the scores as tables, an error on the page; with reads closed, the key cookie
    monkeypatch.setenv("UPR_ALIGN_API_READER_OPEN", "false")
    settings_mod.get_settings.cache_clear()
    try:
        assert client.post("/classify/evaluate", files={"file": ("svn.csv", data, "text/csv")},
                           data=form).status_code == 401
        assert client.post("/classify-texts/evaluate", files={"file": ("svn.csv", data, "text/csv")},
                           data=form).status_code == 401
        client.cookies.set("upr_align_key", client.reader)
        page = client.get("/classify-texts")
        assert 'action="/classify-texts/evaluate#check"' in page.text
        assert "<title>upr-align — classify texts</title>" in page.text
        r = client.post("/classify-texts/evaluate", files={"file": ("svn.csv", data, "text/csv")}, data=form)
        assert r.status_code == 200
        f1 = report["scores"]["all"]["sdg_goal"]["micro_f1"]
        assert f"svn.csv: {report['texts']} texts from 57 rows" in r.text and f"{f1:.3f}" in r.text
        assert "Peace, justice and strong institutions" in r.text and "an empty label cell" in r.text
        one = report["scores_one_goal"]["all"]["sdg_goal"]["micro_f1"]
        assert f"all, best goal only (one SDG goal per text)</td><td>sdg_goal</td><td class=\"num\">{report['texts']}" \
            f"</td>" in r.text and f"{one:.3f}" in r.text
        r = client.post("/classify-texts/evaluate", files={"file": ("svn.csv", data, "text/csv")},
                        data={**form, "empty_is_none": "true", "max_goals": "1"})
        assert r.status_code == 200
        with_none = evaluate_file(SLOVENIA, "text", "sdg_goals", empty_is_none=True, settings=goal_cap_settings(1))
        assert with_none["texts"] > report["texts"] and f"svn.csv: {with_none['texts']} texts from 57 rows" in r.text
        assert 'name="empty_is_none" type="checkbox" value="true" checked' in r.text  # the form as it was sent
        assert 'name="max_goals" type="checkbox" value="1" checked' in r.text and 'value="sdg_goals"' in r.text
        assert "tick “An empty label cell means no label” to read them so" not in r.text  # none skipped for it now
        r = client.post("/classify-texts/evaluate", files={"file": ("svn.csv", data, "text/csv")},
                        data={**form, "sheet": "2023"})  # a sheet left in the form from a workbook: a CSV ignores it
        assert r.status_code == 200 and "tick “An empty label cell means no label” to read them so" in r.text
        r = client.post("/classify-texts/evaluate", files={"file": ("svn.csv", data, "text/csv")},
                        data={**form, "label_column": "goals"})
        assert r.status_code == 422 and "no column &#39;goals&#39;" in r.text and "Check the classifier" in r.text
    finally:
        monkeypatch.delenv("UPR_ALIGN_API_READER_OPEN")
        settings_mod.get_settings.cache_clear()


def test_labels_on_a_later_sheet(tmp_path, reader_client):
    """A workbook with a notes sheet first: the sheet with both columns is read, and the report names it."""
    f = tmp_path / "labels.xlsx"
    wb = Workbook()
    wb.active.title = "Notes"
    wb.active.append(["Labels are SDG goals, one or more per text."])
    ws = wb.create_sheet("Labelled")
    ws.append(["text", "sdg"])
    ws.append(["Abolish the death penalty and commute all death sentences.", "16"])
    wb.save(f)
    report = evaluate_file(f, "text", "sdg")
    assert report["file"] == "labels.xlsx, sheet 'Labelled'" and report["texts"] == 1 and report["other_sheets"] == []
    from matcher.model import default_model

    rule = default_model().goal_rule  # the rule calibrated when the model was fitted
    assert report["settings"] == {"vocabulary": "sdg", "empty_is_none": False, "goal_rule": {
        "threshold": rule["threshold"], "relative": rule["relative"], "max": 0, "from": "calibrated with the model"}}
    ws = wb.create_sheet("Labelled 2024")
    ws.append(["text", "sdg"])
    ws.append(["Ensure free primary education for all children.", "4"])
    wb.save(f)
    r = run("evaluate", f, "--text-column", "text", "--label-column", "sdg", "--max-goals", "1", "--empty-is-none")
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "labels.xlsx, sheet 'Labelled': 1 row," in said
    assert "not read: the sheet 'Labelled 2024' of the workbook also has these columns (--sheet NAME reads one)" in said
    assert f"goal rule: threshold {rule['threshold']:.2f}, relative {rule['relative']:g}, at most 1 goal per text " \
        "(settings: max); empty label cells read as 'no label'" in said
    r = run("evaluate", f, "--text-column", "text", "--label-column", "sdg", "--sheet", "Labelled 2024", "--json")
    report = json.loads(r.stdout)
    assert report["file"] == "labels.xlsx, sheet 'Labelled 2024'" and report["other_sheets"] == []
    r = reader_client.post("/classify-texts/evaluate", files={"file": ("labels.xlsx", f.read_bytes())},
                           data={"text_column": "text", "label_column": "sdg"})
    assert r.status_code == 200 and "labels.xlsx, sheet &#39;Labelled&#39;: 1 text from 1 row" in r.text
    assert "Not read: the sheet “Labelled 2024” of the workbook also has these columns" in r.text
    r = run("evaluate", f, "--text-column", "text", "--label-column", "sdg", "--folds", "3")
    assert r.exit_code == 2 and "--folds go with the shipped splits" in r.output
    r = run("evaluate", f, "--text-column", "text", "--label-column", "goal")
    assert r.exit_code == 2 and "no sheet has all the columns 'text', 'goal'; sheets: 'Notes' holds 'Labels are SDG goals, one or more per " \
        "text.'; 'Labelled' holds 'text', 'sdg'" in " ".join(r.output.split())
