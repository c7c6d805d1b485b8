"""Funding alignment: how much money serves which recommendations and themes (issue #5).

The rule, implemented once (``attribute``) and documented in README ("Funding alignment"):

1. Money of an item reaches a recommendation **only through a link** (rejected links never count).
2. Each counted money fact of the item (``money_fact.counted``: no incoming funds, no superseded
   budgets) is split by the item's **share in the country** (IATI recipient-country percentage; equal
   shares for the members of a multi-country office): that is the money *touching* the country.
3. That amount is split across the item's linked recommendations in the country **in proportion to
   link score**: the money *attributed* to each.  Shares of one fact add up to at most the fact.
4. A donor parent and its child activities are never counted twice: for each kind of money, the parent's
   figure stands for the family when the parent reports that kind, and the children's figures count only
   when it does not (many parents report no money of their own, e.g. UNDP projects whose outputs do).
   Cooperation Framework figures are roll-ups (an outcome's required money is the sum of its outputs'):
   for each kind the **lowest level that reports it** counts -- an item's own figure only when none of
   the items below it report that kind -- and a link to an item reaches the counted money of the item
   and of everything below it (a link to an outcome reaches its sub-outputs' money).  A recommendation
   linked to an outcome and to one of its outputs gets that output's money once, through its better link.
5. Nothing is added across currencies: every figure keeps the reported currency; USD figures use each
   fact's own ECB rate, and facts without one are counted in ``facts_without_usd``.

Aggregates (``funding_cell``) per country x dimension code: *touching* counts each fact once per code
however many of the code's recommendations link to the item; *attributed* splits a recommendation's
share equally among its codes of the dimension (so attributed figures add up across codes).
"""
from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import Iterable, Optional

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlmodel import Session

from .arrays import concat_rows, distinct
from .bulk import insert_columns
from .models import Activity, CFItem, FundingCell, ItemCountry, Link, MoneyFact, RecDimension, Recommendation
from .profiles import CHUNK, country_shares, fetch

CF_KINDS = ("required", "available", "expenditure")
DONOR_KINDS = ("budget", "planned_disbursement", "commitment", "disbursement", "expenditure")
MEASURES = ("attributed", "touching")
_GROUP = ["item_type", "item_id", "kind", "year", "currency"]


def attribute(links: pd.DataFrame, facts: pd.DataFrame, shares: pd.DataFrame,
              reach: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """Split money along links: one row per (link, money group the link reaches).

    ``links``: link_id, recommendation_id, item_type, item_id, country, score (> 0).
    ``facts``: item_type, item_id, kind, year, currency, amount, amount_usd (NaN when no rate) -- counted facts.
    ``shares``: item_type, item_id, country, share (in [0, 1]).
    ``reach``: item_type, item_id (a linked item), money_item_id (an item whose facts a link to it reaches);
    by default a link reaches its own item's facts only.
    Returns the link columns plus ``money_item_id``, kind, year, currency, facts, facts_without_usd,
    ``amount_country`` (the money item's money in the country, *touching*), ``attributed`` (= amount_country x
    score / sum of the scores of the recommendations reaching the money item in the country; a recommendation
    reaching it through several links counts once, with its best link) and the same two in USD.
    """
    if links.empty or facts.empty:
        return pd.DataFrame(columns=list(links.columns) + ["money_item_id", "kind", "year", "currency", "facts",
                                                           "facts_without_usd", "amount_country", "attributed",
                                                           "amount_country_usd", "attributed_usd", "weight"])
    f = facts.copy()
    f["year"] = pd.to_numeric(f["year"]).fillna(-1).astype("int64")
    f["currency"] = f["currency"].fillna("")
    f["has_usd"] = f["amount_usd"].notna()
    groups = f.groupby(_GROUP, as_index=False, sort=False).agg(
        amount=("amount", "sum"), amount_usd=("amount_usd", "sum"), facts=("amount", "size"),
        with_usd=("has_usd", "sum"))
    groups["facts_without_usd"] = groups["facts"] - groups["with_usd"]
    groups.loc[groups["with_usd"] == 0, "amount_usd"] = np.nan
    groups = groups.drop(columns="with_usd")
    L = links.copy()
    if reach is not None and not reach.empty:
        L = L.merge(reach, on=["item_type", "item_id"], how="left")
        L["money_item_id"] = L["money_item_id"].where(L["money_item_id"].notna(), L["item_id"])
    else:
        L["money_item_id"] = L["item_id"]
    # a recommendation reaching one money item through several links (an outcome and its output) counts once
    L = (L.sort_values(["score", "link_id"], ascending=[False, True], kind="stable")
         .drop_duplicates(["recommendation_id", "item_type", "money_item_id", "country"]))
    money_key = ["item_type", "money_item_id", "country"]
    L["weight"] = L["score"] / L.groupby(money_key)["score"].transform("sum")
    L = L.merge(shares.rename(columns={"item_id": "money_item_id"}), on=money_key, how="left")
    L["share"] = L["share"].fillna(0.0)
    out = L.merge(groups.rename(columns={"item_id": "money_item_id"}), on=["item_type", "money_item_id"], how="inner")
    out["amount_country"] = out["amount"] * out["share"]
    out["amount_country_usd"] = out["amount_usd"] * out["share"]
    out["attributed"] = out["amount_country"] * out["weight"]
    out["attributed_usd"] = out["amount_country_usd"] * out["weight"]
    out["year"] = out["year"].where(out["year"] >= 0, None)
    out["currency"] = out["currency"].replace("", None)
    return out.drop(columns=["amount", "amount_usd", "share"])


def _frames(session: Session, countries: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The links of ``countries``, the counted money facts they reach, the money items' country shares,
    and which items' money a link to each linked CF item reaches (see rule 4)."""
    links = pd.DataFrame(fetch(session,
        select(Link.id, Link.recommendation_id, Link.item_type, Link.item_id, Link.country, Link.score)
        .where(Link.country.in_(countries), Link.status != "rejected", Link.score > 0)),
        columns=["link_id", "recommendation_id", "item_type", "item_id", "country", "score"])
    reach_rows: list[tuple[str, str, str]] = []
    if links.empty:
        return links, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(columns=["item_type", "item_id", "money_item_id"])
    fact_rows, share_rows = [], []
    for item_type, ids in links.groupby("item_type")["item_id"]:
        ids = sorted(set(ids))
        parent_of: dict[str, str] = {}
        below: dict[str, set[str]] = {}
        if item_type == "activity":
            for start in range(0, len(ids), CHUNK):
                parent_of.update(fetch(session, select(Activity.id, Activity.parent_id).where(
                    Activity.id.in_(ids[start:start + CHUNK]), Activity.is_child.is_(True))))
            money_ids = ids
        else:
            below = _cf_descendants(session, ids)
            money_ids = sorted(set(ids).union(*below.values()) if below else set(ids))
            reach_rows += [(item_type, i, d) for i in ids for d in below.get(i, ())]
        parent_kinds = _kinds_with_money(session, sorted(set(parent_of.values())))
        rows = []
        for start in range(0, len(money_ids), CHUNK):
            part = money_ids[start:start + CHUNK]
            rows += [r for r in session.execute(
                select(MoneyFact.item_type, MoneyFact.item_id, MoneyFact.kind, MoneyFact.year, MoneyFact.period_start,
                       MoneyFact.currency, MoneyFact.amount, MoneyFact.amount_usd)
                .where(MoneyFact.item_type == item_type, MoneyFact.item_id.in_(part), MoneyFact.counted.is_(True))
                .order_by(MoneyFact.id)).all()
                if (parent_of.get(r[1]), r[2]) not in parent_kinds]
            by_item: dict[str, list] = {}
            for item_id, iso3, pct in fetch(session, select(ItemCountry.item_id, ItemCountry.iso3, ItemCountry.share_pct)
                                            .where(ItemCountry.item_type == item_type, ItemCountry.item_id.in_(part))
                                            .order_by(ItemCountry.id)):
                by_item.setdefault(item_id, []).append((iso3, pct))
            share_rows += [(item_type, i, c, sh) for i, rows_ in by_item.items() for c, sh in country_shares(rows_).items()]
        if below:  # CF roll-ups: a figure counts only when nothing below the item reports that kind
            kinds_of: dict[str, set[str]] = defaultdict(set)
            for r in rows:
                kinds_of[r[1]].add(r[2])
            rows = [r for r in rows if not any(r[2] in kinds_of.get(d, ()) for d in below.get(r[1], ()))]
        fact_rows += rows
    facts = pd.DataFrame([(t, i, k, y if y is not None else (ps.year if ps else None), cur,
                           float(a), float(u) if u is not None else np.nan)
                          for t, i, k, y, ps, cur, a, u in fact_rows],
                         columns=["item_type", "item_id", "kind", "year", "currency", "amount", "amount_usd"])
    shares = pd.DataFrame(share_rows, columns=["item_type", "item_id", "country", "share"])
    reach = pd.DataFrame(reach_rows, columns=["item_type", "item_id", "money_item_id"])
    if not reach.empty:  # every linked item reaches itself too
        own = links[["item_type", "item_id"]].drop_duplicates()
        reach = pd.concat([reach, own.assign(money_item_id=own["item_id"])], ignore_index=True).drop_duplicates()
    return links, facts, shares, reach


def _cf_descendants(session: Session, ids: list[str]) -> dict[str, set[str]]:
    """For each CF item of ``ids`` and each item below one of them: every CF item below it (empty sets left out)."""
    children: dict[str, list[str]] = defaultdict(list)
    seen, frontier = set(ids), list(ids)
    while frontier:
        nxt = []
        for start in range(0, len(frontier), CHUNK):
            for cid, pid in fetch(session, select(CFItem.id, CFItem.parent_id).where(
                    CFItem.parent_id.in_(frontier[start:start + CHUNK])).order_by(CFItem.id)):
                if cid == pid:
                    continue
                children[pid].append(cid)
                if cid not in seen:
                    seen.add(cid)
                    nxt.append(cid)
        frontier = nxt
    below: dict[str, set[str]] = {}

    def collect(node: str, path: frozenset) -> set[str]:
        if node in below:
            return below[node]
        out: set[str] = set()
        for c in children.get(node, ()):
            if c in path:  # a cycle in bad data: stop there
                continue
            out.add(c)
            out |= collect(c, path | {c})
        below[node] = out
        return out

    for node in list(seen):
        collect(node, frozenset({node}))
    return {k: v for k, v in below.items() if v}


def _kinds_with_money(session: Session, parent_ids: list[str]) -> set[tuple[str, str]]:
    """(parent activity id, kind) pairs for which the parent reports counted money of its own."""
    out: set[tuple[str, str]] = set()
    for start in range(0, len(parent_ids), 5000):
        out.update(session.execute(select(MoneyFact.item_id, MoneyFact.kind).distinct().where(
            MoneyFact.item_type == "activity", MoneyFact.item_id.in_(parent_ids[start:start + 5000]),
            MoneyFact.counted.is_(True))).all())
    return out


def materialise(session: Session, countries: Iterable[str]) -> int:
    """Rebuild the funding cells of ``countries`` from links, money facts and dimensions; returns cells written."""
    countries = sorted(set(countries))
    written = 0
    for start in range(0, len(countries), 200):
        part = countries[start:start + 200]
        session.execute(delete(FundingCell).where(FundingCell.country.in_(part)))
        links, facts, shares, reach = _frames(session, part)
        if links.empty or facts.empty:
            continue
        att = attribute(links, facts, shares, reach)
        if att.empty:
            continue
        dims = pd.DataFrame(fetch(session,
            select(RecDimension.recommendation_id, RecDimension.dimension, RecDimension.code, RecDimension.share)
            .where(RecDimension.country.in_(part))), columns=["recommendation_id", "dimension", "code", "dshare"])
        recs = att["recommendation_id"].drop_duplicates()
        dims = concat_rows([dims, pd.DataFrame({"recommendation_id": recs, "dimension": "all", "code": "all", "dshare": 1.0})])
        # every cell once per response of its recommendations and once for all of them
        ids = recs.tolist()
        response = dict(r for k in range(0, len(ids), CHUNK) for r in fetch(
            session, select(Recommendation.id, Recommendation.response).where(Recommendation.id.in_(ids[k:k + CHUNK]))))
        dims = concat_rows([dims.assign(response=dims["recommendation_id"].map(response)).dropna(subset=["response"]),
                        dims.assign(response="all")])
        written += insert_columns(session, FundingCell, _cells(att, dims))
    return written


def _factorize(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """(integer code per row, the distinct value combinations in code order)."""
    codes = frame.groupby(columns, sort=False).ngroup().to_numpy(dtype=np.int64)  # numbered as first met
    return codes, frame[columns].drop_duplicates().reset_index(drop=True)


def _sums(cell: np.ndarray, n: int, values: np.ndarray, nan_if_none: bool = False) -> np.ndarray:
    """Per cell (0 .. n-1), the correctly rounded sum (``math.fsum``) of its ``values``, NaN values left out.

    fsum makes a cell's figure independent of row order (and so of the database's), where a running
    float sum could land a cent off after rounding.  With ``nan_if_none``, a cell whose values are all
    NaN (no USD figure at all) is NaN rather than 0.
    """
    present = ~np.isnan(values)
    order = np.argsort(cell[present], kind="stable")
    flat = values[present][order].tolist()
    ends = np.cumsum(np.bincount(cell[present], minlength=n)).tolist()
    out = np.zeros(n)
    start = 0
    for k, end in enumerate(ends):
        if end > start:
            out[k] = math.fsum(flat[start:end])
        elif nan_if_none:
            out[k] = np.nan
        start = end
    return out


def _cells(att: pd.DataFrame, dims: pd.DataFrame) -> dict[str, list]:
    """The funding_cell columns, one row per (country, dimension, code, item type, kind, year, currency).

    Integer codes and ``np.unique``/``np.bincount`` instead of a groupby over text columns: a full rebuild
    joins ~400,000 attributed rows with ~8 codes each.  Money sums are exact-then-rounded (``_sums``).
    """
    a = att.assign(year=att["year"].fillna(-1).astype("int64"), currency=att["currency"].fillna(""))
    group, groups = _factorize(a, ["country", "item_type", "kind", "year", "currency"])
    code, codes = _factorize(dims, ["dimension", "code", "response"])
    recs = pd.Index(pd.unique(pd.concat([a["recommendation_id"], dims["recommendation_id"]], ignore_index=True)))
    rec = recs.get_indexer(a["recommendation_id"])
    item = pd.factorize(a["money_item_id"])[0].astype(np.int64)  # the item whose money it is (rule 4)
    m = pd.DataFrame({"row": np.arange(len(a)), "rec": rec}).merge(
        pd.DataFrame({"rec": recs.get_indexer(dims["recommendation_id"]), "code": code,
                      "dshare": dims["dshare"].to_numpy(dtype=float)}), on="rec")
    row, dshare = m["row"].to_numpy(), m["dshare"].to_numpy()
    keys, cell = np.unique(group[row] * len(codes) + m["code"].to_numpy(), return_inverse=True)
    cell = cell.astype(np.int64)
    n = len(keys)
    attributed = _sums(cell, n, a["attributed"].to_numpy(dtype=float)[row] * dshare)
    attributed_usd = _sums(cell, n, a["attributed_usd"].to_numpy(dtype=float)[row] * dshare, nan_if_none=True)
    recommendations = np.bincount(distinct(cell * len(recs) + rec[row]) // len(recs), minlength=n)
    # touching: each (money item, money group) once per code, however many of the code's recommendations reach it
    _, first = np.unique(cell * (item.max() + 1) + item[row], return_index=True)
    once, at = cell[first], row[first]
    touching = _sums(once, n, a["amount_country"].to_numpy(dtype=float)[at])
    touching_usd = _sums(once, n, a["amount_country_usd"].to_numpy(dtype=float)[at], nan_if_none=True)
    facts = np.bincount(once, weights=a["facts"].to_numpy(dtype=float)[at], minlength=n)
    without = np.bincount(once, weights=a["facts_without_usd"].to_numpy(dtype=float)[at], minlength=n)
    items = np.bincount(once, minlength=n)
    g, c = groups.iloc[keys // len(codes)], codes.iloc[keys % len(codes)]
    usd = lambda v, zero: [None if np.isnan(x) else _cents(x, zero) for x in v.tolist()]  # noqa: E731
    return {"country": g["country"], "dimension": c["dimension"], "code": c["code"], "response": c["response"],
            "item_type": g["item_type"],
            "kind": g["kind"], "year": [None if y < 0 else int(y) for y in g["year"].tolist()],
            "currency": [x or None for x in g["currency"].tolist()],
            "touching": [_cents(v) for v in touching.tolist()],
            "attributed": [_cents(v, toward_zero=True) for v in attributed.tolist()],
            "touching_usd": usd(touching_usd, False), "attributed_usd": usd(attributed_usd, True),
            "facts": np.rint(facts).astype(np.int64), "facts_without_usd": np.rint(without).astype(np.int64),
            "items": items, "recommendations": recommendations}


def _cents(x: float, toward_zero: bool = False) -> Decimal:
    """Round to the cent; attributed figures toward zero so that shares never add up past the item's money."""
    if toward_zero:
        return Decimal(int(math.trunc(x * 100 + (1e-6 if x > 0 else -1e-6)))) / 100
    return Decimal(str(round(x, 2)))


def funding(session: Session, country: str, *, by: str = "theme", measure: str = "attributed",
            kind: Optional[str] = None, item_type: Optional[str] = None, usd: bool = False,
            per_year: bool = True, response: str = "all") -> list[dict]:
    """Money aligned with each code of ``by`` in a country: one row per (code, year, currency), one column per
    source and kind (``cf_required``, ``cf_available``, ``cf_expenditure``, ``cf_funding_gap`` = required -
    available, ``donor_budget``, ``donor_commitment``, ``donor_disbursement``, ``donor_expenditure``, ...).

    ``measure`` says which figure (attributed | touching); ``usd`` sums the USD conversions instead of the
    reported currencies (``facts_without_usd`` then says how many facts are missing from the sums);
    ``per_year=False`` adds the years up (``year`` is then None).  Touching figures of several years are
    added as they are: an item funded in two years touches the code in both.  ``response`` counts only the
    recommendations of one response (accepted, noted, ...); ``all`` (default) every recommendation.
    """
    from .coverage import DIMENSIONS, RESPONSES

    if by not in DIMENSIONS + ("all",):
        raise ValueError(f"--by must be one of {', '.join(DIMENSIONS + ('all',))}, not {by!r}")
    if measure not in MEASURES:
        raise ValueError(f"--measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    kinds = CF_KINDS + DONOR_KINDS
    if kind is not None and kind not in kinds:
        raise ValueError(f"--kind must be one of {', '.join(sorted(set(kinds)))}, not {kind!r}")
    if item_type is not None and item_type not in ("cf_item", "activity"):
        raise ValueError("item type must be cf_item or activity")
    if response not in RESPONSES:
        raise ValueError(f"--response must be one of {', '.join(RESPONSES)}, not {response!r}")
    # plain columns, not ORM objects: a large country has thousands of cells per dimension
    stmt = select(FundingCell.code, FundingCell.year, FundingCell.currency, FundingCell.item_type, FundingCell.kind,
                  getattr(FundingCell, f"{measure}_usd" if usd else measure), FundingCell.facts_without_usd
                  ).where(FundingCell.country == country, FundingCell.dimension == by, FundingCell.response == response)
    if kind:
        stmt = stmt.where(FundingCell.kind == kind)
    if item_type:
        stmt = stmt.where(FundingCell.item_type == item_type)
    rows: dict[tuple, dict] = {}
    for code, year, currency, cell_type, cell_kind, value, without in session.connection().execute(stmt):
        currency = "USD" if usd else currency
        year = year if per_year else None
        r = rows.get((code, year, currency))
        if r is None:
            r = rows[(code, year, currency)] = {"country": country, "dimension": by, "code": code, "year": year,
                                                "currency": currency, "measure": measure, "response": response,
                                                "facts_without_usd": 0}
        column = f"{'cf' if cell_type == 'cf_item' else 'donor'}_{cell_kind}"
        if value is not None:
            r[column] = r.get(column, Decimal(0)) + value
        if usd:
            r["facts_without_usd"] += without
    out = list(rows.values())
    for r in out:
        if "cf_required" in r or "cf_available" in r:
            r["cf_funding_gap"] = r.get("cf_required", Decimal(0)) - r.get("cf_available", Decimal(0))
    out.sort(key=lambda r: (r["code"], r["year"] if r["year"] is not None else -1, r["currency"] or ""))
    return out


def money_columns(rows: list[dict]) -> list[str]:
    """The money columns present in ``funding`` rows, in a stable order (CF first, then donors)."""
    order = [f"cf_{k}" for k in CF_KINDS] + ["cf_funding_gap"] + [f"donor_{k}" for k in DONOR_KINDS]
    present = {k for r in rows for k in r}
    return [c for c in order if c in present]
