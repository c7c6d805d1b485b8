"""IATI activity XML ingest on real slices, the official example and attack files, on every backend."""
from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from io import BytesIO

import pytest
from lxml import etree
from sqlalchemy import func, select
from sqlmodel import Session

from ingest.iati import LEGACY_MESSAGE, READER
from matcher import IngestError, Source, import_file, stats
from matcher.models import Activity, ImportBatch, ItemCountry, ItemTag, MoneyFact

from conftest import DATA

DFID = DATA / "iati_dfid_albania_v201.xml"
OFFICIAL = DATA / "iati_official_example_v203.xml"
SDG_ROUTES = DATA / "iati_sdg_routes_v203.xml"
DPORTAL = DATA / "iati_dportal_sample_slice.xml"
NL = DATA / "iati_nl_mfa_slice_v203.xml"
KE = DATA / "iati_dportal_covid_ke_slice.xml"
SL = DATA / "iati_dportal_covid_sl_slice.xml"
LEGACY = DATA / "iati_legacy_1x_slice.xml"
XXE = DATA / "iati_xxe.xml"
BILLION_LAUGHS = DATA / "iati_billion_laughs.xml"
FIXTURES = [DFID, OFFICIAL, SDG_ROUTES, DPORTAL, NL, KE, SL, LEGACY]

DPORTAL_VERSION = "{http://d-portal.org/xmlns/iati-activities}version"
KINDS = {"2": "commitment", "3": "disbursement", "4": "expenditure", "5": "interest_payment",
         "6": "loan_repayment", "7": "reimbursement", "12": "outgoing_pledge"}
INCOMING = {"1", "11", "13"}


# --------------------------------------------------------------------------- independent expectations
def _activities(path):
    """(activity element, resolved version string) for every <iati-activity> in the file."""
    tree = etree.parse(path if hasattr(path, "read") else str(path))
    for a in tree.iter("iati-activity"):
        wrapper = a.getparent()
        version = a.get("version") or a.get(DPORTAL_VERSION) or (wrapper.get("version") if wrapper is not None else None)
        if not version:
            version = "2.0x" if a.find(".//narrative") is not None else "1.0x"
        yield a, version


def _num(text):
    """The value as the store keeps it: NUMERIC(24, 4), i.e. rounded to 4 decimals (half away from zero)."""
    try:
        return Decimal((text or "").strip()).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None


def expected_money(path) -> tuple[dict, dict]:
    """Sums per (kind, currency) computed with plain xpath: (counted money, incoming funds)."""
    counted: dict = defaultdict(Decimal)
    incoming: dict = defaultdict(Decimal)
    for a, version in _activities(path):
        if version.startswith("1"):
            continue
        default = a.get("default-currency")

        def cur(v):
            return (v.get("currency") or default or None) and (v.get("currency") or default).upper()

        periods = defaultdict(list)
        for b in a.xpath("budget"):
            v = b.find("value")
            key = (b.xpath("string(period-start/@iso-date)"), b.xpath("string(period-end/@iso-date)"))
            revised = (b.get("type") or "1").lower() in ("2", "revised")
            periods[key].append((revised, v))
        for entries in periods.values():
            use = [v for r, v in entries if r] or [v for r, v in entries]
            for v in use:
                if _num(v.text) is not None:
                    counted[("budget", cur(v))] += _num(v.text)
        for v in a.xpath("planned-disbursement/value"):
            if _num(v.text) is not None:
                counted[("planned_disbursement", cur(v))] += _num(v.text)
        for t in a.xpath("transaction"):
            code = t.xpath("string(transaction-type/@code)")
            v = t.find("value")
            if v is None or _num(v.text) is None:
                continue
            if code in INCOMING:
                incoming[(code, cur(v))] += _num(v.text)
            else:
                counted[(KINDS[code], cur(v))] += _num(v.text)
    return dict(counted), dict(incoming)


def stored_money(engine) -> dict:
    with Session(engine) as s:
        return {(m["kind"], m["currency"]): m["amount"] for m in stats(s)["money"] if m["source_type"] == "iati"}


def stored_incoming(engine) -> dict:
    with Session(engine) as s:
        rows = s.execute(
            select(MoneyFact.extra, MoneyFact.currency, MoneyFact.amount, MoneyFact.counted)
            .where(MoneyFact.kind.in_(("incoming_funds", "incoming_commitment", "incoming_pledge")))  # type: ignore[attr-defined]
        ).all()
    out: dict = defaultdict(Decimal)
    for extra, currency, amount, counted in rows:
        assert counted is False
        out[(extra["transaction_type"], currency)] += Decimal(str(amount))
    return dict(out)


def _cents(d: dict) -> dict:
    return {k: float(Decimal(v).quantize(Decimal("0.01"))) for k, v in d.items()}


def _table_counts(engine) -> dict:
    with Session(engine) as s:
        return {m.__tablename__: s.execute(select(func.count()).select_from(m)).one()[0]
                for m in (Activity, ItemTag, ItemCountry, MoneyFact, ImportBatch)}


# --------------------------------------------------------------------------- counts and money
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_activity_count_equals_file_count(engine, path):
    versions = [v for _, v in _activities(path)]
    legacy = sum(v.startswith("1") for v in versions)
    summary = import_file(engine, path, kind="iati")
    assert summary.ok, summary.error
    assert summary.source_type == "iati"
    assert (summary.read, summary.inserted, summary.skipped) == (len(versions), len(versions) - legacy, legacy)
    with Session(engine) as s:
        assert stats(s)["activities"]["total"] == len(versions) - legacy


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_money_sums_equal_independent_sums(engine, path):
    counted, incoming = expected_money(path)
    assert import_file(engine, path, kind="iati").ok
    assert stored_money(engine) == _cents(counted)
    assert _cents(stored_incoming(engine)) == _cents(incoming)


def _budgets(engine):
    with Session(engine) as s:
        return s.execute(select(MoneyFact).where(MoneyFact.kind == "budget")).scalars().all()


def test_revised_budget_supersedes_original(engine):
    import_file(engine, DPORTAL, kind="iati")  # OCHA FTS: original and revised for 2015-06-20..12-31
    budgets = _budgets(engine)
    superseded = [b for b in budgets if not b.counted]
    assert [b.item_id for b in superseded] == ["iati:XM-OCHA-FTS-MRT-15/H/77007/R/122"]
    assert all(b.extra["budget_type"] == "1" and b.extra["superseded_by_revised"] for b in superseded)
    for b in superseded:  # a revised budget of the same activity and period counts instead
        assert any(o.counted and o.extra["budget_type"] == "2" and (o.item_id, o.period_start, o.period_end)
                   == (b.item_id, b.period_start, b.period_end) for o in budgets)


def test_negative_values_are_kept_and_flagged(engine):
    import_file(engine, DFID, kind="iati")  # a revised budget of -7826.00 GBP
    negative = [b for b in _budgets(engine) if b.amount < 0]
    assert [float(b.amount) for b in negative] == [-7826.0]
    assert all(b.is_negative and b.counted and b.amount_usd < 0 for b in negative)


def test_currency_fallback_and_missing_currency(engine):
    summary = import_file(engine, DPORTAL, kind="iati")
    no_currency = [p for p in summary.problems if "no currency on the value" in p["message"]]
    with Session(engine) as s:
        facts = s.execute(select(MoneyFact).where(MoneyFact.currency.is_(None))).scalars().all()  # type: ignore[union-attr]
        gbp = s.execute(select(MoneyFact).join(Activity, Activity.id == MoneyFact.item_id)
                        .where(Activity.iati_identifier == "GB-CHC-202918-MLIB06")).scalars().all()
    assert len(facts) == len(no_currency) > 0
    assert all(f.amount_usd is None and "no currency" in f.no_usd_reason for f in facts)
    assert gbp and {f.currency for f in gbp} == {"GBP"}  # from @default-currency
    assert all(f.amount_usd is not None and f.usd_rate for f in gbp if f.value_date or f.period_start)


# --------------------------------------------------------------------------- SDG routes and tags
def _tags(engine, identifier):
    with Session(engine) as s:
        return s.execute(select(ItemTag).join(Activity, Activity.id == ItemTag.item_id)
                         .where(Activity.iati_identifier == identifier)).scalars().all()


def test_all_four_sdg_routes_on_the_official_example(engine):
    assert import_file(engine, SDG_ROUTES, kind="iati").ok
    sdg = {(t.vocabulary, t.code, t.route) for t in _tags(engine, "AA-AAA-123456789-SDG1") if t.vocabulary.startswith("sdg_")}
    assert sdg == {
        ("sdg_goal", "5", "tag-vocab-2"), ("sdg_target", "5.2", "tag-vocab-3"),
        ("sdg_goal", "3", "sector-vocab-7"), ("sdg_target", "3.8", "sector-vocab-8"),
        ("sdg_indicator", "3.8.1", "sector-vocab-9"),
        ("sdg_goal", "6", "transaction-sector-vocab-7"), ("sdg_target", "6.1", "transaction-sector-vocab-8"),
        ("sdg_indicator", "6.2.1", "transaction-sector-vocab-9"),
        ("sdg_indicator", "16.9.1", "result-indicator-vocab-9"),
        # implied: targets imply goals, indicators their target and goal, when no route declared them
        ("sdg_target", "6.2", "implied"), ("sdg_target", "16.9", "implied"), ("sdg_goal", "16", "implied"),
    }


def test_official_example_tags_sectors_and_markers(engine):
    assert import_file(engine, OFFICIAL, kind="iati").ok
    tags = _tags(engine, "AA-AAA-123456789-ABC123")
    assert not [t for t in tags if t.vocabulary.startswith("sdg_")]  # the example itself declares no SDG
    by = {(t.vocabulary, t.code, t.route): t for t in tags}
    assert by[("dac3", "111", "activity")].share_pct == 50
    assert by[("dac3", "111", "transaction")].share_pct is None
    assert by[("sector_reporting_org", "A1", "activity")].label == "A description of the sector"
    assert by[("policy_marker", "2", "policy-marker")].extra["significance"] == "3"
    assert by[("policy_marker", "9", "policy-marker")].label.startswith("Reproductive")
    assert ("policy_marker_reporting_org", "A1", "policy-marker") in by
    with Session(engine) as s:
        act = s.execute(select(Activity)).scalar_one()
        countries = s.execute(select(ItemCountry.iso3, ItemCountry.share_pct)).all()
    assert sorted(countries) == [("AFG", 25.0), ("ATG", 25.0)]
    assert [r["code"] for r in act.recipient_regions] == ["489", "A1"]
    assert act.title == "Activity title" and {t["lang"] for t in act.titles} == {"en", "fr", "es"}
    assert (act.start_date.isoformat(), act.end_date.isoformat()) == ("2012-04-28", "2015-12-31")  # actual over planned
    assert act.status == "implementation" and act.reporting_org_ref == "AA-AAA-123456789"
    assert [o["role_name"] for o in act.participating_orgs] == ["funding", "accountable", "extending"]
    assert act.parent_id == "iati:AA-AAA-123456789-6789" and act.is_child is False  # parent not in the store


def test_sdg_routes_in_real_files(engine):
    for path in (KE, SL, DPORTAL):
        assert import_file(engine, path, kind="iati").ok
    with Session(engine) as s:
        routes = {r for (r,) in s.execute(select(ItemTag.route).where(ItemTag.vocabulary.like("sdg_%"))).all()}  # type: ignore[attr-defined]
    assert {"tag-vocab-2", "tag-vocab-3", "sector-vocab-7", "sector-vocab-8", "transaction-sector-vocab-7",
            "implied"} <= routes


def test_identifier_with_spaces_languages_and_countries(engine):
    import_file(engine, DPORTAL, kind="iati")
    ident = "XM-DAC-41122-Sierra Leone-3900/A0/06/001/013"
    with Session(engine) as s:
        act = s.get(Activity, f"iati:{ident}")
        countries = s.execute(select(ItemCountry.iso3).where(ItemCountry.item_id == act.id)).scalars().all()
        es = s.execute(select(Activity).where(Activity.iati_identifier == "ES-DIR3-E04585801-009-090792")).scalar_one()
    assert act.iati_identifier == ident and countries == ["SLE"]
    assert {t.vocabulary for t in _tags(engine, ident)} >= {"sdg_goal", "dac5", "policy_marker"}
    langs = {t["lang"] for t in es.titles}
    assert langs == {"en", "es"} and es.title == next(t["text"] for t in es.titles if t["lang"] == "en")


# --------------------------------------------------------------------------- hierarchy
def _children_in_file(path) -> set[str]:
    ids = {" ".join(a.findtext("iati-identifier").split()) for a, _ in _activities(path)}
    return {" ".join(a.findtext("iati-identifier").split()) for a, _ in _activities(path)
            if any(r.get("ref") in ids for r in a.xpath("related-activity[@type='1']"))}


def test_children_are_flagged_on_dfid_albania(engine):
    children = _children_in_file(DFID)
    assert len(children) == 5
    assert import_file(engine, DFID, kind="iati").ok
    with Session(engine) as s:
        flagged = set(s.execute(select(Activity.iati_identifier).where(Activity.is_child.is_(True))).scalars())  # type: ignore[attr-defined]
        hier = dict(s.execute(select(Activity.iati_identifier, Activity.hierarchy)).all())
    assert flagged == children and all(hier[c] == 2 for c in children)


def test_child_before_parent_in_stream_and_across_files(engine):
    import_file(engine, KE, kind="iati")  # OUTPUT-00123204 comes before its parent PROJECT-00129584
    with Session(engine) as s:
        child = s.get(Activity, "iati:XM-DAC-41114-OUTPUT-00123204")
        assert child.is_child and child.parent_id == "iati:XM-DAC-41114-PROJECT-00129584"
    # only the components first: their parents are not there yet, so nothing is flagged
    tree = etree.parse(str(DFID))
    for a in tree.xpath("//iati-activity[@hierarchy='1']"):
        a.getparent().remove(a)
    only_children = etree.tostring(tree)
    assert import_file(engine, only_children, kind="iati", name="dfid_children.xml").ok
    with Session(engine) as s:
        assert not s.execute(select(Activity).where(Activity.reporting_org_ref == "GB-GOV-1",
                                                    Activity.is_child.is_(True))).all()  # type: ignore[attr-defined]
    assert import_file(engine, DFID, kind="iati").ok  # the parents arrive in a later file
    with Session(engine) as s:
        flagged = set(s.execute(select(Activity.iati_identifier).where(Activity.reporting_org_ref == "GB-GOV-1",
                                                                         Activity.is_child.is_(True))).scalars())  # type: ignore[attr-defined]
    assert flagged == _children_in_file(DFID)


# --------------------------------------------------------------------------- refusals
def test_legacy_1x_is_refused_per_activity(engine):
    n = len(list(_activities(LEGACY)))
    summary = import_file(engine, LEGACY, kind="iati")
    assert summary.ok and (summary.read, summary.skipped, summary.inserted) == (n, n, 0)
    assert [p["message"] for p in summary.problems] == [LEGACY_MESSAGE] * n
    assert all(p["field"] == "@version" and p["row"].startswith("line ") for p in summary.problems)
    mixed = import_file(engine, DPORTAL, kind="iati")
    assert mixed.skipped == 3 and sum(p["message"] == LEGACY_MESSAGE for p in mixed.problems) == 3


@pytest.mark.parametrize("path", [XXE, BILLION_LAUGHS], ids=lambda p: p.name)
def test_entity_attacks_are_refused_and_db_unchanged(engine, path):
    assert import_file(engine, DFID, kind="iati").ok
    before, money_before = _table_counts(engine), stored_money(engine)
    summary = import_file(engine, path, kind="iati")  # sniffed as IATI, then refused
    assert not summary.ok
    assert path.name in summary.error and "DOCTYPE" in summary.error and "entities" in summary.error
    assert summary.problems[0]["field"] == "DOCTYPE" and summary.problems[0]["row"] == "line 2"
    assert _table_counts(engine) == before and stored_money(engine) == money_before
    with pytest.raises(IngestError, match="billion-laughs and external-entity"):
        READER.read(Source.of(path), options={})


def test_truncated_file_is_fatal_and_names_the_line(engine):
    data = DFID.read_bytes()[:30000]
    summary = import_file(engine, data, kind="iati", name="truncated.xml")
    assert not summary.ok and "truncated.xml" in summary.error and "not well-formed" in summary.error
    assert summary.problems[0]["row"].startswith("line ") and summary.problems[0]["field"] == "XML"
    assert _table_counts(engine)["activity"] == 0


def test_reingest_is_idempotent(engine):
    first = import_file(engine, DFID, kind="iati")
    counts = _table_counts(engine)
    again = import_file(engine, DFID, kind="iati")
    assert again.ok and (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    after = _table_counts(engine)
    assert {k: v for k, v in after.items() if k != "import_batch"} == {k: v for k, v in counts.items() if k != "import_batch"}
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(Activity).where(Activity.is_child.is_(True))).one()[0] == 5  # type: ignore[attr-defined]


def test_sniff_by_content():
    assert READER.sniff(Source.of(KE)) and READER.sniff(Source.of(LEGACY))
    assert not READER.sniff(Source.of(DATA / "uprinfo_sample_macroman.csv"))


# --------------------------------------------------------------------------- every real file
@pytest.mark.real_data
def test_all_real_files_ingest(engine, shared_data):
    folder = shared_data / "iati" / "activities"
    files = sorted(folder.glob("*.xml")) + sorted((folder / "by_country").glob("*.xml"))
    assert len(files) == 14
    expected_counted: dict = defaultdict(Decimal)
    by_identifier: dict = {}
    for path in files:
        n = len(list(_activities(path)))
        summary = import_file(engine, path, kind="iati")
        assert summary.ok, summary.error
        assert summary.read == n
        assert summary.inserted + summary.updated + summary.unchanged + summary.skipped == n
        if path.name.startswith("legacy_1x"):
            assert summary.skipped == n and {p["message"] for p in summary.problems} == {LEGACY_MESSAGE}
        # an activity met again in a later file replaces the earlier one (same identifier, same id)
        for a, version in _activities(path):
            if not version.startswith("1"):
                by_identifier[" ".join(a.findtext("iati-identifier").split())] = (path, a)
    per_file: dict = defaultdict(set)
    for ident, (path, _) in by_identifier.items():
        per_file[path].add(ident)
    with Session(engine) as s:
        assert stats(s)["activities"]["total"] == len(by_identifier)
    for path, idents in per_file.items():
        counted, _ = _expected_for(path, idents)
        for k, v in counted.items():
            expected_counted[k] += v
    assert stored_money(engine) == _cents(expected_counted)


def _expected_for(path, idents):
    """expected_money restricted to the given identifiers of one file."""
    tree = etree.parse(str(path))
    for a in list(tree.iter("iati-activity")):
        if " ".join((a.findtext("iati-identifier") or "").split()) not in idents:
            a.getparent().remove(a)
    return expected_money(BytesIO(etree.tostring(tree)))
