"""The CLI as users run it (Typer's runner), on every backend."""
from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from cli.main import app

from conftest import DATA

runner = CliRunner()
SAMPLE = DATA / "uprinfo_sample_macroman.csv"


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_ingest_json_summary_and_stats(db_url):
    r = run("ingest", "upr", str(SAMPLE), "--json", "--db", db_url)
    assert r.exit_code == 0, r.output
    (summary,) = json.loads(r.stdout)
    assert set(summary) >= {"file", "source_type", "read", "inserted", "updated", "unchanged", "skipped", "problems"}
    assert summary["file"] == SAMPLE.name and summary["source_type"] == "uprinfo"
    assert summary["inserted"] == summary["read"] == 291
    assert all(set(p) >= {"row", "field", "message"} for p in summary["problems"])

    st = json.loads(run("stats", "--json", "--db", db_url).stdout)
    assert st["recommendations"]["total"] == 291
    assert st["recommendations"]["by_response"] == {"accepted": 245, "noted": 46}
    assert st["cf_items"] == {"total": 0} and st["activities"] == {"total": 0} and st["money"] == []


def test_failed_file_gives_nonzero_exit_and_names_it(db_url, tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"To,To-Rgrp,Text,From\rKenya,Africa,Text,Norway\r")
    r = run("ingest", "upr", str(SAMPLE), str(bad), "--db", db_url)
    assert r.exit_code == 1
    assert "broken.csv" in r.output and "Response" in r.output
    st = json.loads(run("stats", "--json", "--db", db_url).stdout)
    assert st["recommendations"]["total"] == 291  # the good file landed, the bad one did not


def test_recommendations_filters_and_formats(db_url):
    assert run("ingest", "upr", str(SAMPLE), "--db", db_url).exit_code == 0
    r = run("recommendations", "--country", "Kenya", "--response", "accepted", "--theme", "Women's rights",
            "--format", "json", "--limit", "0", "--db", db_url)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["count"] == len(data["data"]) > 0
    assert all(d["state_under_review"] == "KEN" and d["response"] == "accepted" for d in data["data"])
    assert all(any(t["id"] == "women-s-rights" for t in d["themes"]) for d in data["data"])

    r = run("recommendations", "--country", "KEN", "--q", "Death Penalty", "--format", "csv", "--limit", "0", "--db", db_url)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and all("death penalty" in row["text"].lower() for row in rows)

    r = run("recommendations", "--country", "Narnia", "--db", db_url)
    assert r.exit_code == 2 and "unknown country 'Narnia'" in r.output


def test_csv_output_neutralises_formulas(db_url, tmp_path):
    evil = tmp_path / "evil.csv"
    evil.write_bytes(b"To,To-Rgrp,To-Org,Text,From,From-Rgrp,From-Org,Response,Action,Issue,Session\r"
                     b'Kenya,Africa,AU,"=HYPERLINK(""http://x"",""y"") Ratify",Norway,WEOG,,Accepted,5,Justice,8\r')
    assert run("ingest", "upr", str(evil), "--db", db_url).exit_code == 0
    r = run("recommendations", "--format", "csv", "--db", db_url)
    row = next(csv.DictReader(io.StringIO(r.stdout)))
    assert row["text"].startswith("'=HYPERLINK")


def test_db_command_reports_revision(db_url):
    assert run("db", "--upgrade", "--db", db_url).exit_code == 0  # creates the database
    r = run("db", "--db", db_url)
    assert r.exit_code == 0 and "schema revision" in r.output


def test_read_only_commands_never_create_a_database(tmp_path):
    missing = tmp_path / "typo.db"
    for args in (["stats"], ["recommendations"], ["cf-items"], ["activities"], ["db"]):
        r = run(*args, "--db", f"sqlite:///{missing}")
        assert r.exit_code == 2 and "no database at" in r.output
    assert not missing.exists()


def test_after_the_demo_read_commands_use_the_demo_store(tmp_path, monkeypatch):
    """`upr-align demo` then `upr-align stats` (no --db, no store of one's own): the demo store is read, never a
    new empty upr-align.db created."""
    from matcher import settings as settings_mod

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPR_ALIGN_DATABASE_URL", raising=False)
    settings_mod.get_settings.cache_clear()
    demo = tmp_path / "upr-align-demo.db"
    assert run("ingest", "upr", str(SAMPLE), "--db", f"sqlite:///{demo}").exit_code == 0
    monkeypatch.delenv("UPR_ALIGN_DATABASE_URL", raising=False)  # --db above set it for the process
    settings_mod.get_settings.cache_clear()
    r = run("stats", "--json")
    assert r.exit_code == 0, r.output
    assert "using the demo store upr-align-demo.db" in r.stderr
    assert json.loads(r.stdout)["recommendations"]["total"] == 291
    assert not (tmp_path / "upr-align.db").exists()
    settings_mod.get_settings.cache_clear()


def test_invalid_filter_values_are_errors_not_empty_results(db_url):
    assert run("ingest", "upr", str(SAMPLE), "--db", db_url).exit_code == 0
    for args, words in ((["recommendations", "--country", "XYZ"], "unknown country 'XYZ'"),
                        (["recommendations", "--response", "supported"], "unknown response 'supported'"),
                        (["cf-items", "--level", "Output"], "unknown level 'Output'"),
                        (["activities", "--sdg", "foo"], "'foo' is not an SDG goal")):
        r = run(*args, "--db", db_url)
        assert r.exit_code == 2 and words in r.output, (args, r.output)


def test_file_of_another_family_names_the_right_command(db_url):
    r = run("ingest", "upr", str(DATA / "iati_official_example_v203.xml"), "--db", db_url)
    assert r.exit_code == 1 and "upr-align ingest iati" in r.output


def test_demo_runs_the_main_job_on_the_bundled_data(tmp_path):
    from openpyxl import load_workbook

    report = tmp_path / "kenya.xlsx"
    r = run("demo", "--db", f"sqlite:///{tmp_path / 'demo.db'}", "--report", str(report))
    assert r.exit_code == 0, r.output
    # every bundled file loads: 166 recommendations, the Kenya CF tree, the Africa education export, 307 activities
    assert "inserted 166" in r.output and "read 307, inserted 307" in r.output
    assert r.output.count("inserted") == 4
    out = " ".join(r.output.split())
    assert "full match: 1 countries, 166 recommendations" in out
    assert "Kenya, accepted recommendations: 144" in out and "Kenya, noted recommendations: 22" in out
    assert "largest gaps" in out and "money attributed to Kenya" in out
    assert "report:" in out and load_workbook(report).sheetnames[0] == "Summary"


def test_tables_never_cut_numbers_on_a_narrow_terminal():
    from rich.console import Console

    from cli.main import number_table

    cols = ["code", "recommendations", "uncovered_clusters", "cf_required_money_in_usd", "donor_disbursement"]
    cells = [["technical-assistance-and-cooperation", "35", "19", "322,664,695.00", "22,923,854.01"]]
    console = Console(width=60, record=True, file=io.StringIO())
    console.print(number_table(cols, cells), crop=False)
    text = console.export_text()
    assert "322,664,695.00" in text and "22,923,854.01" in text and "…" not in text
    assert "technical" in text  # the text column wraps, it does not vanish


def test_serve_says_which_store_it_serves(tmp_path, monkeypatch):
    """No store of one's own: the demo store when `upr-align demo` made one here, else an empty store, said so."""
    import shutil
    import sys
    import types

    from matcher import settings as settings_mod

    served = []
    monkeypatch.setitem(sys.modules, "uvicorn", types.SimpleNamespace(run=lambda *a, **k: served.append(k)))
    monkeypatch.setenv("UPR_ALIGN_DATABASE_URL", "")  # recorded, so that what serve sets is undone afterwards
    monkeypatch.delenv("UPR_ALIGN_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    settings_mod.get_settings.cache_clear()
    try:
        r = run("serve", "--port", "8765")
        assert r.exit_code == 0, r.output
        assert "no store at upr-align.db yet: starting an empty one" in " ".join(r.output.split()) and served
        shutil.move(tmp_path / "upr-align.db", tmp_path / "upr-align-demo.db")  # as if `upr-align demo` had run
        r = run("serve", "--port", "8765")
        assert "serving the demo store upr-align-demo.db" in " ".join(r.output.split()) and len(served) == 2
    finally:
        settings_mod.get_settings.cache_clear()
