"""Donor portfolio spreadsheets: the shipped template (CSV and XLSX), other headers via --map, bad input."""
from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select
from sqlmodel import Session

from matcher import Source, import_file, session_scope, stats
from matcher.amounts import AmountError, parse_amount
from matcher.models import Activity, ItemCountry, ItemTag, MoneyFact
from matcher.portfolio import PortfolioReader
from matcher.records import Batch
from matcher.xlsx import UNSAVED_HINT

from conftest import DATA

MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"
TEMPLATE = MAPPINGS / "donor_portfolio_template.csv"
TEMPLATE_XLSX = MAPPINGS / "donor_portfolio_template.xlsx"
OTHER = DATA / "donor_portfolio_other_headers.csv"
OTHER_MAP = {"Project No": "id", "Programme title": "title", "Country": "recipient_country",
             "DAC code": "dac_sector", "Flow type": "kind", "Year": "year", "Amount (EUR)": "amount",
             "Date": "value_date"}
OTHER_OPTIONS = {"map": OTHER_MAP, "defaults": {"currency": "EUR", "reporting_org": "XI-IATI-EC_INTPA"}}


# --------------------------------------------------------------------------- independent file readings
def _template_rows(path: Path = TEMPLATE) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _template_truth(rows):
    """(distinct programmes, {(kind, currency): sum}) computed straight from the CSV text."""
    ids = {(r["reporting_org"], r["id"]) for r in rows}
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        sums[(r["kind"], r["currency"])] += Decimal(r["amount"].replace(",", ""))  # the template writes 1,234.50
    return len(ids), dict(sums)


def _other_truth():
    with OTHER.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:  # this file writes amounts the continental way: 1.234.567,89
        sums[(r["Flow type"].lower(), "EUR")] += Decimal(r["Amount (EUR)"].replace(".", "").replace(",", "."))
    return len({r["Project No"] for r in rows}), len(rows), dict(sums)


def _stored_money(session_stats) -> dict[tuple[str, str], Decimal]:
    return {(m["kind"], m["currency"]): Decimal(str(m["amount"])).quantize(Decimal("0.01"))
            for m in session_stats["money"] if m["source_type"] == "donor"}


def _q(sums):
    return {k: v.quantize(Decimal("0.01")) for k, v in sums.items()}


def _write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, columns)
        w.writeheader()
        w.writerows({c: r.get(c, "") for c in columns} for r in rows)
    return path


def _stats():
    with session_scope() as s:
        return stats(s)


# --------------------------------------------------------------------------- the template
def test_template_ingests_with_sums_equal_to_the_file(engine):
    rows = _template_rows()
    programmes, sums = _template_truth(rows)
    summary = import_file(engine, TEMPLATE, kind="donor")
    assert summary.ok, summary.error
    assert summary.source_type == "donor"
    assert (summary.read, summary.inserted, summary.skipped) == (len(rows), programmes, 0)
    assert summary.problems == []
    st = _stats()
    assert st["activities"]["total"] == programmes
    assert _stored_money(st) == _q(sums)


def test_template_fields_countries_sectors_sdgs_and_usd(engine):
    import_file(engine, TEMPLATE, kind="donor")
    with Session(engine) as s:
        act = s.get(Activity, "donor:DAC-1601:INV-022009")
        assert act is not None and act.title.startswith("Assessing COVID policy impact")
        assert (act.reporting_org_ref, act.reporting_org_name) == ("DAC-1601", "Bill and Melinda Gates Foundation")
        assert str(act.start_date) == "2020-09-10" and act.status == "implementation"
        countries = s.execute(select(ItemCountry.iso3, ItemCountry.share_pct).where(ItemCountry.item_id == act.id)).all()
        assert sorted(countries) == [("KEN", 56.0), ("UGA", 44.0)]
        sectors = s.execute(select(ItemTag.code, ItemTag.share_pct).where(
            ItemTag.item_id == act.id, ItemTag.vocabulary == "dac5")).all()
        assert sorted(sectors) == [("12264", 33.0), ("15170", 67.0)]
        # SIDA row: targets imply their goals
        tags = s.execute(select(ItemTag.vocabulary, ItemTag.code, ItemTag.route).where(
            ItemTag.item_id == "donor:SE-0:11341A0101", ItemTag.vocabulary.in_(("sdg_goal", "sdg_target")))).all()
        assert {c for v, c, _ in tags if v == "sdg_target"} == {"16.2", "16.3", "16.6", "5.1", "5.2", "5.c"}
        assert {(c, r) for v, c, r in tags if v == "sdg_goal"} == {("16", "implied"), ("5", "implied")}
        # Denmark programme: rows 4, 5 and 15 (not adjacent) are one activity with three money facts
        dk = s.execute(select(MoneyFact.kind, MoneyFact.year, MoneyFact.amount).where(
            MoneyFact.item_id == "donor:XM-DAC-3-1:286209-34803")).all()
        assert sorted((k, y, int(a)) for k, y, a in dk) == [
            ("budget", 2021, 20000000), ("commitment", 2020, 20000000), ("disbursement", 2020, 10000000)]
        # XDR is not an ECB currency: kept, no USD, with the reason
        xdr = s.execute(select(MoneyFact).where(MoneyFact.currency == "XDR")).scalar_one()
        assert xdr.amount == Decimal("152861684.57") and xdr.amount_usd is None
        assert "not covered by the ECB" in xdr.no_usd_reason
        # no value date: the rate of 1 July of the year
        gbp = s.execute(select(MoneyFact).where(MoneyFact.currency == "GBP", MoneyFact.kind == "disbursement")).scalar_one()
        assert gbp.value_date is None and gbp.extra["rate_date"] == "2020-07-01" and gbp.amount_usd > gbp.amount
        eur = s.execute(select(MoneyFact).where(MoneyFact.currency == "EUR", MoneyFact.kind == "disbursement")).scalar_one()
        assert eur.extra["rate_date"] == "2020-05-28"
        assert eur.amount_usd == (Decimal("303416") * Decimal(repr(eur.usd_rate))).quantize(Decimal("0.01"))


def test_xlsx_template_reads_the_same_programmes(engine):
    rows = _template_rows()
    programmes, sums = _template_truth(rows)
    summary = import_file(engine, TEMPLATE_XLSX, kind="donor")
    assert summary.ok, summary.error
    assert (summary.read, summary.inserted, summary.skipped, summary.problems) == (len(rows), programmes, 0, [])
    assert _stored_money(_stats()) == _q(sums)
    # the CSV holds the same programmes: nothing changes
    again = import_file(engine, TEMPLATE, kind="donor")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, programmes)


def test_xlsx_with_a_title_block_above_the_header(engine, tmp_path):
    src = load_workbook(TEMPLATE_XLSX, read_only=True).worksheets[0]
    wb = Workbook()
    ws = wb.active
    ws.append(["Portfolio of programmes in Kenya (COVID-19 related)"])
    ws.append([])
    for values in src.iter_rows(values_only=True):
        ws.append(list(values))
    path = tmp_path / "titled.xlsx"
    wb.save(path)
    programmes, sums = _template_truth(_template_rows())
    summary = import_file(engine, path, kind="donor")
    assert summary.ok, summary.error
    assert summary.inserted == programmes and summary.problems == []
    with Session(engine) as s:
        act = s.get(Activity, "donor:XM-DAC-3-1:285957-34439")
        assert act.source_row == "4-5"  # spreadsheet rows, counted with the title block
    assert _stored_money(_stats()) == _q(sums)


def test_xlsx_amount_that_is_a_formula_with_no_saved_value_is_skipped_and_said(engine, tmp_path):
    # a portfolio a script wrote with openpyxl: its formulas have no saved value (Excel and LibreOffice save one)
    src = load_workbook(TEMPLATE_XLSX, read_only=True).worksheets[0]
    wb = Workbook()
    ws = wb.active
    for n, values in enumerate(src.iter_rows(values_only=True)):
        ws.append(list(values) + ["=ROW()" if n else "helper"])
    header = [c.value for c in ws[1]]
    amount = header.index("amount") + 1
    ws.cell(row=6, column=amount).value = "=404265*1"
    path = tmp_path / "script.xlsx"
    wb.save(path)
    summary = import_file(engine, path, kind="donor")
    assert summary.ok, summary.error
    rows = _template_rows()
    assert (summary.read, summary.skipped) == (len(rows), 1)
    letter = ws.cell(row=6, column=amount).column_letter
    assert [p for p in summary.problems if p["row"] == 6] == [
        {"row": 6, "field": "amount", "severity": "warning",
         "message": f"a formula with no saved value (=404265*1) in sheet 'Sheet', cell {letter}6: read as empty; "
                    f"{UNSAVED_HINT}"},
        {"row": 6, "field": "amount", "severity": "error", "message": "amount is empty"}]
    # the unused column of formulas is reported as unused, not cell by cell
    assert not [p for p in summary.problems if "formula" in p["message"] and p["row"] != 6]
    assert any("columns not used: helper" in p["message"] for p in summary.problems)
    programmes, sums = _template_truth([r for i, r in enumerate(rows) if i != 4])
    assert _stored_money(_stats()) == _q(sums)


def test_reingest_is_idempotent(engine):
    first = import_file(engine, TEMPLATE, kind="donor")
    before = _stats()
    again = import_file(engine, TEMPLATE, kind="donor")
    assert again.ok and (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    assert _stats() == before


def test_changed_amount_updates_only_that_programme(engine, tmp_path):
    import_file(engine, TEMPLATE, kind="donor")
    rows = _template_rows()
    rows[-1]["amount"] = "19000000"  # the Danish 2021 budget, last row of its programme
    changed = import_file(engine, _write_csv(tmp_path / "v2.csv", rows, list(rows[0])), kind="donor")
    assert (changed.inserted, changed.updated) == (0, 1)
    _, sums = _template_truth(rows)
    assert _stored_money(_stats()) == _q(sums)


def test_rows_are_grouped_in_any_order(engine, tmp_path):
    rows = _template_rows()
    reordered = rows[1::2] + rows[0::2]
    path = _write_csv(tmp_path / "shuffled.csv", reordered, list(rows[0]))
    summary = import_file(engine, path, kind="donor")
    programmes, sums = _template_truth(rows)
    assert summary.inserted == programmes and summary.skipped == 0
    assert _stored_money(_stats()) == _q(sums)


def test_sorted_input_is_streamed_one_programme_at_a_time():
    """The second pass hands each programme on at its last row: memory holds one programme, not the file."""
    rows = sorted(_template_rows(), key=lambda r: (r["reporting_org"], r["id"]))
    numbered = list(enumerate(rows, start=2))
    served = []

    def source():
        for line, row in numbered:
            served.append(line)
            yield line, row

    batch = Batch("donor", "activity", "sorted.csv", "0" * 64, records=())
    columns = {c: c for c in rows[0]}
    stream = PortfolioReader(batch, columns, {}).activities(source)
    first = next(stream)
    size_first = sum(1 for r in rows if (r["reporting_org"], r["id"]) == (rows[0]["reporting_org"], rows[0]["id"]))
    assert len(first.children["money_fact"]) == size_first
    assert len(served) == len(rows) + size_first  # pass 1 read everything; pass 2 only the first programme
    assert len(list(stream)) == len({(r["reporting_org"], r["id"]) for r in rows}) - 1


# --------------------------------------------------------------------------- other headers (--map)
def test_other_headers_with_map_and_defaults(engine):
    programmes, n_rows, sums = _other_truth()
    summary = import_file(engine, OTHER, kind="donor", fmt="donor", options=OTHER_OPTIONS)
    assert summary.ok, summary.error
    assert (summary.read, summary.inserted, summary.skipped) == (n_rows, programmes, 0)
    # 10.000 and 52.300 are ambiguous alone; the file's 3.992.368,80 proves ',' is its decimal separator
    assert _stored_money(_stats()) == _q(sums)
    warnings = [p["message"] for p in summary.problems]
    assert any("columns not used: Notes" in m for m in warnings)
    assert any("no column for description, sdg_targets, status" in m for m in warnings)
    with Session(engine) as s:
        act = s.get(Activity, "donor:XI-IATI-EC_INTPA:2020/419-006")
        facts = s.execute(select(MoneyFact.year, MoneyFact.amount).where(MoneyFact.item_id == act.id)).all()
        assert sorted((y, int(a)) for y, a in facts) == [(2020, 10000), (2020, 400000), (2021, 14625000)]


def test_map_given_as_cli_pairs(engine):
    pairs = [f"{k}={v}" for k, v in OTHER_MAP.items()]
    summary = import_file(engine, OTHER, fmt="donor", options={**OTHER_OPTIONS, "map": pairs})
    assert summary.ok and summary.inserted == _other_truth()[0]


def test_other_headers_are_not_sniffed_as_the_template(engine):
    from matcher.registry import readers

    assert readers("donor")["donor"].sniff(Source.of(TEMPLATE))
    assert readers("donor")["donor"].sniff(Source.of(TEMPLATE_XLSX))
    assert not readers("donor")["donor"].sniff(Source.of(OTHER))
    assert not readers("donor")["donor"].sniff(Source.of(DATA / "uprinfo_sample_macroman.csv"))
    assert not import_file(engine, OTHER, kind="donor").ok  # needs --map, so the format must be named


# --------------------------------------------------------------------------- bad input
def test_unmapped_required_field_is_fatal_and_names_it(engine):
    import_file(engine, TEMPLATE, kind="donor")
    before = _stats()
    summary = import_file(engine, OTHER, fmt="donor", options={"map": OTHER_MAP})  # no currency anywhere
    assert not summary.ok
    assert "missing required field(s): currency" in summary.error
    assert "found: Project No, Programme title" in summary.error
    assert summary.error.startswith("donor_portfolio_other_headers.csv, row 1, field 'currency'")
    assert _stats() == before


def test_missing_required_column_leaves_the_store_unchanged(engine, tmp_path):
    import_file(engine, TEMPLATE, kind="donor")
    before = _stats()
    rows = _template_rows()
    columns = [c for c in rows[0] if c != "year"]
    summary = import_file(engine, _write_csv(tmp_path / "no_year.csv", rows, columns), fmt="donor")
    assert not summary.ok
    assert "no_year.csv, row 1, field 'year'" in summary.error and "missing required field(s): year" in summary.error
    assert _stats() == before


@pytest.mark.parametrize("mapping, message", [
    ({"Project Number": "id"}, "the file has no column 'Project Number'"),
    ({"Project No": "project"}, "unknown field 'project'"),
    ({"Project No": "id", "Notes": "id"}, "both map to field 'id'"),
])
def test_bad_map_is_fatal(engine, mapping, message):
    summary = import_file(engine, OTHER, fmt="donor", options={**OTHER_OPTIONS, "map": {**OTHER_MAP, **mapping}})
    assert not summary.ok and message in summary.error
    assert _stats()["activities"]["total"] == 0


def test_non_numeric_amount_skips_that_row_and_counts_it(engine, tmp_path):
    rows = _template_rows()
    rows[4]["amount"] = "n/a"  # spreadsheet row 6: the FCDO commitment
    path = _write_csv(tmp_path / "bad_amount.csv", rows, list(rows[0]))
    summary = import_file(engine, path, kind="donor")
    assert summary.ok
    assert (summary.read, summary.skipped) == (len(rows), 1)
    errors = [p for p in summary.problems if p["severity"] == "error"]
    assert errors == [{"row": 6, "field": "amount", "severity": "error",
                       "message": "amount 'n/a' is not a number (digits with '.' or ',' only; put the currency "
                                  "in the currency column)"}]
    programmes, sums = _template_truth([r for r in rows if r["amount"] != "n/a"])
    assert summary.inserted == programmes  # the FCDO programme stays, with its other row
    assert _stored_money(_stats()) == _q(sums)


def test_row_problems_unknown_kind_year_currency_ambiguous_amount(engine, tmp_path):
    rows = _template_rows()
    rows[0]["kind"] = "grant"
    rows[1]["year"] = "2020/21"
    rows[2]["currency"] = "€"
    rows[6]["amount"] = "913,039"  # alone it could be 913.039 -- but the file's 1,726,042.53 settles it
    rows[7]["amount"] = "-404265"
    path = _write_csv(tmp_path / "rows.csv", rows, list(rows[0]))
    summary = import_file(engine, path, kind="donor")
    skipped = {(p["row"], p["field"]) for p in summary.problems if p["severity"] == "error"}
    assert skipped == {(2, "kind"), (3, "year"), (4, "currency")}
    assert summary.skipped == 3
    assert summary.inserted == _template_truth(rows)[0] - 1  # 285957-34439 had only rows 2 and 3
    neg = [p for p in summary.problems if p["row"] == 9]
    assert neg and neg[0]["severity"] == "warning" and "negative" in neg[0]["message"]
    with Session(engine) as s:
        fact = s.execute(select(MoneyFact).where(MoneyFact.kind == "budget", MoneyFact.currency == "USD")).scalar_one()
        assert fact.amount == Decimal("-404265") and fact.is_negative
        assert s.execute(select(MoneyFact.amount).where(MoneyFact.extra["row"].as_integer() == 8)).scalar_one() == 913039


def test_ambiguous_amount_without_evidence_is_refused(engine, tmp_path):
    rows = [r for r in _template_rows() if r["reporting_org"] == "XM-DAC-3-1"]
    rows[0]["amount"] = "20.000"
    path = _write_csv(tmp_path / "dk.csv", rows, list(rows[0]))
    summary = import_file(engine, path, kind="donor")
    assert summary.skipped == 1
    assert summary.problems[0]["row"] == 2 and "ambiguous" in summary.problems[0]["message"]
    told = import_file(engine, path, kind="donor", options={"decimal": ","})
    assert told.skipped == 0 and told.updated == 1


def test_countries_unknown_group_and_comma_list(engine, tmp_path):
    rows = _template_rows()
    rows[0]["recipient_country"] = rows[1]["recipient_country"] = "Atlantis"
    for r in rows:
        if r["id"] == "286209-34803":
            r["recipient_country"] = "Kenya, Uganda, Tanzania"
        if r["id"] == "300143-104":
            r["recipient_country"] = "the Caribbean"
    summary = import_file(engine, _write_csv(tmp_path / "c.csv", rows, list(rows[0])), kind="donor")
    assert summary.ok and summary.skipped == 0
    warn = [p for p in summary.problems if p["field"] == "recipient_country"]
    assert [(p["row"], p["severity"]) for p in warn] == [(2, "warning")] and "Atlantis" in warn[0]["message"]
    with Session(engine) as s:
        def countries(item):
            return sorted((c.iso3 or "", c.group_name or "") for c in
                          s.execute(select(ItemCountry).where(ItemCountry.item_id == item)).scalars())
        assert countries("donor:XM-DAC-3-1:285957-34439") == [("", "")]  # kept by name, never guessed
        assert countries("donor:XM-DAC-3-1:286209-34803") == [("KEN", ""), ("TZA", ""), ("UGA", "")]
        caribbean = countries("donor:GB-GOV-1:300143-104")
        assert len(caribbean) == 13 and {g for _, g in caribbean} == {"the Caribbean"}


def test_conflicting_programme_values_keep_the_first(engine, tmp_path):
    rows = _template_rows()
    rows[1]["title"] = "Another title"
    summary = import_file(engine, _write_csv(tmp_path / "t.csv", rows, list(rows[0])), kind="donor")
    assert [(p["row"], p["field"]) for p in summary.problems] == [(3, "title")]
    with Session(engine) as s:
        assert s.get(Activity, "donor:XM-DAC-3-1:285957-34439").title.startswith("Cash assistance")


# --------------------------------------------------------------------------- the amount rule
@pytest.mark.parametrize("text, decimal, expected", [
    ("1234.50", None, "1234.50"), ("1,234.50", None, "1234.50"), ("1.234,50", None, "1234.50"),
    ("1 234,50", None, "1234.50"), ("1\u00a0234.50", None, "1234.50"), ("1'234.50", None, "1234.50"),
    ("1,234,567", None, "1234567"), ("1.234.567", None, "1234567"), ("1234,5", None, "1234.5"),
    ("0,125", None, "0.125"), ("-1,234.50", None, "-1234.50"), ("(2,000.00)", None, "-2000.00"),
    ("1,234", ".", "1234"), ("1,234", ",", "1.234"), ("250.000", ",", "250000"), (1726042.53, None, "1726042.53"),
    (20000000, None, "20000000"),
])
def test_amount_rule(text, decimal, expected):
    assert parse_amount(text, decimal=decimal) == Decimal(expected)
    assert str(parse_amount(text, decimal=decimal)) == expected


@pytest.mark.parametrize("text", ["1,234", "250.000", "n/a", "EUR 100", "1,2,3", "12 34", "", "1e5"])
def test_amount_rule_refuses(text):
    with pytest.raises(AmountError):
        parse_amount(text)
