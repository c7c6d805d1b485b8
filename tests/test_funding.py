"""Funding alignment (issue #5): the attribution rule's invariants (hypothesis) and the materialised views."""
from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from matcher import funding
from matcher.linking import match_store
from matcher.models import Activity, FundingCell, ItemCountry, Link, MoneyFact
from matcher.profiles import country_shares

from conftest import build_kenya

COUNTRIES = ["KEN", "UGA", "TZA"]
CURRENCIES = ["USD", "EUR", "KES", None]


@st.composite
def scenario(draw):
    n_items = draw(st.integers(1, 5))
    items = [("activity" if draw(st.booleans()) else "cf_item", f"i{k}") for k in range(n_items)]
    shares, facts, links = [], [], []
    for t, i in items:
        for c, sh in country_shares([(c, draw(st.one_of(st.none(), st.floats(0, 100))))
                                     for c in draw(st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=3,
                                                            unique=True))]).items():
            shares.append((t, i, c, sh))
        for _ in range(draw(st.integers(0, 4))):
            amount = draw(st.decimals(-1e6, 1e9, places=2, allow_nan=False, allow_infinity=False))
            cur = draw(st.sampled_from(CURRENCIES))
            usd = float(amount) * 1.1 if cur in ("USD", "EUR") else None
            facts.append((t, i, draw(st.sampled_from(["budget", "disbursement", "required"])),
                          draw(st.sampled_from([2020, 2021, None])), cur, float(amount), usd))
    link_id = 0
    for r in range(draw(st.integers(1, 6))):
        country = draw(st.sampled_from(COUNTRIES))
        for t, i in draw(st.lists(st.sampled_from(items), unique=True, max_size=len(items))):
            link_id += 1
            links.append((link_id, f"r{r}", t, i, country, draw(st.floats(0.01, 1.0))))
    # CF items form a hierarchy (each may sit under an earlier one): a link reaches the money below its item
    parent = {}
    for k, (t, i) in enumerate(items):
        above = [j for t2, j in items[:k] if t2 == "cf_item"]
        if t == "cf_item" and above and draw(st.booleans()):
            parent[i] = draw(st.sampled_from(above))
    reach = []
    for t, i in items:
        if t == "cf_item":
            reach += [(t, a, i) for a in _ancestors(i, parent) | {i}]
    return (pd.DataFrame(links, columns=["link_id", "recommendation_id", "item_type", "item_id", "country", "score"]),
            pd.DataFrame(facts, columns=["item_type", "item_id", "kind", "year", "currency", "amount", "amount_usd"]),
            pd.DataFrame(shares, columns=["item_type", "item_id", "country", "share"]),
            pd.DataFrame(reach, columns=["item_type", "item_id", "money_item_id"]) if draw(st.booleans()) else None)


def _ancestors(i, parent) -> set:
    out = set()
    while i in parent:
        i = parent[i]
        out.add(i)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_attribution_never_exceeds_the_item_and_never_mixes_currencies(case):
    links, facts, shares, reach = case
    att = funding.attribute(links, facts, shares, reach)
    if att.empty:
        return
    # a recommendation gets each money group once, however many of its links reach it (outcome and output)
    assert not att.duplicated(["recommendation_id", "item_type", "money_item_id", "kind", "year", "currency",
                               "country"]).any()
    if reach is None:
        assert (att["money_item_id"] == att["item_id"]).all()
    else:  # a link reaches only its own item's money and the money of items below it
        allowed = set(zip(reach["item_type"], reach["item_id"], reach["money_item_id"]))
        for t, i, m in zip(att["item_type"], att["item_id"], att["money_item_id"]):
            assert i == m or (t, i, m) in allowed
    att = att.drop(columns="item_id").rename(columns={"money_item_id": "item_id"})
    # per item, kind, period and currency: what all its recommendations get is at most the item's amount
    key = ["item_type", "item_id", "kind", "year", "currency"]
    f = facts.copy()
    f["year"] = pd.to_numeric(f["year"]).fillna(-1)
    f["currency"] = f["currency"].fillna("")
    total = f.groupby(key)["amount"].sum()
    a = att.copy()
    a["year"] = pd.to_numeric(a["year"]).fillna(-1)
    a["currency"] = a["currency"].fillna("")
    got = a.groupby(key)["attributed"].sum()
    for k, v in got.items():
        assert abs(v) <= abs(total[k]) * (1 + 1e-9) + 1e-6, (k, v, total[k])
    # per (item, country): shares of a fact add up to exactly the fact's amount in the country
    per = a.groupby(key + ["country"]).agg(att=("attributed", "sum"), country_amount=("amount_country", "first"))
    for k, r in per.iterrows():
        assert r.att == pytest.approx(r.country_amount, rel=1e-9, abs=1e-6)
    # nothing crosses currencies: each attribution row keeps its fact group's currency
    assert set(a["currency"]) <= set(f["currency"])
    # a fact without a USD rate never gets a USD share
    no_usd = a[a["facts_without_usd"] == a["facts"]]
    assert no_usd["attributed_usd"].isna().all()


def test_country_shares_never_exceed_one():
    assert country_shares([("KEN", 60), ("UGA", 60)]) == {"KEN": 0.5, "UGA": 0.5}
    assert country_shares([("KEN", None), ("UGA", None)]) == {"KEN": 0.5, "UGA": 0.5}
    assert country_shares([("KEN", 40), ("UGA", None)]) == {"KEN": 0.4, "UGA": pytest.approx(0.6)}
    assert country_shares([("KEN", 30)]) == {"KEN": 0.3}  # the rest went to a region
    assert country_shares([(None, 50)]) == {}


def test_materialised_funding_traces_to_the_money_facts(engine):
    build_kenya(engine)
    match_store(engine)
    with Session(engine) as session:
        cells = session.execute(select(FundingCell).where(FundingCell.dimension == "all",
                                                          FundingCell.response == "all")).scalars().all()
        assert cells
        # 'all': attributed and touching agree (every linked item's money is attributed in full) and
        # equal the counted money of linked items in Kenya, per kind, year and currency, to the cent
        linked = {(t, i) for t, i in session.execute(select(Link.item_type, Link.item_id).where(Link.status != "rejected"))}
        children = set(session.execute(select(Activity.id).where(Activity.is_child.is_(True))).scalars())
        # CF money: a link reaches its item and everything below it; the lowest level reporting a kind counts
        from matcher.models import CFItem

        kids: dict = {}
        for i, p in session.execute(select(CFItem.id, CFItem.parent_id)):
            kids.setdefault(p, []).append(i)

        def below(i):
            return {d for c in kids.get(i, []) for d in {c} | below(c)}

        reached = {i for t, i in linked if t == "cf_item"}
        reached |= {d for i in list(reached) for d in below(i)}
        cf_kinds: dict = {}
        for i, kind in session.execute(select(MoneyFact.item_id, MoneyFact.kind).where(
                MoneyFact.item_type == "cf_item", MoneyFact.counted.is_(True))):
            cf_kinds.setdefault(i, set()).add(kind)
        expected: dict = {}
        for t, i, kind, year, ps, cur, amount in session.execute(
                select(MoneyFact.item_type, MoneyFact.item_id, MoneyFact.kind, MoneyFact.year, MoneyFact.period_start,
                       MoneyFact.currency, MoneyFact.amount).where(MoneyFact.counted.is_(True))):
            if t == "cf_item":
                if i not in reached or any(kind in cf_kinds.get(d, ()) for d in below(i)):
                    continue
            elif (t, i) not in linked or i in children:
                continue
            rows = session.execute(select(ItemCountry.iso3, ItemCountry.share_pct)
                                   .where(ItemCountry.item_type == t, ItemCountry.item_id == i)).all()
            share = country_shares(rows).get("KEN", 0.0)
            k = (t, kind, year if year is not None else (ps.year if ps else None), cur)
            expected[k] = expected.get(k, 0.0) + float(amount) * share
        got = {(c.item_type, c.kind, c.year, c.currency): c for c in cells}
        assert set(got) == set(expected)
        for k, c in got.items():
            assert float(c.touching) == pytest.approx(expected[k], abs=0.01)
            assert abs(float(c.attributed)) <= abs(float(c.touching)) + 0.01
            assert float(c.attributed) == pytest.approx(float(c.touching), abs=0.01 * c.recommendations + 0.01)
        # by theme: attributed adds up across themes to the 'all' figure; touching is at least it per theme
        themes = session.execute(select(FundingCell).where(FundingCell.dimension == "theme",
                                                           FundingCell.response == "all")).scalars().all()
        for k, c in got.items():
            part = [x for x in themes if (x.item_type, x.kind, x.year, x.currency) == k]
            assert float(sum(x.attributed for x in part)) == pytest.approx(float(c.attributed), abs=0.01 * len(part) + 0.01)
            assert all(x.touching <= c.touching + Decimal("0.01") for x in part)
        # views: one column per source and kind; the CF gap is required - available
        rows = funding.funding(session, "KEN", by="goal")
        assert rows and all(r["measure"] == "attributed" for r in rows)
        for r in rows:
            if "cf_funding_gap" in r:
                assert r["cf_funding_gap"] == r.get("cf_required", 0) - r.get("cf_available", 0)
        usd = funding.funding(session, "KEN", by="all", usd=True, per_year=False)
        assert {r["currency"] for r in usd} == {"USD"}
        with pytest.raises(ValueError, match="--measure"):
            funding.funding(session, "KEN", measure="both")
        with pytest.raises(ValueError, match="--kind"):
            funding.funding(session, "KEN", kind="gift")


def test_rejecting_every_link_of_an_item_removes_its_money(engine):
    from matcher.linking import review_link

    build_kenya(engine)
    match_store(engine)
    with Session(engine) as session:
        item = session.execute(select(Link.item_type, Link.item_id).where(Link.item_type == "activity")
                               .limit(1)).first()
        before = session.execute(select(func.count()).select_from(FundingCell)
                                 .where(FundingCell.dimension == "all", FundingCell.item_type == "activity")).scalar_one()
        for link_id in session.execute(select(Link.id).where(Link.item_type == item[0], Link.item_id == item[1])).scalars():
            review_link(session, link_id, decision="rejected", reviewer="tester")
        after_total = session.execute(select(func.coalesce(func.sum(FundingCell.items), 0))
                                      .where(FundingCell.dimension == "all", FundingCell.item_type == "activity")).scalar_one()
        assert before > 0 and after_total >= 0
        # the rejected item is no longer counted anywhere
        from matcher.funding import _frames

        links, _, _, _ = _frames(session, ["KEN"])
        assert not ((links["item_type"] == item[0]) & (links["item_id"] == item[1])).any()


def test_parent_and_child_money_is_counted_once(kenya, monkeypatch):
    from matcher import settings as settings_mod
    from matcher.funding import _frames

    monkeypatch.setenv("UPR_ALIGN_LINK_THRESHOLD", "0.02")
    settings_mod.get_settings.cache_clear()
    match_store(kenya)
    child, parent = "iati:XM-DAC-41114-OUTPUT-00123204", "iati:XM-DAC-41114-PROJECT-00129584"
    with Session(kenya) as session:
        assert session.get(Activity, child).is_child
        # in the real file the UNDP project (parent) reports no money: its output (child) carries it, and counts
        links, facts, _, _ = _frames(session, ["KEN"])
        assert set(links["item_id"]) >= {child, parent}
        assert child in set(facts["item_id"]) and parent not in set(facts["item_id"])
        # give the parent a budget of its own: from then on the child's budgets stand aside, its commitment not
        session.add(MoneyFact(item_type="activity", item_id=parent, source_type="iati", kind="budget", year=2021,
                              amount=Decimal("1000000"), currency="USD", amount_usd=Decimal("1000000")))
        session.commit()
        links, facts, _, _ = _frames(session, ["KEN"])
        kinds = {(i, k) for i, k in zip(facts["item_id"], facts["kind"])}
        assert (parent, "budget") in kinds and (child, "budget") not in kinds and (child, "commitment") in kinds


def test_cf_roll_ups_count_the_lowest_level_once_and_links_reach_below(engine):
    """UN INFO figures are roll-ups (an outcome's money is its outputs' money): the lowest level that reports a
    kind counts, a link to the outcome reaches its outputs' money, and a recommendation linked to the outcome and
    to an output gets that output's money once."""
    from datetime import datetime, timezone

    from matcher.funding import _frames
    from matcher.models import CFItem

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def cf(i, level, parent=None):
        return CFItem(id=i, level=level, title=i, parent_id=parent, country="KEN", source_type="test",
                      source_file="t", source_sha256="0", content_hash="0", updated_at=now)

    def fact(i, kind, amount):
        return MoneyFact(item_type="cf_item", item_id=i, source_type="test", kind=kind, year=2024,
                         amount=Decimal(amount), currency="USD", amount_usd=Decimal(amount))

    def link(rec, item, score):
        return Link(recommendation_id=rec, item_type="cf_item", item_id=item, country="KEN", score=score,
                    rule="target", explanation="test", matcher_version="test", updated_at=now)

    with Session(engine) as s:
        s.add_all([cf("oc", "outcome"), cf("op1", "output", "oc"), cf("op2", "output", "oc"),
                   cf("so1", "sub_output", "op1")])
        s.add_all([ItemCountry(item_type="cf_item", item_id=i, iso3="KEN") for i in ("oc", "op1", "op2", "so1")])
        # required: reported on every level as a roll-up (the sub-output carries op1's 60)
        s.add_all([fact("oc", "required", "100"), fact("op1", "required", "60"), fact("op2", "required", "40"),
                   fact("so1", "required", "60"),
                   # available: only on the outcome -- its own figure then counts
                   fact("oc", "available", "30")])
        s.add_all([link("rA", "oc", 0.5), link("rB", "op1", 0.5), link("rC", "oc", 0.2), link("rC", "so1", 0.6)])
        s.commit()
        links, facts, shares, reach = _frames(s, ["KEN"])
        counted = {(i, k): a for i, k, a in zip(facts["item_id"], facts["kind"], facts["amount"])}
        assert counted == {("so1", "required"): 60.0, ("op2", "required"): 40.0, ("oc", "available"): 30.0}
        att = funding.attribute(links, facts, shares, reach)
        got = att.groupby(["recommendation_id", "kind"])["attributed"].sum().to_dict()
        # so1's 60 is reached by rA (via oc, 0.5), rB (via op1, 0.5) and rC (its best link: so1 itself, 0.6);
        # op2's 40 by rA and rC, both through oc
        assert got[("rA", "required")] == pytest.approx(60 * 0.5 / 1.6 + 40 * 0.5 / 0.7)
        assert got[("rB", "required")] == pytest.approx(60 * 0.5 / 1.6)
        assert got[("rC", "required")] == pytest.approx(60 * 0.6 / 1.6 + 40 * 0.2 / 0.7)
        assert sum(v for (r, k), v in got.items() if k == "required") == pytest.approx(100)
        assert got[("rA", "available")] == pytest.approx(30 * 0.5 / 0.7)
        assert got[("rC", "available")] == pytest.approx(30 * 0.2 / 0.7)
        # materialised: touching and attributed of the country equal the outcome's 100 required, not 100+60+40+60
        funding.materialise(s, ["KEN"])
        cell = s.execute(select(FundingCell).where(FundingCell.dimension == "all", FundingCell.kind == "required")
                         ).scalars().all()
        assert len(cell) == 1 and cell[0].touching == Decimal("100.00") and cell[0].items == 2


def test_funding_per_response_adds_up_to_all(kenya):
    """Cells per response of the recommendations: the attributed figures of the responses add up to 'all'."""
    match_store(kenya)
    with Session(kenya) as session:
        cells = session.execute(select(FundingCell).where(FundingCell.dimension == "theme")).scalars().all()
        responses = {c.response for c in cells}
        assert "all" in responses and "accepted" in responses and responses <= set(coverage_responses())
        total: dict = {}
        for c in cells:
            k = (c.code, c.item_type, c.kind, c.year, c.currency)
            total.setdefault(k, {}).setdefault(c.response == "all", []).append(c)
        for k, parts in total.items():
            whole = sum(float(c.attributed) for c in parts.get(True, []))
            split = sum(float(c.attributed) for c in parts.get(False, []))
            assert split == pytest.approx(whole, abs=0.01 * (len(parts.get(False, [])) + 1)), k
            for c in parts.get(False, []):  # a response's touching figure never exceeds all recommendations'
                assert c.touching <= parts[True][0].touching + Decimal("0.01")
        accepted = funding.funding(session, "KEN", by="all", response="accepted")
        everyone = funding.funding(session, "KEN", by="all")
        assert accepted and all(r["response"] == "accepted" for r in accepted)
        assert sum(r.get("cf_required", 0) for r in accepted) <= sum(r.get("cf_required", 0) for r in everyone)
        with pytest.raises(ValueError, match="--response"):
            funding.funding(session, "KEN", response="supported")


def coverage_responses():
    from matcher.coverage import RESPONSES

    return RESPONSES
