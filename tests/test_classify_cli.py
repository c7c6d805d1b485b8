"""`upr-align classify`: files in and out (CSV, XLSX), one text, and the whole store."""
from __future__ import annotations

import csv
import io
import json
import os
import zipfile

from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from cli.main import app
from matcher.file_classification import RESULT_COLUMNS, result_cells
from matcher.classify import classify_texts
from matcher.taxonomy import goal_of
from matcher.xlsx import UNSAVED_HINT

from conftest import DATA

runner = CliRunner()
SAMPLE = DATA / "uprinfo_sample_macroman.csv"
TEXTS = [
    "Criminalize trafficking in persons, especially women and children, and prosecute the traffickers.",
    "=HYPERLINK(\"http://evil.example\",\"x\") Adopt a law prohibiting female genital mutilation",
    "",
    "Ensure free and compulsory primary education for all children, including girls in rural areas.",
]

HINT_TAIL = UNSAVED_HINT.split("saved,", 1)[1]  # after 'so its values are saved,'


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _check_row(row: dict, text: str) -> None:
    """The five columns are well formed and say what the classifier says for this text."""
    assert set(RESULT_COLUMNS) <= set(row)
    expected = result_cells(classify_texts([text])[0]) if text.strip() else result_cells(None)
    assert {c: row[c] for c in RESULT_COLUMNS} == expected
    goals = [g for g in row["sdg_goals"].split(";") if g]
    targets = [t for t in row["sdg_targets"].split(";") if t]
    assert all(1 <= int(g) <= 17 for g in goals) and all(goal_of(t) for t in targets)
    assert set(json.loads(row["sdg_scores"])) == set(goals) | set(targets)
    evidence = json.loads(row["evidence"])
    themes = [t for t in row["themes"].split(";") if t]
    assert set(evidence) == set(goals) | set(targets) | set(themes)
    assert all(e["evidence"] and 0 <= e["score"] <= 1 for e in evidence.values())


def test_csv_round_trip_with_the_five_columns(tmp_path):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    with src.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "Recommendation", "note"])
        for i, t in enumerate(TEXTS):
            w.writerow([i, t, "-1 formula-looking note" if i == 0 else "Côte d'Ivoire"])
    r = run("classify", src, "--text-column", "Recommendation", "--out", dst)
    assert r.exit_code == 0, r.output
    assert dst.read_bytes().startswith(b"\xef\xbb\xbfid,")  # a UTF-8 byte-order mark: Excel reads the accents right
    with dst.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "Recommendation", "note", *RESULT_COLUMNS]
    assert len(rows) == len(TEXTS)
    for row, text in zip(rows, TEXTS):
        _check_row(row, text)
    # formula injection neutralised in every text cell, input columns included; the rest unchanged
    assert rows[1]["Recommendation"] == "'" + TEXTS[1] and rows[0]["note"] == "'-1 formula-looking note"
    assert rows[3]["Recommendation"] == TEXTS[3] and rows[3]["note"] == "Côte d'Ivoire"
    assert rows[2]["sdg_goals"] == "" and rows[2]["evidence"] == "{}"
    assert "8.7" in rows[0]["sdg_targets"].split(";") or "5.2" in rows[0]["sdg_targets"].split(";")


def test_xlsx_round_trip_and_mac_roman_csv(tmp_path):
    src, dst = tmp_path / "in.xlsx", tmp_path / "out.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["Text", "year"])
    for i, t in enumerate(TEXTS):
        ws.append([t or None, 2020 + i])
    ws["A3"].data_type = "s"  # text that looks like a formula (as when typed after an apostrophe), not a formula
    wb.save(src)
    r = run("classify", src, "--text-column", "Text", "--out", dst)
    assert r.exit_code == 0, r.output
    out = load_workbook(dst, read_only=True)
    rows = [list(v) for v in out.worksheets[0].iter_rows(values_only=True)]
    out.close()
    assert rows[0] == ["Text", "year", *RESULT_COLUMNS] and len(rows) == len(TEXTS) + 1
    assert [row[1] for row in rows[1:]] == [2020, 2021, 2022, 2023]  # numbers stay numbers
    assert rows[2][0] == TEXTS[1]  # as written, in a quote-prefixed text cell (not a formula):
    cell = load_workbook(dst).worksheets[0]["A3"]
    assert cell.data_type == "s" and cell.quotePrefix and cell.value == TEXTS[1]
    for row, text in zip(rows[1:], TEXTS):
        _check_row({k: ("" if v is None else v) for k, v in zip(rows[0], row)}, text)

    # the UPR Info export as users have it: Mac Roman, CR line ends; accents survive to UTF-8 CSV
    dst2 = tmp_path / "upr.csv"
    r = run("classify", SAMPLE, "--text-column", "Text", "--out", dst2, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["rows"] == 291
    with dst2.open(encoding="utf-8-sig", newline="") as fh:
        rows2 = list(csv.DictReader(fh))
    assert len(rows2) == 291 and any("Equité" in row["Text"] for row in rows2)
    assert sum(1 for row in rows2 if row["sdg_goals"]) > 200  # most recommendations get a goal


def _save_value(path, cell: str, text: str) -> None:
    """Give the formula in ``cell`` a saved text result, as Excel or LibreOffice write it (openpyxl saves none)."""
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    start = sheet.index(f'<c r="{cell}"')
    end = sheet.index("</c>", start)
    formula = sheet[sheet.index("<f>", start):sheet.index("</f>", start) + 4]
    parts["xl/worksheets/sheet1.xml"] = (sheet[:start] + f'<c r="{cell}" t="str">{formula}<v>{text}</v>'
                                         + sheet[end:]).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_a_formula_with_no_saved_value_is_copied_as_its_formula_and_not_classified(tmp_path, reader_client):
    src, dst = tmp_path / "in.xlsx", tmp_path / "out.csv"
    wb = Workbook()
    ws = wb.active
    ws.append(["Text", "note", "source"])
    ws.append([TEXTS[0], "=C2", "UPR 2010"])     # a copied cell: a formula with no saved value
    ws.append(["=C3", "kept", TEXTS[3]])          # the text: a formula with no saved value
    ws.append(["=C4", "saved", TEXTS[3]])         # the text: a formula whose value is saved (below)
    wb.save(src)
    _save_value(src, "A4", TEXTS[3])
    r = run("classify", src, "--text-column", "Text", "--out", dst)
    assert r.exit_code == 0, r.output
    assert ("warning: 1 text in 'Text' is a formula with no saved value (row 3): not classified, and the evidence "
            "column says why; 1 other cell is a formula with no saved value: copied as the formula (=…); open and "
            f"save the file in Excel or LibreOffice so its values are saved,{HINT_TAIL}") in " ".join(r.output.split())
    assert "3 rows (2 with text)" in r.output
    with dst.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    _check_row(rows[0], TEXTS[0])
    assert rows[0]["note"] == "'=C2"  # its formula, as text (neutralised), never an empty cell
    assert rows[1]["Text"] == "'=C3" and rows[1]["sdg_goals"] == rows[1]["themes"] == ""
    assert json.loads(rows[1]["evidence"]) == {"_not_classified": "the text is a formula with no saved value (=C3): "
                                               f"{UNSAVED_HINT}"}
    _check_row(rows[2], TEXTS[3])  # a saved value reads as before
    assert rows[2]["Text"] == TEXTS[3]
    r = run("classify", src, "--text-column", "Text", "--out", dst, "--json")
    counts = json.loads(r.stdout)
    assert (counts["unsaved_texts"], counts["unsaved_text_rows"], counts["unsaved_cells"]) == (1, [3], 2)
    # over HTTP: the same file back, the cells counted in a header
    r = reader_client.post("/classify/file", files={"file": ("in.xlsx", src.read_bytes())}, data={"text_column": "Text"})
    assert r.status_code == 200 and r.headers["X-Unsaved-Formulas"] == "2"
    assert list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))) == rows


def test_missing_text_column_is_a_clear_error(tmp_path):
    dst = tmp_path / "out.csv"
    r = run("classify", SAMPLE, "--text-column", "Recommendation", "--out", dst)
    assert r.exit_code == 2
    assert "Recommendation" in r.output and "'Text'" in r.output and "'Response'" in r.output
    assert SAMPLE.name in r.output and not dst.exists()
    r = run("classify", SAMPLE, "--out", dst)
    assert r.exit_code == 2 and "--text-column" in r.output
    r = run("classify", "--text", "x", "--all")
    assert r.exit_code == 2 and "exactly one" in r.output


def test_one_text_as_json_and_table():
    text = "Take measures to eliminate female genital mutilation."
    r = run("classify", "--text", text, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["model_version"] and data["labels"]
    assert all(lab["evidence"] for lab in data["labels"])
    assert [(lab["vocabulary"], lab["code"]) for lab in data["labels"]] == \
        [(lab.vocabulary, lab.code) for lab in classify_texts([text])[0].labels]
    r = run("classify", "--text", text)
    assert r.exit_code == 0 and "sdg_goal" in r.stdout and "evidence" in r.stdout


def test_classify_all_then_nothing_to_do(db_url):
    assert run("ingest", "upr", SAMPLE, "--db", db_url).exit_code == 0
    r = run("classify", "--all", "--json", "--db", db_url)
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)
    assert first["considered"] == first["classified"] == 291 and first["labels"] > 291
    r = run("classify", "--all", "--json", "--db", db_url)
    again = json.loads(r.stdout)
    assert again["classified"] == 0 and again["unchanged"] == 291
    r = run("classify", "--all", "--full", "--db", db_url)
    assert r.exit_code == 0 and "classified 291" in r.stdout


def test_evidence_too_long_for_an_xlsx_cell_keeps_methods_and_scores():
    (result,) = classify_texts([TEXTS[0]])
    full = result_cells(result)
    slim = result_cells(result, max_chars=200)
    assert {c: slim[c] for c in RESULT_COLUMNS if c != "evidence"} == {c: full[c] for c in RESULT_COLUMNS if c != "evidence"}
    slim_ev, full_ev = json.loads(slim["evidence"]), json.loads(full["evidence"])
    assert "_details_dropped" in slim_ev and len(slim["evidence"]) < len(full["evidence"])
    for code, entry in full_ev.items():
        assert [(e["method"], e["score"]) for e in entry["evidence"]] == \
            [(e["method"], e["score"]) for e in slim_ev[code]["evidence"]]


def test_max_goals_keeps_the_best_goals_only(tmp_path):
    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows([[i, t] for i, t in enumerate(TEXTS)])
    full, one = tmp_path / "full.csv", tmp_path / "one.csv"
    assert run("classify", src, "--text-column", "text", "--out", full).exit_code == 0
    r = run("classify", src, "--text-column", "text", "--out", one, "--max-goals", "1")
    assert r.exit_code == 0, r.output
    rows_full = list(csv.DictReader(full.open(encoding="utf-8-sig")))
    rows_one = list(csv.DictReader(one.open(encoding="utf-8-sig")))
    assert any(len(row["sdg_goals"].split(";")) > 1 for row in rows_full)  # the trafficking text: 5, 8 and 16
    for a, b in zip(rows_full, rows_one):
        goals = [g for g in b["sdg_goals"].split(";") if g]
        assert len(goals) <= 1 and set(goals) <= set(a["sdg_goals"].split(";"))
        scores = json.loads(a["sdg_scores"] or "{}")
        if goals:  # the kept goal is a best-scoring one, and its targets stay
            assert scores[goals[0]] == max(v for k, v in scores.items() if "." not in k)
        assert all(goal_of(t) in goals for t in b["sdg_targets"].split(";") if t)
    r = run("classify", "--text", TEXTS[0], "--max-goals", "1", "--json")
    assert r.exit_code == 0 and len([lab for lab in json.loads(r.stdout)["labels"]
                                     if lab["vocabulary"] == "sdg_goal"]) == 1
    r = run("classify", "--all", "--max-goals", "1")
    assert r.exit_code == 2 and "--max-goals" in r.output


def test_a_workbook_is_read_from_its_first_sheet_with_the_column(tmp_path, reader_client):
    """An instructions sheet in front: the sheet with the text column is read and named; none: the sheets listed."""
    src, dst = tmp_path / "book.xlsx", tmp_path / "out.csv"
    wb = Workbook()
    wb.active.title = "Read me"
    wb.active.append(["One text per row in the sheet Data."])
    wb.create_sheet("Empty")
    ws = wb.create_sheet("Data")
    ws.append(["id", "Text"])
    for i, text in enumerate((TEXTS[0], TEXTS[3]), start=1):
        ws.append([i, text])
    wb.create_sheet("Lists").append(["Text"])  # a later sheet with the column too: the first one wins
    wb.save(src)
    r = run("classify", src, "--text-column", "Text", "--out", dst)
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "2 rows (2 with text)" in said and "read from sheet 'Data'" in said
    assert "the sheet 'Lists' also has a column 'Text' and was not read (--sheet NAME reads one)" in said
    with dst.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row, text in zip(rows, (TEXTS[0], TEXTS[3]), strict=True):
        _check_row(row, text)
    r = run("classify", src, "--text-column", "Texts", "--out", dst)
    assert r.exit_code == 2
    assert ("book.xlsx: no sheet has the column 'Texts'; sheets: 'Read me' holds 'One text per row in the sheet "
            "Data.'; 'Empty' has no header row; 'Data' holds 'id', 'Text'; 'Lists' holds "
            "'Text'") in " ".join(r.output.split())
    r = reader_client.post("/classify/file", files={"file": ("book.xlsx", src.read_bytes())}, data={"text_column": "Text"})
    assert r.status_code == 200 and list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))) == rows
    assert r.headers["X-Sheet"] == "Data" and r.headers["X-Other-Sheets"] == "Lists"
    r = reader_client.post("/classify/file", files={"file": ("book.xlsx", src.read_bytes())},
                           data={"text_column": "Text", "sheet": "Lists"})
    assert r.status_code == 200 and r.headers["X-Sheet"] == "Lists" and "X-Other-Sheets" not in r.headers
    assert r.text.splitlines() == ["\ufeffText," + ",".join(RESULT_COLUMNS)]  # no data row; a BOM for Excel
    # the page's spreadsheet form: the sheet field; a file it cannot classify comes back as the page saying why
    r = reader_client.post("/classify-texts/file", files={"file": ("book.xlsx", src.read_bytes())},
                           data={"text_column": "Text", "sheet": "Lists", "format": "csv"})
    assert r.status_code == 200 and r.headers["X-Sheet"] == "Lists"
    r = reader_client.post("/classify-texts/file", files={"file": ("book.xlsx", src.read_bytes())},
                           data={"text_column": "text"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "no sheet has the column &#39;text&#39; (did you mean &#39;Text&#39; on sheet &#39;Data&#39;?)" in r.text
    assert 'id="text_column" name="text_column" type="text" value="text"' in r.text and 'id="file-error"' in r.text
    r = run("classify", src, "--text-column", "Text", "--out", dst, "--sheet", "Nope")
    assert r.exit_code == 2 and "no sheet named 'Nope'" in r.output
    r = run("classify", src, "--text-column", "text", "--out", dst, "--sheet", "Data")
    assert r.exit_code == 2 and "no column 'text' (did you mean 'Text'?)" in " ".join(r.output.split())
    r = run("classify", src, "--text-column", "Text", "--out", tmp_path / "out.txt")
    assert r.exit_code == 2 and "--out must end in .csv or .xlsx" in r.output
    r = reader_client.post("/classify/file", files={"file": ("book.xlsx", src.read_bytes())}, data={"text_column": "T"})
    assert r.status_code == 422 and "no sheet has the column 'T'" in r.text


def test_a_failed_run_leaves_no_half_written_table(tmp_path):
    """A CSV that breaks half way (Windows-1252 from its second row, as its \\xe9 says, but a byte that code page
    lacks on row 1,202, after two batches were written): the error says so, the earlier output file is as it was,
    no temporary file is left; a table written over its own input reads the whole input first."""
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_bytes(b"Text\ncaf\xe9 " + (TEXTS[0] + "\n").encode() * 1200 + b"bad \x81 byte\n"
                    + (TEXTS[3] + "\n").encode() * 10)
    dst.write_text("an earlier result\n", encoding="utf-8")
    r = run("classify", src, "--text-column", "Text", "--out", dst)
    assert r.exit_code != 0 and "not valid cp1252 text" in r.output, r.output
    assert dst.read_text(encoding="utf-8") == "an earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]
    for out in (dst, tmp_path / "out.xlsx"):  # no error: the file is there, the temporary one is gone
        assert run("classify", SAMPLE, "--text-column", "Text", "--out", out).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv", "out.xlsx"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "out.xlsx").stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain open() makes a new file
    dst.chmod(0o640)
    assert run("classify", SAMPLE, "--text-column", "Text", "--out", dst).exit_code == 0
    assert dst.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions
    # refused before any work: a missing folder, a folder; a symbolic link is written through
    (tmp_path / "folder.csv").mkdir()
    for out, said in ((tmp_path / "nope" / "o.csv", "no folder"), (tmp_path / "folder.csv", "is a folder")):
        r = run("classify", SAMPLE, "--text-column", "Text", "--out", out)
        assert r.exit_code == 2 and said in " ".join(r.output.split()), r.output
    (tmp_path / "link.csv").symlink_to(dst)
    dst.write_text("before\n", encoding="utf-8")
    assert run("classify", SAMPLE, "--text-column", "Text", "--out", tmp_path / "link.csv").exit_code == 0
    assert (tmp_path / "link.csv").is_symlink() and dst.read_bytes().startswith(b"\xef\xbb\xbfTo,")
    same = tmp_path / "same.csv"
    same.write_text("Text\n" + "\n".join([TEXTS[0], TEXTS[3]] * 2000) + "\n", encoding="utf-8")
    r = run("classify", same, "--text-column", "Text", "--out", same)
    assert r.exit_code == 0, r.output
    with same.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4000 and all(row["sdg_goals"] for row in rows)
