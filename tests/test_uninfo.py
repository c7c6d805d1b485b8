"""UN INFO Cooperation Framework ingest (JWP exports XLSX/CSV, API country tree) on real slices, every backend."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

from matcher import Source, import_file, stats
from matcher.cooperation import normalise_marker, parse_sdg_goals, parse_sdg_targets
from matcher.models import CFItem, ItemCountry, ItemTag, MoneyFact

from conftest import DATA

XLSX = DATA / "uninfo_jwp_africa_slice.xlsx"
CSV = DATA / "uninfo_jwp_arab_states_slice.csv"
KEN = DATA / "uninfo_api_KEN_slice.json"
YEARLY = re.compile(r"^(\d{4}) (Required|Available|Expenditure)$")


# --------------------------------------------------------------------------- independent expectations
def _frame(path) -> pd.DataFrame:
    if path.suffix == ".xlsx":
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
        wb.close()
        return pd.DataFrame([r for r in rows[1:] if any(v is not None for v in r)], columns=rows[0], dtype=object)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _expected(path) -> tuple[int, dict[str, float]]:
    """(rows, {kind: USD sum of the yearly columns}) straight from the file."""
    df = _frame(path)
    sums: dict[str, Decimal] = {}
    for col in df.columns:
        m = YEARLY.match(str(col))
        if m:
            kind = m.group(2).lower()
            for v in df[col]:
                if v not in (None, "", "-"):
                    sums[kind] = sums.get(kind, Decimal(0)) + Decimal(repr(v) if isinstance(v, float) else str(v))
    return len(df), {k: float(v.quantize(Decimal("0.01"))) for k, v in sums.items()}


def _money(engine, source_type="uninfo") -> dict[str, float]:
    with Session(engine) as s:
        return {m["kind"]: m["amount"] for m in stats(s)["money"] if m["source_type"] == source_type and m["currency"] == "USD"}


def _count(engine, stmt) -> int:
    with Session(engine) as s:
        return s.execute(stmt).one()[0]


def _subs(engine) -> int:
    return _count(engine, select(func.count()).select_from(CFItem).where(CFItem.level == "sub_output"))


def _rewrite_csv(edit) -> bytes:
    """The CSV slice with ``edit(header, rows)`` applied, written the way the export writes it."""
    rows = list(csv.reader(io.StringIO(CSV.read_bytes().decode("utf-8"), newline="")))
    edit(rows[0], rows[1:])
    buf = io.StringIO(newline="")
    csv.writer(buf, quoting=csv.QUOTE_ALL).writerows(rows)
    return buf.getvalue().encode("utf-8")


def _snapshot(engine) -> tuple:
    with Session(engine) as s:
        st = stats(s)
        tags = s.execute(select(func.count()).select_from(ItemTag)).one()[0]
    return st["cf_items"]["total"], tags, json.dumps(st["money"], sort_keys=True)


# --------------------------------------------------------------------------- per file: items and money
@pytest.mark.parametrize("path", [XLSX, CSV], ids=["xlsx", "csv"])
def test_every_row_is_a_sub_output_and_money_adds_up(engine, path):
    rows, sums = _expected(path)
    summary = import_file(engine, path, kind="cf")
    assert summary.ok, summary.error
    assert summary.source_type == "uninfo-jwp"
    assert (summary.read, summary.skipped) == (rows, 0)
    assert _subs(engine) == rows
    assert _money(engine) == sums
    with Session(engine) as s:
        levels = dict(s.execute(select(CFItem.level, func.count()).group_by(CFItem.level)).all())
        orphans = s.execute(select(func.count()).select_from(CFItem).where(
            CFItem.level != "plan", CFItem.parent_id.not_in(select(CFItem.id)))).one()[0]
        facts = s.execute(select(MoneyFact.currency, MoneyFact.usd_rate, func.count()).group_by(
            MoneyFact.currency, MoneyFact.usd_rate)).all()
    assert set(levels) == {"plan", "strategic_priority", "outcome", "output", "sub_output"}
    assert summary.inserted == sum(levels.values())
    assert orphans == 0
    assert [(c, r) for c, r, _ in facts] == [("USD", 1.0)]


def test_api_tree_groups_agency_entries_and_money_adds_up(engine):
    doc = json.loads(KEN.read_text())
    summary = import_file(engine, KEN, kind="cf")
    assert summary.ok, summary.error
    assert summary.source_type == "uninfo-api"
    ids = {p["id"] for p in doc["projects"]}
    assert summary.read == len(doc["projects"]) == 41 and len(ids) == 11
    assert _subs(engine) == len(ids)
    expected = {kind: float(sum(Decimal(str(p[key])) for p in doc["projects"]))
                for key, kind in (("required", "required"), ("available", "available"), ("spent", "expenditure"))}
    assert _money(engine, "uninfo-api") == expected
    # the slice's totals are its strategic priority's: they agree with the sub-outputs, so no totals warning
    assert not [p for p in summary.problems if p["field"] == "totals"]
    with Session(engine) as s:
        sub = s.get(CFItem, "uninfo-api-91856") or s.execute(select(CFItem).where(CFItem.level == "sub_output")).scalars().first()
        parent = s.get(CFItem, sub.parent_id)
        assert parent.level == "output" and sub.code.startswith(parent.code)
        assert sub.country == "KEN" and sub.start_date is not None
        rollups = s.execute(select(func.count()).select_from(MoneyFact).where(MoneyFact.counted.is_(False))).one()[0]
    assert rollups == 3 * (1 + 1 + 1 + 2)  # plan totals, SP, outcome, 2 outputs: kept, never summed


def test_api_totals_mismatch_is_reported(engine):
    doc = json.loads(KEN.read_text())
    doc["totals"]["required"] += 0.01
    summary = import_file(engine, json.dumps(doc).encode(), kind="cf", name="ken.json")
    assert summary.ok
    [p] = [p for p in summary.problems if p["field"] == "totals"]
    assert "Total required" in p["message"] and "by 0.01" in p["message"]


# --------------------------------------------------------------------------- what never reaches the store
def test_focal_users_never_reach_the_store(engine):
    assert any(v not in (None, "-") for v in _frame(XLSX)["Focal users"])  # the slice has real (redacted) values
    marked = _rewrite_csv(lambda h, rows: [r.__setitem__(h.index("Focal users"), "Jane Example") for r in rows])
    assert import_file(engine, XLSX, kind="cf").ok
    assert import_file(engine, marked, kind="cf", name="arab.csv").ok
    with Session(engine) as s:
        for table in SQLModel.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                text = json.dumps([str(v) for v in row], ensure_ascii=False)
                assert "Jane Example" not in text and "[redacted]" not in text and "Focal users" not in text, table.name


# --------------------------------------------------------------------------- fields
def test_sdg_targets_with_commas_are_parsed_by_code(engine):
    import_file(engine, CSV, kind="cf")
    with Session(engine) as s:
        tags = s.execute(select(ItemTag.vocabulary, ItemTag.code, ItemTag.label, ItemTag.route)
                         .where(ItemTag.item_id == "uninfo-so-95547", ItemTag.vocabulary.like("sdg_%"))).all()
    assert sorted((v, c) for v, c, _, _ in tags) == [("sdg_goal", "11"), ("sdg_goal", "4"),
                                                    ("sdg_target", "11.1"), ("sdg_target", "4.a")]
    labels = {c: label for _, c, label, _ in tags}
    assert labels["11.1"] == "By 2030, ensure access for all to adequate, safe and affordable housing and basic " \
                             "services and upgrade slums."
    assert labels["4"] == "Quality Education"
    assert {r for *_, r in tags} == {"uninfo"}


def test_sdg_parsing_separators_quotes_and_fallback():
    assert [c for c, _ in parse_sdg_targets("'4.1 By 2030, ensure that all girls; boys;4.a Build and upgrade, "
                                            "safe;17.18 By 2020, enhance")] == ["4.1", "4.a", "17.18"]
    assert parse_sdg_targets("By 2030, 100,000 people") == []
    assert parse_sdg_goals("5 Gender Equality; 9 Industry, Innovation and Infrastructure") == [
        ("5", "Gender Equality"), ("9", "Industry, Innovation and Infrastructure")]
    assert parse_sdg_goals("3 Good Health and Well-being, 16 Peace and Justice - Strong Institutions") == [
        ("3", "Good Health and Well-being"), ("16", "Peace and Justice - Strong Institutions")]


def test_markers_with_both_apostrophes_are_one_label(engine):
    curly = normalise_marker("gender", "2 - Gender equality/ women’s empowerment is a significant objective")
    straight = normalise_marker("gender", "2 - Gender equality/women's empowerment is a significant objective")
    assert curly == straight == {"marker": "gender", "code": "2",
                                 "label": "Gender equality/women's empowerment is a significant objective"}
    import_file(engine, XLSX, kind="cf")
    import_file(engine, CSV, kind="cf")
    with Session(engine) as s:
        labels = s.execute(select(ItemTag.label).where(ItemTag.vocabulary == "uninfo_marker",
                                                       ItemTag.code == "gender:2").distinct()).scalars().all()
        sub = s.get(CFItem, "uninfo-so-95547")
    assert labels == ["Gender equality/women's empowerment is a significant objective"]
    assert sub.markers == [  # humanitarian and sustaining peace are "-" (empty) on this row
        {"marker": "gender", "code": "1", "label": "Contributes to gender equality/women's empowerment in a limited way"},
        {"marker": "human_rights", "code": "2", "label": "Significant contribution to realization of human rights"}]
    assert sub.agencies == [{"abbreviation": "UNRWA", "name": "The United Nations Relief and Works Agency for "
                             "Palestine Refugees in the Near East"}]
    assert "Syria Humanitarian Fund" in sub.partners_contributing and len(sub.partners_contributing) == 7
    assert (sub.country, sub.status, str(sub.start_date)) == ("SYR", "Implementation", "2025-01-01")


def test_unesco_name_with_comma_stays_whole_and_pairs(engine):
    import_file(engine, CSV, kind="cf")
    with Session(engine) as s:
        subs = s.execute(select(CFItem).where(CFItem.level == "sub_output")).scalars().all()
    names = [a["name"] for sub in subs for a in sub.agencies]
    assert "Scientific and Cultural Organisation" not in names
    assert all(a["abbreviation"] and a["name"] for sub in subs for a in sub.agencies)


def test_text_repairs_mojibake_and_quotes_and_reports_damage(engine):
    summary = import_file(engine, XLSX, kind="cf")
    with Session(engine) as s:
        texts = " ".join(filter(None, (t for row in s.execute(select(CFItem.title, CFItem.description)).all()
                                       for t in row)))
    assert "pédagogiques" in texts and "√©" not in texts and "‚Äô" not in texts and "_x000D_" not in texts
    assert any("mis-decoded" in p["message"] for p in summary.problems)
    assert any("cannot be repaired" in p["message"] and p["field"] == "Implementation partners"
               for p in summary.problems)


def test_multi_country_office_reaches_every_member(engine):
    office = "Barbados and the Eastern Caribbean"
    data = _rewrite_csv(lambda h, rows: rows[0].__setitem__(h.index("Country"), office))
    summary = import_file(engine, data, kind="cf", name="mco.csv")
    assert summary.ok and summary.read == _expected(CSV)[0]
    with Session(engine) as s:
        sub = s.get(CFItem, "uninfo-so-95547")
        members = s.execute(select(ItemCountry.iso3, ItemCountry.group_name).where(
            ItemCountry.item_id == sub.id)).all()
        plan = s.execute(select(CFItem).where(CFItem.level == "plan", CFItem.country_group == office)).scalar_one()
    assert (sub.country, sub.country_group) == (None, office)
    assert sorted(m for m, _ in members) == sorted("ATG BRB DMA GRD KNA LCA VCT AIA MSR VGB".split())
    assert {g for _, g in members} == {office}
    assert plan.country is None


# --------------------------------------------------------------------------- money oddities
def test_totals_negative_and_available_above_required_are_warned_and_kept(engine):
    def edit(h, rows):
        rows[0][h.index("Total required resources")] = "1"
        rows[1][h.index("2024 Expenditure")] = "-500"
    summary = import_file(engine, _rewrite_csv(edit), kind="cf", name="odd.csv")
    assert summary.ok
    msgs = [(p["row"], p["field"], p["message"]) for p in summary.problems]
    assert any(r == 2 and f == "Total" and "Total required 1 differs" in m for r, f, m in msgs)
    assert any(r == 3 and f == "2024 Expenditure" and "negative" in m for r, f, m in msgs)
    assert any("exceeds required" in m for *_, m in msgs)
    with Session(engine) as s:
        neg = s.execute(select(MoneyFact).where(MoneyFact.is_negative.is_(True))).scalars().all()
    assert [(f.amount, f.year, f.kind) for f in neg] == [(Decimal("-500"), 2024, "expenditure")]


# --------------------------------------------------------------------------- idempotence and bad input
@pytest.mark.parametrize("path", [XLSX, CSV, KEN], ids=["xlsx", "csv", "json"])
def test_reingest_is_idempotent(engine, path):
    first = import_file(engine, path, kind="cf")
    before = _snapshot(engine)
    again = import_file(engine, path, kind="cf")
    assert again.ok and (again.inserted, again.updated) == (0, 0)
    assert again.unchanged == first.inserted
    assert _snapshot(engine) == before


@pytest.mark.parametrize("column", ["Sub-Output", "ID"])
def test_missing_required_column_is_fatal_and_writes_nothing(engine, column):
    import_file(engine, XLSX, kind="cf")
    before = _snapshot(engine)

    def drop(h, rows):
        i = h.index(column)
        for r in [h] + rows:
            del r[i]
    summary = import_file(engine, _rewrite_csv(drop), kind="cf", fmt="uninfo-jwp", name="broken.csv")
    assert not summary.ok
    assert "broken.csv" in summary.error and f"missing required column(s): {column}" in summary.error
    assert summary.problems[0]["row"] == 1
    assert _snapshot(engine) == before


def test_workbook_damaged_mid_sheet_is_fatal_and_writes_nothing(engine):
    # the sheet XML stops two thirds in: rows were already read (in the background reader) when it fails
    import_file(engine, CSV, kind="cf")
    before = _snapshot(engine)
    out = io.BytesIO()
    with zipfile.ZipFile(XLSX) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            dst.writestr(item, body[: len(body) * 2 // 3] if item.filename.endswith("sheet1.xml") else body)
    summary = import_file(engine, out.getvalue(), kind="cf", name="cut.xlsx")
    assert not summary.ok
    assert re.match(r"cut\.xlsx, row \d+: .*damaged or truncated after row \d+", summary.error)
    assert summary.problems[0]["row"] > 2
    assert _snapshot(engine) == before


def test_api_without_projects_is_fatal(engine):
    doc = json.loads(KEN.read_text())
    del doc["projects"]
    summary = import_file(engine, json.dumps(doc).encode(), kind="cf", fmt="uninfo-api", name="ken.json")
    assert not summary.ok and "'projects'" in summary.error and summary.problems[0]["field"] == "projects"
    assert _snapshot(engine) == (0, 0, "[]")


def test_formats_are_sniffed_by_content():
    from matcher.registry import resolve_reader

    assert resolve_reader(Source.of(XLSX), kind="cf").name == "uninfo-jwp"
    assert resolve_reader(Source.of(CSV.read_bytes(), "x.txt"), kind="cf").name == "uninfo-jwp"
    assert resolve_reader(Source.of(KEN.read_bytes(), "x.txt"), kind="cf").name == "uninfo-api"


def test_a_description_the_export_wrote_as_a_formula_is_warned_and_the_row_kept(engine):
    # the real Africa export holds one cell that its exporter wrote as a formula with no saved value (the text
    # "- Instant networking schools …"); the sub-output and its money stay, the description is said to be lost
    path = Path(__file__).resolve().parents[1] / "demo" / "data" / "uninfo_jwp_africa_education.xlsx"
    summary = import_file(engine, path, kind="cf")
    assert summary.ok, summary.error
    assert (summary.read, summary.skipped) == (778, 0)
    [p] = [p for p in summary.problems if "formula" in p["message"]]
    assert (p["row"], p["field"], p["severity"]) == (276, "Description", "warning")
    assert p["message"].startswith("a formula with no saved value (=- Instant networking schools In Kakuma, "
                                   "Kalobeyei and Dadaa…) in sheet 'export_2025-06-11', cell M276: read as empty")
    with Session(engine) as s:
        item = s.execute(select(CFItem).where(CFItem.level == "sub_output", CFItem.source_row == "276")).scalar_one()
    assert item.description is None


# --------------------------------------------------------------------------- the full real files
def test_full_real_files(engine, shared_data):
    folder = shared_data / "uninfo"
    for path in sorted(folder.glob("jwp_export_*")):
        rows, sums = _expected(path)
        before_subs, before = _subs(engine), _money(engine)
        summary = import_file(engine, path, kind="cf")
        assert summary.ok, summary.error
        assert (summary.read, summary.skipped) == (rows, 0)
        assert _subs(engine) - before_subs == rows
        after = _money(engine)
        assert {k: round(after[k] - before.get(k, 0), 2) for k in after} == sums, path.name
    ken = folder / "api_derived_country_KEN.json"
    doc = json.loads(ken.read_text())
    summary = import_file(engine, ken, kind="cf")
    assert summary.ok and summary.read == len(doc["projects"]) == 288
    assert _subs(engine) - 778 - 113 == len({p["id"] for p in doc["projects"]}) == 119
    money = _money(engine, "uninfo-api")
    assert money == {"required": 1035223959.0, "available": 664406011.0, "expenditure": 528618723.0}
    # the file's own totals carry a cent of rounding each: reported, not hidden
    totals = sorted(p["message"].split(" differs")[0] for p in summary.problems if p["field"] == "totals")
    assert totals == ["Total available 664406011.01", "Total expenditure 528618722.99", "Total required 1035223959.01"]


def test_csv_resaved_in_a_european_locale_reads_the_same(engine, tmp_path):
    """The JWP CSV as a spreadsheet in a European locale saves it: semicolons between cells, decimal commas
    and dots grouping thousands (1.234.567,89). Same items, money equal to the cent."""
    src = DATA / "uninfo_jwp_arab_states_slice.csv"
    with open(src, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    money = re.compile(r"^-?[\d,]+(\.\d+)?$")

    def european(cell: str) -> str:
        if not money.match(cell) or not any(ch.isdigit() for ch in cell):
            return cell
        whole, _, frac = cell.replace(",", "").partition(".")
        sign, whole = ("-", whole[1:]) if whole.startswith("-") else ("", whole)
        grouped = f"{int(whole):,}".replace(",", ".") if whole else "0"
        return sign + grouped + ("," + frac if frac else "")

    out = tmp_path / "jwp_european.csv"
    with open(out, "w", encoding="cp1252", errors="replace", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(
            [rows[0]] + [[european(c) for c in r] for r in rows[1:]])
    assert ";" in out.read_text(encoding="cp1252").splitlines()[0]
    assert any("," in c and "." in c for r in csv.reader(open(out, encoding="cp1252"), delimiter=";") for c in r)
    summary = import_file(engine, out, kind="cf")
    assert summary.ok, summary.error
    european_money, european_subs = _money(engine), _subs(engine)
    rows_expected, sums = _expected(src)
    assert european_subs == rows_expected and european_money == sums
