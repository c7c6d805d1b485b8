"""The linker: recommendations <-> Cooperation Framework items and donor activities (issue #5).

``match_store`` runs these named steps, in order, in one transaction (a failed run changes nothing):

    classify      classify items whose text, declared tags or model changed (matcher.classification_store)
    dirty         items new or changed since they were last matched (fingerprint in ``match_state``)
    profiles      load what the linker needs of the affected items (matcher.profiles)
    block+score   per country: candidate pairs from the blocking rules, scored (matcher.blocking, .scoring)
    write         insert / update / remove ``auto`` links; reviewed links keep their decision
    materialise   coverage, dimensions and funding cells of the affected countries (matcher.coverage, .funding)

Incremental by default: a pair is rescored only when its recommendation or its item changed, so adding
1,000 recommendations does not recompute the rest.  ``full=True`` rescores every pair.
"""
from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from . import blocking, scoring
from .classification_store import current_model_version, settings_key
from .loading import _insert_many
from .models import Activity, CFItem, Link, MatchState, Recommendation
from .profiles import LINKABLE_CF_LEVELS, Profile, load_profiles
from .settings import Settings, get_settings

MATCHER_VERSION = "link-1"
ITEM_TYPES = ("cf_item", "activity")
Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class MatchSummary:
    """What one run did; ``pairs`` counts candidate pairs per blocking rule (before scoring)."""

    full: bool
    countries: int = 0
    recommendations: int = 0
    items: int = 0
    all_pairs: int = 0
    pairs: dict = field(default_factory=lambda: {r.name: 0 for r in blocking.RULES} | {"total": 0})
    scored: int = 0
    links_created: int = 0
    links_updated: int = 0
    links_removed: int = 0
    links_total: int = 0
    reviewed_kept: int = 0
    without_country: int = 0
    classified: int = 0
    seconds: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def link_settings_key(s: Settings) -> str:
    """The linker's settings as text: changing one makes every item dirty."""
    return repr(sorted((k, v) for k, v in s.model_dump().items() if k.startswith("link_")))


def _fingerprint(content_hash: str, context: str) -> str:
    return hashlib.sha256(f"{content_hash}|{context}".encode()).hexdigest()


def dirty_items(session: Session, s: Settings, full: bool) -> tuple[dict[str, set[str]], dict[str, dict[str, str]]]:
    """Per item type, the ids to (re)match, and every item's current fingerprint.

    The fingerprint hashes the item's content hash (text, tags, countries), the classifier's model
    version and settings, and the linker's settings and version: when any of them changes, the item's
    pairs are rescored.
    """
    context = "|".join([current_model_version(), settings_key(), link_settings_key(s), MATCHER_VERSION])
    stored = defaultdict(dict)
    for item_type, item_id, fp in session.execute(select(MatchState.item_type, MatchState.item_id,
                                                          MatchState.fingerprint)):
        stored[item_type][item_id] = fp
    dirty, current = {}, {}
    for item_type, model in (("recommendation", Recommendation), ("cf_item", CFItem), ("activity", Activity)):
        stmt = select(model.id, model.content_hash)
        if item_type == "cf_item":
            stmt = stmt.where(CFItem.level.in_(LINKABLE_CF_LEVELS))
        fps = {i: _fingerprint(h, context) for i, h in session.execute(stmt)}
        current[item_type] = fps
        old = stored.get(item_type, {})
        dirty[item_type] = set(fps) if full else {i for i, fp in fps.items() if old.get(i) != fp}
    return dirty, current


def match_store(engine: Engine, *, country: Optional[str] = None, full: bool = False, classify: bool = True,
                progress: Optional[Progress] = None) -> MatchSummary:
    """Classify what changed, then link recommendations to CF items and activities (see module doc)."""
    from . import coverage, funding
    from .classification_store import classify_store

    s = get_settings()
    summary = MatchSummary(full=full)
    clock = time.perf_counter()
    if classify:
        done = classify_store(engine, progress=(lambda d, t: progress("classify", d, t)) if progress else None)
        summary.classified = done["classified"]
    summary.seconds["classify"] = round(time.perf_counter() - clock, 3)

    with Session(engine) as session:
        t = time.perf_counter()
        if not full and _never_matched(session):
            full = summary.full = True  # a first run is a full run
        dirty, fingerprints = dirty_items(session, s, full)
        if country:
            dirty = {k: set(v) for k, v in dirty.items()}
        recs, items, countries = _load_scope(session, s, dirty, country, full)
        summary.seconds["profiles"] = round(time.perf_counter() - t, 3)

        t = time.perf_counter()
        spec = _specificity(session)
        space = scoring.text_space(list(recs.values()) + [p for ps in items.values() for p in ps.values()])
        proposals = _score_countries(recs, items, countries, dirty, spec, space, s, summary, progress,
                                     rescore_all=full or country is not None)
        summary.seconds["block_score"] = round(time.perf_counter() - t, 3)

        t = time.perf_counter()
        _write_links(session, proposals, countries, dirty, summary, rescore_all=full or country is not None)
        _save_state(session, fingerprints, dirty, recs, items, country)
        summary.seconds["write"] = round(time.perf_counter() - t, 3)

        t = time.perf_counter()
        coverage.materialise(session, countries)
        funding.materialise(session, countries)
        summary.seconds["materialise"] = round(time.perf_counter() - t, 3)
        summary.links_total = session.execute(select(func.count()).select_from(Link)
                                              .where(Link.status != "rejected")).scalar_one()
        session.commit()
    summary.seconds["total"] = round(time.perf_counter() - clock, 3)
    return summary


def _never_matched(session: Session) -> bool:
    return session.execute(select(MatchState.item_id).limit(1)).first() is None


def _load_scope(session: Session, s: Settings, dirty: dict[str, set[str]], country: Optional[str], full: bool):
    """Profiles of the recommendations and items whose pairs must be scored, and the countries concerned."""
    if country:
        countries = {country}
        recs = load_profiles(session, "recommendation", s, countries=countries)
        items = {t: load_profiles(session, t, s, countries=countries) for t in ITEM_TYPES}
        return recs, items, countries
    if full:
        recs = load_profiles(session, "recommendation", s)
        items = {t: load_profiles(session, t, s) for t in ITEM_TYPES}
        countries = {c for p in recs.values() for c in p.countries}
        return recs, items, countries
    # incremental: dirty recommendations meet every item of their country; dirty items meet every
    # recommendation of the countries they reach
    dirty_recs = load_profiles(session, "recommendation", s, ids=dirty["recommendation"]) \
        if dirty["recommendation"] else {}
    dirty_items = {t: load_profiles(session, t, s, ids=dirty[t]) if dirty[t] else {} for t in ITEM_TYPES}
    rec_countries = {c for p in dirty_recs.values() for c in p.countries}
    item_countries = {c for ps in dirty_items.values() for p in ps.values() for c in p.countries}
    countries = rec_countries | item_countries
    recs = dict(dirty_recs)
    if item_countries:
        recs.update(load_profiles(session, "recommendation", s, countries=item_countries))
    items = {}
    for t in ITEM_TYPES:
        items[t] = dict(dirty_items[t])
        if rec_countries:
            items[t].update(load_profiles(session, t, s, countries=rec_countries))
    return recs, items, countries


def _specificity(session: Session) -> dict[str, dict[str, float]]:
    """Specificity of every target, theme and goal from how many stored items carry it."""
    from .models import Classification

    n = sum(session.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Recommendation, CFItem, Activity))
    vocab_attr = {"sdg_target": "targets", "uprinfo": "themes", "sdg_goal": "goals"}
    df: dict[str, dict[str, int]] = {a: {} for a in vocab_attr.values()}
    rows = session.execute(select(Classification.vocabulary, Classification.code, func.count())
                           .where(Classification.vocabulary.in_(list(vocab_attr)))
                           .group_by(Classification.vocabulary, Classification.code))
    for vocabulary, code, count in rows:
        df[vocab_attr[vocabulary]][code] = int(count)
    return {attr: blocking.specificity(counts, n) for attr, counts in df.items()}


def _score_countries(recs: dict[str, Profile], items: dict[str, dict[str, Profile]], countries: set[str],
                     dirty: dict[str, set[str]], spec, space: scoring.TextSpace, s: Settings,
                     summary: MatchSummary, progress: Optional[Progress], rescore_all: bool) -> dict:
    """Per country, the kept pairs: {(rec_id, item_type, item_id): (score, rule, components)}."""
    by_country: dict[str, list[Profile]] = defaultdict(list)
    for p in recs.values():
        if not p.countries:
            summary.without_country += 1
        for c in p.countries:
            by_country[c].append(p)
    item_list = [p for t in ITEM_TYPES for p in items[t].values()]
    reach: dict[str, list[Profile]] = defaultdict(list)
    for p in item_list:
        for c, share in p.countries.items():
            if share > 0:
                reach[c].append(p)
    out: dict[str, dict] = {}
    ordered = sorted(countries)
    for k, c in enumerate(ordered):
        R, I = sorted(by_country.get(c, []), key=lambda p: p.item_id), reach.get(c, [])
        summary.countries += 1
        summary.recommendations += len(R)
        summary.items += len(I)
        summary.all_pairs += len(R) * len(I)
        out[c] = _score_country(R, I, dirty, spec, space, s, summary, rescore_all) if R and I else {}
        if progress:
            progress("match", k + 1, len(ordered))
    return out


def _score_country(R: list[Profile], I: list[Profile], dirty, spec, space, s: Settings, summary: MatchSummary,
                   rescore_all: bool) -> dict:
    products = blocking.rule_products(R, I, spec)
    for name, n in blocking.count_pairs(products).items():
        summary.pairs[name] += n
    rows, cols, rule = blocking.candidates(products)
    if not rescore_all:
        rec_dirty = np.array([p.item_id in dirty["recommendation"] for p in R])
        item_dirty = np.array([p.item_id in dirty[p.item_type] for p in I])
        mask = rec_dirty[rows] | item_dirty[cols]
        rows, cols, rule = rows[mask], cols[mask], rule[mask]
    summary.scored += len(rows)
    if not len(rows):
        return {}
    comps = {name: np.minimum(np.asarray(products[name][rows, cols]).ravel(), 1.0)
             for name in ("target", "theme", "goal")}
    comps["text"] = scoring.text_similarity(
        space, np.array([space.row[("recommendation", R[r].item_id)] for r in rows]),
        np.array([space.row[(I[i].item_type, I[i].item_id)] for i in cols]))
    score = scoring.combine(comps, s)
    keep = np.nonzero(score >= s.link_threshold)[0]
    # at most link_max_per_recommendation per recommendation and item type, the best first
    kinds = np.array([0 if I[i].item_type == "cf_item" else 1 for i in cols])
    order = keep[np.lexsort((-score[keep], kinds[keep], rows[keep]))]
    kept: dict = {}
    count: dict[tuple[int, int], int] = defaultdict(int)
    for j in order:
        key = (int(rows[j]), int(kinds[j]))
        if count[key] >= s.link_max_per_recommendation:
            continue
        count[key] += 1
        rec, item = R[rows[j]], I[cols[j]]
        components = {name: round(float(comps[name][j]), 4) for name in scoring.COMPONENTS}
        components["shared_targets"] = scoring.shared_labels(rec, item, "targets", "sdg_target", spec["targets"])
        components["shared_themes"] = scoring.shared_labels(rec, item, "themes", "uprinfo", spec["themes"])
        components["shared_goals"] = scoring.shared_labels(rec, item, "goals", "sdg_goal", spec["goals"])
        components["words"] = scoring.shared_terms(space, space.row[("recommendation", rec.item_id)],
                                                   space.row[(item.item_type, item.item_id)], s.link_explain_terms)
        kept[(rec.item_id, item.item_type, item.item_id)] = (
            round(float(score[j]), 4), blocking.RULES[int(rule[j])].name, components)
    return kept


def _write_links(session: Session, proposals: dict, countries: set[str], dirty: dict[str, set[str]],
                 summary: MatchSummary, rescore_all: bool) -> None:
    """Insert new links, update rescored ones, remove auto links no longer proposed; never touch a decision."""
    now = datetime.now(timezone.utc)
    inserts, updates, removes = [], [], []
    for c in sorted(countries):
        existing = session.execute(select(Link.id, Link.recommendation_id, Link.item_type, Link.item_id, Link.status)
                                   .where(Link.country == c)).all()
        kept = proposals.get(c, {})
        seen = set()
        for link_id, rec_id, item_type, item_id, status in existing:
            key = (rec_id, item_type, item_id)
            in_scope = rescore_all or rec_id in dirty["recommendation"] or item_id in dirty.get(item_type, ())
            if not in_scope:
                continue
            seen.add(key)
            if status == "rejected":
                summary.reviewed_kept += 1
                continue  # a rejected pair never comes back, whatever its new score
            if key in kept:
                sc, rule, comps = kept[key]
                updates.append({"id": link_id, "score": sc, "rule": rule, "components": comps,
                                "explanation": scoring.explain(comps, item_type, sc),
                                "matcher_version": MATCHER_VERSION, "updated_at": now})
                summary.links_updated += 1
            elif status == "confirmed":
                summary.reviewed_kept += 1  # a person confirmed it: it stays even if the score fell
            else:
                removes.append(link_id)
        for key, (sc, rule, comps) in kept.items():
            if key in seen:
                continue
            rec_id, item_type, item_id = key
            inserts.append({"recommendation_id": rec_id, "item_type": item_type, "item_id": item_id, "country": c,
                            "score": sc, "rule": rule, "components": comps,
                            "explanation": scoring.explain(comps, item_type, sc), "status": "auto",
                            "matcher_version": MATCHER_VERSION, "updated_at": now})
    for start in range(0, len(removes), 5000):
        session.execute(delete(Link).where(Link.id.in_(removes[start:start + 5000])))
    summary.links_removed = len(removes)
    if updates:
        session.execute(update(Link), updates)
    for start in range(0, len(inserts), 5000):
        _insert_many(session, Link, inserts[start:start + 5000])
    summary.links_created = len(inserts)


def _save_state(session: Session, fingerprints: dict, dirty: dict[str, set[str]], recs: dict, items: dict,
                country: Optional[str]) -> None:
    """Record the fingerprint of every item matched in this run (a --country run: only items wholly in it)."""
    now = datetime.now(timezone.utc)
    rows = []
    for item_type, ids in dirty.items():
        for i in ids:
            if country:
                p = recs.get(i) if item_type == "recommendation" else items.get(item_type, {}).get(i)
                if p is None or set(p.countries) - {country}:
                    continue
            rows.append({"item_type": item_type, "item_id": i, "fingerprint": fingerprints[item_type][i],
                         "matched_at": now})
    by_type = defaultdict(list)
    for r in rows:
        by_type[r["item_type"]].append(r["item_id"])
    for item_type, ids in by_type.items():
        for start in range(0, len(ids), 5000):
            session.execute(delete(MatchState).where(MatchState.item_type == item_type,
                                                     MatchState.item_id.in_(ids[start:start + 5000])))
    for start in range(0, len(rows), 5000):
        _insert_many(session, MatchState, rows[start:start + 5000])


def review_link(session: Session, link_id: int, *, decision: str, reviewer: str, reason: Optional[str] = None) -> Link:
    """Confirm or reject a link (``decision`` "confirmed" | "rejected"); the matcher never overrides it.

    Coverage and funding of the link's country are rebuilt at once, so views show the decision.
    """
    from . import coverage, funding

    if decision not in ("confirmed", "rejected", "auto"):
        raise ValueError(f"decision must be 'confirmed' or 'rejected' (or 'auto' to undo), not {decision!r}")
    if not reviewer or not reviewer.strip():
        raise ValueError("a review needs the reviewer's name")
    link = session.get(Link, link_id)
    if link is None:
        raise LookupError(f"no link with id {link_id}")
    link.status = decision
    link.reviewer = reviewer.strip()[:200]
    link.review_reason = reason
    link.reviewed_at = datetime.now(timezone.utc)
    session.add(link)
    session.flush()
    coverage.materialise(session, {link.country})
    funding.materialise(session, {link.country})
    session.commit()
    session.refresh(link)
    return link


def list_links(session: Session, *, country: Optional[str] = None, recommendation_id: Optional[str] = None,
               item_type: Optional[str] = None, status: Optional[str] = None, min_score: float = 0.0,
               limit: int = 100, offset: int = 0) -> tuple[list[Link], int]:
    """Links with their explanations, the best first, and how many match the filters."""
    stmt = select(Link)
    if country:
        stmt = stmt.where(Link.country == country)
    if recommendation_id:
        stmt = stmt.where(Link.recommendation_id == recommendation_id)
    if item_type:
        if item_type not in ITEM_TYPES:
            raise ValueError(f"item type must be one of {', '.join(ITEM_TYPES)}")
        stmt = stmt.where(Link.item_type == item_type)
    if status:
        if status not in ("auto", "confirmed", "rejected"):
            raise ValueError("status must be auto, confirmed or rejected")
        stmt = stmt.where(Link.status == status)
    if min_score:
        stmt = stmt.where(Link.score >= min_score)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Link.score.desc(), Link.id).limit(limit).offset(offset)).scalars().all()
    return list(rows), total

