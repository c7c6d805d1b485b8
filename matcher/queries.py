"""Read-side queries shared by the CLI and the API: store statistics and recommendation lists."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Optional

from sqlalchemy import Integer, cast, func, or_, select
from sqlmodel import Session

from .cooperation import LEVELS as CF_LEVELS
from .countries import to_iso3
from .models import (Activity, CFItem, Classification, ItemCountry, ItemTag, MoneyFact, Recommendation,
                     RecommendingState, Response)


def stats(session: Session) -> dict:
    """Counts of everything in the store (the ``upr-align stats --json`` shape).

    ``money`` sums amounts per (source_type, kind, currency) in the original currency; facts that
    must not be summed as spending (``counted`` false) are left out.
    """
    total = session.execute(select(func.count()).select_from(Recommendation)).one()[0]
    by_response = dict(session.execute(select(Recommendation.response, func.count()).group_by(Recommendation.response)).all())
    by_state_rows = session.execute(
        select(Recommendation.state_under_review, func.count()).group_by(Recommendation.state_under_review)
    ).all()
    by_state = {(k or "unresolved"): v for k, v in sorted(by_state_rows, key=lambda kv: kv[0] or "~")}
    money_rows = session.execute(
        select(MoneyFact.source_type, MoneyFact.kind, MoneyFact.currency, _exact_sum(session), func.count())
        .where(MoneyFact.counted.is_(True))  # type: ignore[union-attr]
        .group_by(MoneyFact.source_type, MoneyFact.kind, MoneyFact.currency)
        .order_by(MoneyFact.source_type, MoneyFact.kind, MoneyFact.currency)
    ).all()
    money = [
        {"source_type": st, "kind": kind, "currency": cur, "amount": _money(amount), "facts": n}
        for st, kind, cur, amount, n in money_rows
    ]
    return {
        "recommendations": {"total": total, "by_response": by_response, "by_state": by_state},
        "cf_items": {"total": session.execute(select(func.count()).select_from(CFItem)).one()[0]},
        "activities": {"total": session.execute(select(func.count()).select_from(Activity)).one()[0]},
        "money": money,
    }


def _exact_sum(session: Session):
    """SUM(amount) without floating-point drift: PostgreSQL sums NUMERIC exactly; SQLite stores it as a
    float, so it sums integer units of 1/10,000 (exact up to ~9 * 10^14 per group)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.sum(cast(func.round(MoneyFact.amount * 10000), Integer))
    return func.sum(MoneyFact.amount) * 10000


def _money(units) -> float:
    """A sum in 1/10,000 units -> amount rounded to the cent."""
    return float((Decimal(str(units or 0)) / 10000).quantize(Decimal("0.01")))


def list_recommendations(
    session: Session,
    *,
    country: Optional[str] = None,
    response: Optional[str] = None,
    theme: Optional[str] = None,
    q: Optional[str] = None,
    cycle: Optional[int] = None,
    sdg: Optional[str] = None,
    action_category: Optional[int] = None,
    limit: Optional[int] = 100,
    offset: int = 0,
) -> tuple[list[dict], int]:
    """Recommendations matching the filters, with their states and tags, and the total count.

    ``country`` is an ISO3 code or a name; ``theme`` matches a theme's id or label (any vocabulary,
    declared or predicted); ``sdg`` an SDG goal ("5") or target ("5.2"), declared or predicted;
    ``q`` is a case-insensitive substring of the text.
    """
    if action_category is not None and not 1 <= action_category <= 5:
        raise ValueError("action category must be 1-5")
    if response and response not in {r.value for r in Response}:
        raise ValueError(f"unknown response '{response}': use one of {', '.join(r.value for r in Response)}")
    stmt = select(Recommendation)
    if country:
        iso3 = to_iso3(country)
        if iso3 is None:
            raise ValueError(f"unknown country '{country}'")
        stmt = stmt.where(Recommendation.state_under_review == iso3)
    if response:
        stmt = stmt.where(Recommendation.response == response)
    if theme:
        t = theme.casefold()
        tagged = select(ItemTag.item_id).where(
            ItemTag.item_type == "recommendation",
            ItemTag.vocabulary.in_(("uprinfo", "uhri", "theme")),  # type: ignore[attr-defined]
            or_(func.lower(ItemTag.code) == t, func.lower(ItemTag.label) == t),
        )
        predicted = select(Classification.item_id).where(
            Classification.item_type == "recommendation", Classification.vocabulary == "uprinfo",
            func.lower(Classification.code) == t)
        stmt = stmt.where(or_(Recommendation.id.in_(tagged), Recommendation.id.in_(predicted)))  # type: ignore[attr-defined]
    if sdg:
        declared = _sdg_filter("recommendation", sdg)
        vocabulary, code = _sdg_code(sdg)
        predicted = select(Classification.item_id).where(
            Classification.item_type == "recommendation", Classification.vocabulary == vocabulary,
            Classification.code == code)
        stmt = stmt.where(or_(Recommendation.id.in_(declared), Recommendation.id.in_(predicted)))  # type: ignore[attr-defined]
    if cycle is not None:
        stmt = stmt.where(Recommendation.cycle == cycle)
    if action_category is not None:
        stmt = stmt.where(Recommendation.action_category == action_category)
    if q:
        stmt = stmt.where(func.lower(Recommendation.text).contains(q.casefold()))
    count = session.execute(select(func.count()).select_from(stmt.subquery())).one()[0]
    stmt = stmt.order_by(Recommendation.state_under_review, Recommendation.session, Recommendation.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    recs = session.execute(stmt).scalars().all()
    return _with_children(session, recs), count


def get_recommendation(session: Session, rec_id: str) -> Optional[dict]:
    """One recommendation as ``list_recommendations`` shows it, or None."""
    rec = session.get(Recommendation, rec_id)
    return _with_children(session, [rec])[0] if rec is not None else None


def _with_children(session: Session, recs) -> list[dict]:
    ids = [r.id for r in recs]
    states: dict[str, list[dict]] = defaultdict(list)
    tags: dict[str, list[ItemTag]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        for s in session.execute(select(RecommendingState).where(RecommendingState.recommendation_id.in_(part))
                              .order_by(RecommendingState.position)).scalars():
            states[s.recommendation_id].append({"iso3": s.iso3, "name": s.name})
        for t in session.execute(select(ItemTag).where(ItemTag.item_type == "recommendation", ItemTag.item_id.in_(part))).scalars():
            tags[t.item_id].append(t)
    out = []
    for r in recs:
        d = r.model_dump(exclude={"content_hash", "batch_id", "updated_at"})
        ts = tags.get(r.id, [])
        d["recommending_states"] = states.get(r.id, [])
        d["themes"] = [{"vocabulary": t.vocabulary, "id": t.code, "label": t.label} for t in ts
                       if t.vocabulary not in ("sdg_goal", "sdg_target", "affected_persons")]
        d["sdgs"] = [{"vocabulary": t.vocabulary, "code": t.code, "label": t.label} for t in ts
                     if t.vocabulary in ("sdg_goal", "sdg_target")]
        d["affected_persons"] = [t.code for t in ts if t.vocabulary == "affected_persons"]
        out.append(d)
    return out


def _tagged(item_type: str, vocabularies: tuple[str, ...], code: str):
    return select(ItemTag.item_id).where(
        ItemTag.item_type == item_type, ItemTag.vocabulary.in_(vocabularies), ItemTag.code == code  # type: ignore[attr-defined]
    )


def _in_country(item_type: str, iso3: str):
    return select(ItemCountry.item_id).where(ItemCountry.item_type == item_type, ItemCountry.iso3 == iso3)


def _sdg_code(sdg: str) -> tuple[str, str]:
    """("sdg_goal", "5") or ("sdg_target", "5.2") for a user's code; an invalid code is an error, not 0 rows."""
    from .taxonomy import normalise_target

    raw = sdg.strip().upper().removeprefix("SDG").strip()
    if raw.isdigit() and 1 <= int(raw) <= 17:
        return "sdg_goal", str(int(raw))
    target = normalise_target(sdg)
    if target is None:
        raise ValueError(f"'{sdg}' is not an SDG goal (1-17) or target (e.g. 5.2, 4.a)")
    return "sdg_target", target


def _sdg_filter(item_type: str, sdg: str):
    """Items declaring SDG goal ``sdg`` ("5") or target ("5.2")."""
    vocabulary, code = _sdg_code(sdg)
    return _tagged(item_type, (vocabulary,), code)


def list_cf_items(
    session: Session, *, country: Optional[str] = None, sdg: Optional[str] = None, level: Optional[str] = None,
    q: Optional[str] = None, limit: Optional[int] = 100, offset: int = 0,
) -> tuple[list[dict], int]:
    """Cooperation Framework items filtered by country (ISO3/name, incl. multi-country groups), SDG goal or
    target (declared), level and text; with the total count."""
    stmt = select(CFItem)
    if country:
        iso3 = _iso3_or_error(country)
        stmt = stmt.where(or_(CFItem.country == iso3, CFItem.id.in_(_in_country("cf_item", iso3))))  # type: ignore[attr-defined]
    if sdg:
        stmt = stmt.where(CFItem.id.in_(_sdg_filter("cf_item", sdg)))  # type: ignore[attr-defined]
    if level:
        if level not in CF_LEVELS:
            raise ValueError(f"unknown level '{level}': use one of {', '.join(CF_LEVELS)}")
        stmt = stmt.where(CFItem.level == level)
    if q:
        stmt = stmt.where(func.lower(CFItem.title + " " + func.coalesce(CFItem.description, "")).contains(q.casefold()))
    return _page(session, stmt, CFItem.id, limit, offset, "cf_item")


def list_activities(
    session: Session, *, country: Optional[str] = None, sdg: Optional[str] = None, sector: Optional[str] = None,
    q: Optional[str] = None, limit: Optional[int] = 100, offset: int = 0,
) -> tuple[list[dict], int]:
    """Donor activities filtered by recipient country, declared SDG goal/target, DAC sector code and text."""
    stmt = select(Activity)
    if country:
        stmt = stmt.where(Activity.id.in_(_in_country("activity", _iso3_or_error(country))))  # type: ignore[attr-defined]
    if sdg:
        stmt = stmt.where(Activity.id.in_(_sdg_filter("activity", sdg)))  # type: ignore[attr-defined]
    if sector:
        stmt = stmt.where(Activity.id.in_(_tagged("activity", ("dac5", "dac3", "sector"), sector)))  # type: ignore[attr-defined]
    if q:
        stmt = stmt.where(func.lower(Activity.title + " " + func.coalesce(Activity.description, "")).contains(q.casefold()))
    return _page(session, stmt, Activity.id, limit, offset, "activity")


def _iso3_or_error(country: str) -> str:
    iso3 = to_iso3(country)
    if iso3 is None:
        raise ValueError(f"unknown country '{country}'")
    return iso3


def _page(session: Session, stmt, order, limit, offset, item_type: str) -> tuple[list[dict], int]:
    count = session.execute(select(func.count()).select_from(stmt.subquery())).one()[0]
    stmt = stmt.order_by(order).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    items = session.execute(stmt).scalars().all()
    ids = [i.id for i in items]
    tags: dict[str, list[str]] = defaultdict(list)
    countries: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        for t in session.execute(select(ItemTag).where(ItemTag.item_type == item_type, ItemTag.item_id.in_(part),  # type: ignore[attr-defined]
                                                        ItemTag.vocabulary.in_(("sdg_goal", "sdg_target")))).scalars():  # type: ignore[attr-defined]
            tags[t.item_id].append(t.code)
        for c in session.execute(select(ItemCountry).where(ItemCountry.item_type == item_type, ItemCountry.item_id.in_(part))).scalars():  # type: ignore[attr-defined]
            countries[c.item_id].append(c.iso3 or c.name or "?")
    out = []
    for it in items:
        d = it.model_dump(exclude={"content_hash", "batch_id", "updated_at"})
        d["sdgs"] = sorted(set(tags.get(it.id, [])), key=_sdg_key)
        d["countries"] = countries.get(it.id, [])
        out.append(d)
    return out, count


def _sdg_key(code: str):
    return [int(p) if p.isdigit() else 100 + ord(p[0]) for p in code.split(".")]
