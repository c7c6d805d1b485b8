"""The country report workbook (issue #5) on real Kenya slices, both backends: sheets and headers, figures
that equal the gap and coverage tables, charts over cells of the workbook, formula safety, the CLI verbs
(report, gaps/funding --format xlsx) and LibreOffice converting the workbook to PDF."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections import defaultdict
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from cli.main import app
from matcher import coverage, funding, import_file
from matcher.linking import match_store
from matcher.models import FundingCell, Link
from matcher.report import FUNDING_COLUMNS, GAP_COLUMNS, LINK_COLUMNS, UNCOVERED_COLUMNS, code_label, write_report

from conftest import build_kenya

SHEETS = ["Summary", "Gaps by theme", "Gaps by goal", "Gaps by target", "Gaps by action", "Uncovered", "Links",
          "Funding", "Sources and method"]
HEADERS = {**{f"Gaps by {by}": GAP_COLUMNS for by in coverage.DIMENSIONS}, "Uncovered": UNCOVERED_COLUMNS,
           "Links": LINK_COLUMNS, "Funding": FUNDING_COLUMNS, "Sources and method": ["section", "name", "value", "note"]}
EVIL = [  # real-looking recommendations whose text a spreadsheet would run as a formula
    ('=HYPERLINK("http://evil.example","click") Strengthen shelters and legal aid for women victims of domestic '
     "violence", "accepted"),
    ("@SUM(1+1) Ratify the Optional Protocol to the Convention against Torture", "accepted"),
    ("+1 Consider abolishing the death penalty", "noted"),
]
runner = CliRunner()


@pytest.fixture(autouse=True)
def weak_links(monkeypatch):
    """The test slice holds few items: accept weak links so that CF and donor links both appear."""
    from matcher import settings as settings_mod

    monkeypatch.setenv("UPR_ALIGN_LINK_THRESHOLD", "0.05")
    settings_mod.get_settings.cache_clear()
    yield
    settings_mod.get_settings.cache_clear()


def add_evil(engine, tmp_path):
    """Ingest the EVIL rows through the generic CSV reader, from a file whose name is a formula too."""
    path = tmp_path / "=1+1.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["state_under_review", "text", "response", "session"])
        w.writerows([["Kenya", text, response, 8] for text, response in EVIL])
    assert import_file(engine, path, kind="upr").ok


def rows_of(ws) -> list[dict]:
    header = [c.value for c in ws[1]]
    return [dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True)]


def table_after(ws, first_header: str, nth: int = 0) -> list[list]:
    """Rows of the ``nth`` Summary table whose header row starts with ``first_header``, up to an empty row."""
    rows = list(ws.iter_rows(values_only=True))
    start = [k for k, r in enumerate(rows) if r[0] == first_header][nth] + 1
    out = []
    for r in rows[start:]:
        if r[0] is None:
            break
        out.append(list(r))
    return out


def assert_formula_free(wb):
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                    # kept as written, in a text cell with Excel's quote prefix: shown as text, never run
                    assert cell.data_type == "s" and cell.quotePrefix, (ws.title, cell.coordinate, cell.value)


def test_report_sheets_figures_charts_and_formula_safety(kenya, tmp_path):
    add_evil(kenya, tmp_path)
    match_store(kenya)
    path = tmp_path / "kenya.xlsx"
    with Session(kenya) as session:
        counts = write_report(session, "KEN", path)
        summary = {r: coverage.summary(session, "KEN", r) for r in ("accepted", "noted")}
        gaps = {by: {r: coverage.gaps(session, "KEN", by, r) for r in ("accepted", "noted")} for by in coverage.DIMENSIONS}
        uncovered = {r: coverage.uncovered(session, "KEN", r) for r in ("accepted", "noted")}
        live = set(session.execute(select(Link.id).where(Link.country == "KEN", Link.status != "rejected")).scalars())
        cells = session.execute(select(FundingCell).where(FundingCell.country == "KEN")).scalars().all()
        empty = write_report(session, "NOR", tmp_path / "norway.xlsx")  # a country never matched
    assert summary["accepted"]["recommendations"] == 146 and summary["noted"]["recommendations"] == 23

    wb = load_workbook(path)
    assert wb.sheetnames == SHEETS
    for name, header in HEADERS.items():
        ws = wb[name]
        assert [c.value for c in ws[1]] == header, name
        assert not ws.merged_cells.ranges and ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:"), name
        assert counts[name] == ws.max_row - 1, name
    assert not wb["Summary"].merged_cells.ranges

    # Summary: the coverage table is coverage.summary, the theme table the top of the accepted theme gaps
    ws = wb["Summary"]
    cov = {r[0]: r[1:5] for r in table_after(ws, "covered by")}
    for key, label in (("cf", "Cooperation Framework only"), ("donor", "donors only"), ("both", "both"),
                       ("none", "nothing (gap)")):
        a, n = summary["accepted"]["coverage"][key], summary["noted"]["coverage"][key]
        assert cov[label] == [a["recommendations"], n["recommendations"], a["clusters"], n["clusters"]], label
    assert cov["total"] == [summary["accepted"]["recommendations"], summary["noted"]["recommendations"],
                            summary["accepted"]["clusters"], summary["noted"]["clusters"]]
    top = [r for r in gaps["theme"]["accepted"] if r["uncovered"]][:15]
    assert [r[1:4] for r in table_after(ws, "theme")] == [[r["uncovered"], r["uncovered_clusters"], r["recommendations"]]
                                                          for r in top]
    cf_required = sum(float(c.attributed_usd or 0) for c in cells
                      if (c.dimension, c.item_type, c.kind, c.response) == ("goal", "cf_item", "required", "all"))
    cf_table = table_after(ws, "SDG goal")  # "(none: ...)" on these slices: the linked CF output has no money
    assert sum(r[1] for r in cf_table if isinstance(r[1], float)) == pytest.approx(cf_required, abs=0.05)
    donor = table_after(ws, "SDG goal", nth=1)
    assert len(ws._charts) == counts["charts"] >= 3
    for chart in ws._charts:  # every series and category range points at Summary cells holding the plotted data
        for series in chart.series:
            for ref, kind in ((series.val.numRef.f, (int, float)), (series.cat.strRef.f if series.cat.strRef else
                                                                     series.cat.numRef.f, (str, int, float))):
                sheet, rng = ref.rsplit("!", 1)
                assert sheet.strip("'") == "Summary"
                c0, r0, c1, r1 = range_boundaries(rng.replace("$", ""))
                values = [c.value for row in ws.iter_rows(min_row=r0, max_row=r1, min_col=c0, max_col=c1) for c in row]
                assert values and all(isinstance(v, kind) for v in values), (ref, values)

    # gap sheets: accepted rows then noted rows, each equal to coverage.gaps
    for by in coverage.DIMENSIONS:
        sheet = rows_of(wb[f"Gaps by {by}"])
        for response in ("accepted", "noted"):
            got = [{k: r[k] for k in GAP_COLUMNS if k != "label"} for r in sheet if r["response"] == response]
            assert got == [{k: g[k] for k in GAP_COLUMNS if k != "label"} for g in gaps[by][response]], (by, response)
        assert {r["response"] for r in sheet} == {"accepted", "noted"}
    # uncovered and links: the same recommendations and links as the store
    unc = rows_of(wb["Uncovered"])
    for response in ("accepted", "noted"):
        assert [r["recommendation_id"] for r in unc if r["response"] == response] == [u["id"] for u in uncovered[response]]
    assert len([r for r in unc if r["response"] == "accepted"]) == summary["accepted"]["coverage"]["none"]["recommendations"]
    links = rows_of(wb["Links"])
    assert {r["link_id"] for r in links} == live and all(r["explanation"] and 0 < r["score"] <= 1 for r in links)
    assert {r["source"] for r in links} == {"Cooperation Framework", "donor"} and all(r["item_title"] for r in links)
    # funding: both measures and both currency bases; reported-currency rows equal the cells to the cent
    fund = rows_of(wb["Funding"])
    assert {(r["measure"], r["currency_basis"]) for r in fund} == {
        ("attributed", "as reported"), ("touching", "as reported"), ("attributed", "USD at each fact's ECB rate"),
        ("touching", "USD at each fact's ECB rate")}
    for measure in ("attributed", "touching"):
        want = defaultdict(Decimal)
        for c in cells:
            want[(c.dimension, c.code, c.response, c.item_type, c.kind, c.year, c.currency)] += getattr(c, measure)
        got = {(r["dimension"], r["code"], r["response"], r["item_type"], r["kind"], r["year"], r["currency"]):
               r["amount"]
               for r in fund if r["measure"] == measure and r["currency_basis"] == "as reported"}
        assert set(got) == set(want)
        assert all(got[k] == pytest.approx(float(v), abs=0.005) for k, v in want.items())
    assert {r["response"] for r in fund} >= {"all", "accepted"}
    donor_usd = sum(r["amount"] for r in fund if r["dimension"] == "goal" and r["item_type"] == "activity"
                    and r["response"] == "all"
                    and r["kind"] == "budget" and r["measure"] == "attributed" and r["currency"] == "USD"
                    and r["currency_basis"] != "as reported")
    assert sum(r[1] for r in donor) == pytest.approx(donor_usd, abs=0.05)
    # sources and method: README's rules, settings in force, versions, every file with its terms
    method = rows_of(wb["Sources and method"])
    names = {(r["section"], r["name"]) for r in method}
    assert {("method", "Blocking"), ("method", "Score"), ("method", "Funding alignment"),
            ("settings", "UPR_ALIGN_LINK_THRESHOLD"), ("versions", "matcher (links of this country)")} <= names
    assert not any("DATABASE_URL" in r["name"] for r in method)
    files = {r["name"]: r["value"] for r in method if r["section"] == "sources"}
    assert set(files) == {"uprinfo_kenya_session8.csv", "uninfo_api_KEN_slice.json", "iati_dportal_covid_ke_slice.xml",
                          "=1+1.csv"}
    assert "IATI Registry" in files["iati_dportal_covid_ke_slice.xml"]

    # formula safety: no cell anywhere is a formula; the hostile texts are there, neutralised
    assert_formula_free(wb)
    texts = {c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for text, _ in EVIL:
        assert text in texts, text  # as written: no apostrophe added to the text
    # a country never matched: a workbook that says so, data sheets empty
    assert empty["Uncovered"] == empty["Links"] == empty["Funding"] == empty["charts"] == 0
    assert any("run `upr-align match` first" in str(c.value) for c in load_workbook(tmp_path / "norway.xlsx")["Summary"]["A"])


def run(*args: str):
    return runner.invoke(app, list(args))


def test_cli_report_and_xlsx_exports(kenya, db_url, tmp_path):
    assert run("match", "--db", db_url).exit_code == 0
    out = tmp_path / "KEN report.xlsx"
    r = run("report", "--country", "KEN", "--out", str(out), "--db", db_url)
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "Links" in r.output
    wb = load_workbook(out)
    assert wb.sheetnames == SHEETS and len(wb["Summary"]._charts) >= 3
    assert run("report", "--country", "Narnia", "--out", str(out), "--db", db_url).exit_code == 2
    r = run("report", "--country", "KEN", "--out", str(tmp_path / "missing" / "k.xlsx"), "--db", db_url)
    assert r.exit_code == 2 and "does not exist" in r.output

    with Session(kenya) as session:
        gaps = coverage.gaps(session, "KEN", "goal", "accepted")
        money = funding.funding(session, "KEN", by="theme", per_year=True)
        n_links = session.execute(select(func.count()).select_from(Link)).scalar_one()
    assert n_links > 0
    g = tmp_path / "gaps.xlsx"
    r = run("gaps", "--country", "KEN", "--by", "goal", "--format", "xlsx", "--out", str(g), "--db", db_url)
    assert r.exit_code == 0 and f"wrote {len(gaps)} rows" in r.output
    wb = load_workbook(g)
    ws = wb.worksheets[0]
    # the same columns as GET /exports/gaps.xlsx and the report's gap sheets, labels included
    assert [c.value for c in ws[1]] == GAP_COLUMNS
    assert [r["label"] for r in rows_of(ws)][:1] == [code_label("goal", gaps[0]["code"])]
    assert [(r["code"], r["uncovered"], r["recommendations"]) for r in rows_of(ws)] == \
        [(x["code"], x["uncovered"], x["recommendations"]) for x in gaps]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    assert_formula_free(wb)

    f = tmp_path / "funding.xlsx"
    r = run("funding", "--country", "KEN", "--by", "theme", "--format", "xlsx", "--out", str(f), "--db", db_url)
    assert r.exit_code == 0 and f"wrote {len(money)} rows" in r.output
    wb = load_workbook(f)
    sheet = rows_of(wb.worksheets[0])
    assert len(sheet) == len(money) and {r["measure"] for r in sheet} == {"attributed"}
    cols = funding.money_columns(money)
    assert cols and all(c in sheet[0] for c in cols)
    assert sum(r["donor_budget"] or 0 for r in sheet) == pytest.approx(float(sum(m.get("donor_budget", 0) for m in money)))
    assert_formula_free(wb)
    assert run("gaps", "--country", "KEN", "--format", "xlsx", "--db", db_url).exit_code == 2  # xlsx needs --out


@pytest.fixture
def soffice():
    """LibreOffice's soffice: the test skips without it, unless UPR_ALIGN_REQUIRE_SOFFICE=1 (CI) makes that a failure."""
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if os.environ.get("UPR_ALIGN_REQUIRE_SOFFICE") == "1":
            pytest.fail("UPR_ALIGN_REQUIRE_SOFFICE=1 but LibreOffice (soffice) is not on PATH")
        pytest.skip("LibreOffice (soffice) not installed: apt-get install libreoffice-calc-nogui to run this test")
    return found


@pytest.fixture
def kenya_sqlite(sqlite_engine):
    """The Kenya test store on SQLite only: the workbook does not depend on the backend, so it is converted once."""
    build_kenya(sqlite_engine)
    return sqlite_engine


def test_libreoffice_converts_the_report_to_pdf(soffice, kenya_sqlite, tmp_path):
    kenya = kenya_sqlite
    add_evil(kenya, tmp_path)
    match_store(kenya)
    xlsx = tmp_path / "kenya.xlsx"
    with Session(kenya) as session:
        write_report(session, "KEN", xlsx)
    out = tmp_path / "pdf"
    # a profile of its own: a second soffice sharing the default profile would hand the job to the first
    proc = subprocess.run([soffice, f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}", "--headless",
                           "--convert-to", "pdf", "--outdir", str(out), str(xlsx)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "error" not in proc.stderr.lower(), proc.stderr  # soffice may exit 0 after a failed conversion
    pdf = out / "kenya.pdf"
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
