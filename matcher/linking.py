"""The linker: recommendations <-> Cooperation Framework items and donor activities (issue #5).

``match_store`` runs these named steps, in order, in one transaction (a failed run changes nothing):

    dirty         items new or changed since they were last matched (fingerprint in ``match_state``)
    classify      of those and of items never classified, classify the ones whose text, declared tags or
                  model changed, in worker processes (matcher.classification_store)
    profiles      load what the linker needs of the affected items, column-wise (matcher.profiles)
    block+score   per country: candidate pairs from the blocking rules, scored (matcher.blocking, .scoring)
    write         insert / update / remove ``auto`` links; reviewed links keep their decision
    materialise   coverage, dimensions and funding cells of the affected countries (matcher.coverage, .funding)

Incremental by default: a pair is rescored only when its recommendation or its item changed, so adding
1,000 recommendations does not recompute the rest.  ``full=True`` rescores every pair.  Each step's wall
and CPU seconds go into the summary (``bench/full_rebuild.py`` reports them).
"""
from __future__ import annotations

import hashlib
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from . import blocking, scoring
from .arrays import distinct
from .bulk import insert_columns, relaxed_gc
from .classification_store import current_model_version, settings_key
from .loading import _insert_many
from .models import Activity, CFItem, Link, MatchState, Recommendation
from .profiles import LINKABLE_CF_LEVELS, Profiles, fetch, load_profiles
from .settings import Settings, get_settings
from .store import lock_materialised

MATCHER_VERSION = "link-1"
ITEM_TYPES = ("cf_item", "activity")
ITEM_ORDER = {"recommendation": 0, "cf_item": 1, "activity": 2}
Progress = Callable[[str, int, int], None]  # (step, done, total)
WHOLE_LOAD_COUNTRIES = 50  # an incremental run touching this many countries reads every item, then keeps theirs


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
    cpu_seconds: dict = field(default_factory=dict)  # this process + its finished workers (classification)

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
    # the cluster similarity shapes the stored clusters that an incremental run builds on
    context = "|".join([current_model_version(), settings_key(), link_settings_key(s), MATCHER_VERSION,
                        f"cluster_similarity={s.cluster_similarity}"])
    stored = defaultdict(dict)
    for item_type, item_id, fp in fetch(session, select(MatchState.item_type, MatchState.item_id,
                                                         MatchState.fingerprint)):
        stored[item_type][item_id] = fp
    dirty, current = {}, {}
    for item_type, model in (("recommendation", Recommendation), ("cf_item", CFItem), ("activity", Activity)):
        stmt = select(model.id, model.content_hash)
        if item_type == "cf_item":
            stmt = stmt.where(CFItem.level.in_(LINKABLE_CF_LEVELS))
        fps = {i: _fingerprint(h, context) for i, h in fetch(session, stmt)}
        current[item_type] = fps
        old = stored.get(item_type, {})
        dirty[item_type] = set(fps) if full else {i for i, fp in fps.items() if old.get(i) != fp}
    return dirty, current


def match_store(engine: Engine, *, country: Optional[str] = None, full: bool = False, classify: bool = True,
                progress: Optional[Progress] = None) -> MatchSummary:
    """Classify what changed, then link recommendations to CF items and activities (see module doc).

    The garbage collector is relaxed meanwhile (``bulk.relaxed_gc``): a run builds hundreds of thousands of
    short-lived rows, and in a process that already holds much (a server, the model) full collections walk
    all of it again and again."""
    with relaxed_gc():
        return _match_store(engine, country=country, full=full, classify=classify, progress=progress)


def _match_store(engine: Engine, *, country: Optional[str], full: bool, classify: bool,
                 progress: Optional[Progress]) -> MatchSummary:
    from . import coverage, funding, lemma_cache
    from .classification_store import classify_store
    from .model import Analyzer

    s = get_settings()
    summary = MatchSummary(full=full)
    steps = _Steps(summary)
    with Session(engine) as session:
        if not full and _never_matched(session):
            full = summary.full = True  # a first run is a full run
        if full:
            _analyze(session)
        dirty, fingerprints = dirty_items(session, s, full)
        if country:
            dirty = {k: set(v) for k, v in dirty.items()}
        only = None if full else _to_classify(session, dirty)
        if country and only is not None:  # a --country run classifies what it will match: that country's items
            only = _in_country(session, only, country)
    if classify:
        done = classify_store(engine, ids=only,
                              progress=(lambda d, t: progress("classify", d, t)) if progress else None)
        summary.classified = done["classified"]
    steps.done("classify")

    rescore_all = full or country is not None
    with Session(engine) as session:
        lock_materialised(session)  # one writer of links and views at a time (PostgreSQL; see store)
        recs, items, countries = _load_scope(session, s, dirty, country, full)
        spec = _specificity(session)
        steps.done("profiles")

        analyzer = Analyzer()
        space = scoring.lemma_space([analyzer.lemmas(t or "") for t in recs.text]
                                    + lemma_cache.lemmas(session, items.text, rewrite=full))
        proposals = _score_countries(recs, items, countries, dirty, spec, space, s, summary, progress, rescore_all)
        steps.done("block_score")

        relinked = _write_links(session, proposals, countries, dirty, summary, rescore_all=rescore_all)
        _save_state(session, fingerprints, dirty, recs, items, country)
        steps.done("write")

        everything = len(dirty["recommendation"]) >= len(fingerprints["recommendation"])
        if rescore_all or everything:  # every recommendation of the countries changed: rebuild them whole
            coverage.materialise(session, countries, recs=recs if rescore_all else None, bulk=full or everything)
            funding.materialise(session, countries)
        else:  # only what changed, and funding only where links, labels or money changed
            coverage.refresh(session, changed=dirty["recommendation"], relinked=set(relinked))
            funding.materialise(session, _funding_countries(session, dirty, relinked, items))
        summary.links_total = session.execute(select(func.count()).select_from(Link)
                                              .where(Link.status != "rejected")).scalar_one()
        session.commit()
        steps.done("materialise")
    steps.total()
    return summary


class _Steps:
    """Wall and CPU seconds of each step into the summary (CPU: this process and its finished workers)."""

    def __init__(self, summary: MatchSummary):
        self.summary = summary
        self.start = self.last = self._now()

    @staticmethod
    def _now() -> tuple[float, float]:
        t = os.times()
        return time.perf_counter(), t.user + t.system + t.children_user + t.children_system

    def done(self, step: str) -> None:
        now = self._now()
        self.summary.seconds[step] = round(now[0] - self.last[0], 3)
        self.summary.cpu_seconds[step] = round(now[1] - self.last[1], 3)
        self.last = now

    def total(self) -> None:
        self.summary.seconds["total"] = round(self.last[0] - self.start[0], 3)
        self.summary.cpu_seconds["total"] = round(self.last[1] - self.start[1], 3)


ANALYZED_TABLES = ("recommendation", "cf_item", "activity", "item_tag", "item_country", "money_fact", "classification",
                   "link")


def _analyze(session: Session) -> None:
    """PostgreSQL: fresh planner statistics before a full run.  Right after a large import autovacuum has
    not analysed the new rows yet, and with the old statistics PostgreSQL read every label of an item
    type to look up one page of items (0.5 s a page instead of a few ms)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ANALYZED_TABLES:
        session.execute(text(f'ANALYZE "{table}"'))
    session.commit()


def _never_matched(session: Session) -> bool:
    return session.execute(select(MatchState.item_id).limit(1)).first() is None


def _to_classify(session: Session, dirty: dict[str, set[str]]) -> dict[str, set[str]]:
    """Items whose labels may be out of date: the changed ones and those never classified.

    An item whose match fingerprint is current has the text, declared tags, classifier model and
    settings it had when it was last matched -- and classified -- so it need not be read again.
    """
    from .models import Classification

    out = {}
    for item_type, model in (("recommendation", Recommendation), ("cf_item", CFItem), ("activity", Activity)):
        seen = select(Classification.item_id).where(Classification.item_type == item_type,
                                                    Classification.item_id == model.id).exists()
        out[item_type] = set(dirty.get(item_type, ())) | set(session.execute(select(model.id).where(~seen)).scalars())
    return out


def _in_country(session: Session, ids: dict[str, set[str]], country: str) -> dict[str, set[str]]:
    """The ids of ``ids`` (per item type) that are recommendations of ``country`` or items reaching it."""
    from .models import ItemCountry

    there = {"recommendation": set(session.execute(select(Recommendation.id).where(
        Recommendation.state_under_review == country)).scalars())}
    for item_type in ITEM_TYPES:
        there[item_type] = set(session.execute(select(ItemCountry.item_id).where(
            ItemCountry.item_type == item_type, ItemCountry.iso3 == country)).scalars())
    return {t: v & there.get(t, set()) for t, v in ids.items()}


def _load_scope(session: Session, s: Settings, dirty: dict[str, set[str]], country: Optional[str],
                full: bool) -> tuple[Profiles, Profiles, set[str]]:
    """Profiles of the recommendations and items whose pairs must be scored, and the countries concerned."""
    def items_of(countries=None) -> Profiles:
        if countries is not None and len(countries) < WHOLE_LOAD_COUNTRIES:
            return Profiles.concat(load_profiles(session, t, s, countries=countries) for t in ITEM_TYPES)
        every = Profiles.concat(load_profiles(session, t, s) for t in ITEM_TYPES)
        if countries is None:
            return every
        # many countries: reading every item at once beats long IN lists (PostgreSQL binds each id)
        return every.take(distinct(every.places.loc[every.places["iso3"].isin(list(countries)), "row"]
                                   .to_numpy(dtype=np.int64)))

    if country:
        return load_profiles(session, "recommendation", s, countries={country}), items_of(countries={country}), {country}
    if full:
        recs = load_profiles(session, "recommendation", s)
        return recs, items_of(), set(recs.places["iso3"])
    # incremental: dirty recommendations meet every item of their country; dirty items meet every
    # recommendation of the countries they reach
    dirty_recs = load_profiles(session, "recommendation", s, ids=dirty["recommendation"]) \
        if dirty["recommendation"] else Profiles.empty()
    dirty_items = Profiles.concat(load_profiles(session, t, s, ids=dirty[t]) for t in ITEM_TYPES if dirty[t])
    rec_countries, item_countries = set(dirty_recs.places["iso3"]), set(dirty_items.places["iso3"])
    # a recommendation or item whose country changed: the countries of its links too, so that its links there
    # are revisited (automatic ones go, as in a full run)
    rec_countries |= _link_countries(session, "recommendation", dirty["recommendation"])
    for item_type in ITEM_TYPES:
        item_countries |= _link_countries(session, item_type, dirty.get(item_type, set()))
    recs = _union(dirty_recs, load_profiles(session, "recommendation", s, countries=item_countries)
                  if item_countries else Profiles.empty())
    items = _union(dirty_items, items_of(countries=rec_countries) if rec_countries else Profiles.empty())
    return recs, items, rec_countries | item_countries


def _link_countries(session: Session, item_type: str, ids: set[str]) -> set[str]:
    """Countries in which these recommendations (``item_type`` "recommendation") or items have links."""
    if item_type == "recommendation":
        column, where = Link.recommendation_id, []
    else:
        column, where = Link.item_id, [Link.item_type == item_type]
    ids_, out = sorted(ids), set()
    for start in range(0, len(ids_), 5000):
        out |= set(session.execute(select(Link.country).distinct().where(
            *where, column.in_(ids_[start:start + 5000]))).scalars())
    return out


def _funding_countries(session: Session, dirty: dict[str, set[str]], relinked: dict[str, str],
                       items: Profiles) -> set[str]:
    """Countries whose funding cells may have changed in an incremental run: where links were added, rescored
    or removed, where a changed recommendation has links (its themes and targets may have changed), and
    where a changed item reaches (its money may have changed)."""
    out = set(relinked.values()) | _link_countries(session, "recommendation", set(dirty.get("recommendation", ())))
    changed_items = {(t, i) for t in ITEM_TYPES for i in dirty.get(t, ())}
    if changed_items and len(items):
        rows = [k for k, key in enumerate(zip(items.item_type, items.item_id)) if key in changed_items]
        out |= set(items.places.loc[items.places["row"].isin(rows), "iso3"])
    return out


def _union(a: Profiles, b: Profiles) -> Profiles:
    """The profiles of a and b, each item once, ordered by item type then id."""
    both = Profiles.concat([a, b])
    if not len(both):
        return both
    first = ~pd.Index(list(zip(both.item_type, both.item_id))).duplicated()
    rows = np.nonzero(first)[0]
    rank = np.array([ITEM_ORDER[t] for t in both.item_type[rows]])
    return both.take(rows[np.lexsort((both.item_id[rows].astype(str), rank))])


def _specificity(session: Session) -> dict[str, dict[str, float]]:
    """Specificity of every target, theme and goal from how many stored items carry it."""
    from .models import Classification

    n = sum(session.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (Recommendation, CFItem, Activity))
    df: dict[str, dict[str, int]] = {r.attribute: {} for r in blocking.RULES}
    attribute = {r.vocabulary: r.attribute for r in blocking.RULES}
    rows = session.execute(select(Classification.vocabulary, Classification.code, func.count())
                           .where(Classification.vocabulary.in_(list(attribute)))
                           .group_by(Classification.vocabulary, Classification.code))
    for vocabulary, code, count in rows:
        df[attribute[vocabulary]][code] = int(count)
    return {attr: blocking.specificity(counts, n) for attr, counts in df.items()}


def _score_countries(recs: Profiles, items: Profiles, countries: set[str], dirty: dict[str, set[str]], spec,
                     space: scoring.TextSpace, s: Settings, summary: MatchSummary, progress: Optional[Progress],
                     rescore_all: bool) -> dict:
    """Per country, the kept pairs: {(rec_id, item_type, item_id): (score, rule, components)}."""
    summary.without_country += len(recs) - recs.places["row"].nunique()
    rec_rows = {c: distinct(r.to_numpy(dtype=np.int64)) for c, r in recs.places.groupby("iso3")["row"]}
    reach = items.places[items.places["share"] > 0]
    item_rows = {c: distinct(r.to_numpy(dtype=np.int64)) for c, r in reach.groupby("iso3")["row"]}
    matrices = blocking.rule_matrices(recs, items, spec)
    rec_dirty = np.array([i in dirty["recommendation"] for i in recs.item_id], dtype=bool)
    item_dirty = np.array([i in dirty.get(t, ()) for t, i in zip(items.item_type, items.item_id)], dtype=bool)
    kinds = (items.item_type == "activity").astype(np.int64)
    empty = np.zeros(0, dtype=np.int64)
    kept: list[tuple[str, np.ndarray, np.ndarray, scoring.Scored]] = []
    ordered = sorted(countries)
    for k, c in enumerate(ordered):
        R, I = rec_rows.get(c, empty), item_rows.get(c, empty)
        summary.countries += 1
        summary.recommendations += len(R)
        summary.items += len(I)
        summary.all_pairs += len(R) * len(I)
        if len(R) and len(I):
            products = blocking.rule_products(matrices, R, I)
            for name, n in blocking.count_pairs(products).items():
                summary.pairs[name] += n
            rows, cols, rule = blocking.candidates(products)
            if not rescore_all:
                mask = rec_dirty[R][rows] | item_dirty[I][cols]
                rows, cols, rule = rows[mask], cols[mask], rule[mask]
            summary.scored += len(rows)
            if len(rows):
                kept.append((c, R, I, scoring.score_block(products, space, R, len(recs) + I, rows, cols, rule,
                                                           kinds[I], s)))
        if progress:
            progress("match", k + 1, len(ordered))
    return _proposals(recs, items, kept, spec, space, s)


def _proposals(recs: Profiles, items: Profiles, kept: list, spec, space: scoring.TextSpace, s: Settings) -> dict:
    """Components and explanation material of every kept pair, per country (the only per-pair Python loop)."""
    rec_labels = recs.label_dicts(np.concatenate([R[b.rows] for _, R, _, b in kept]) if kept else [])
    item_labels = items.label_dicts(np.concatenate([I[b.cols] for _, _, I, b in kept]) if kept else [])
    out: dict[str, dict] = {}
    for c, R, I, b in kept:
        links = out.setdefault(c, {})
        for j in range(len(b.rows)):
            r, i = int(R[b.rows[j]]), int(I[b.cols[j]])
            components = {name: round(float(b.components[name][j]), 4) for name in scoring.COMPONENTS}
            for rule in blocking.RULES:
                components[f"shared_{rule.attribute}"] = scoring.shared_labels(
                    rec_labels.get(r, {}), item_labels.get(i, {}), rule.vocabulary, spec[rule.attribute])
            components["words"] = scoring.shared_terms(space, r, len(recs) + i, s.link_explain_terms)
            links[(recs.item_id[r], items.item_type[i], items.item_id[i])] = (
                round(float(b.score[j]), 4), blocking.RULES[int(b.rule[j])].name, components)
    return out


def _write_links(session: Session, proposals: dict, countries: set[str], dirty: dict[str, set[str]],
                 summary: MatchSummary, rescore_all: bool) -> dict[str, str]:
    """Insert new links, update rescored ones, remove auto links no longer proposed; never touch a decision.

    Returns {recommendation id: country} of the recommendations whose links were inserted, updated or removed.
    """
    now = datetime.now(timezone.utc)
    inserts, updates, removes = [], [], []
    relinked: dict[str, str] = {}
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
                relinked[rec_id] = c
                updates.append({"id": link_id, "score": sc, "rule": rule, "components": comps,
                                "explanation": scoring.explain(comps, item_type, sc),
                                "matcher_version": MATCHER_VERSION, "updated_at": now})
                summary.links_updated += 1
            elif status == "confirmed":
                summary.reviewed_kept += 1  # a person confirmed it: it stays even if the score fell
            else:
                relinked[rec_id] = c
                removes.append(link_id)
        for key, (sc, rule, comps) in kept.items():
            if key in seen:
                continue
            rec_id, item_type, item_id = key
            relinked[rec_id] = c
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
    return relinked


def _save_state(session: Session, fingerprints: dict, dirty: dict[str, set[str]], recs: Profiles, items: Profiles,
                country: Optional[str]) -> None:
    """Record the fingerprint of every item matched in this run (a --country run: only items wholly in it)."""
    now = datetime.now(timezone.utc)
    abroad: set[tuple[str, str]] = set()
    if country:
        for p in (recs, items):
            other = p.places[p.places["iso3"] != country]["row"].to_numpy(dtype=np.int64)
            abroad |= set(zip(p.item_type[other], p.item_id[other]))
        matched = set(zip(recs.item_type, recs.item_id)) | set(zip(items.item_type, items.item_id))
    rows = []
    for item_type, ids in dirty.items():
        for i in ids:
            if country and ((item_type, i) not in matched or (item_type, i) in abroad):
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
    insert_columns(session, MatchState, {k: [r[k] for r in rows] for k in ("item_type", "item_id", "fingerprint",
                                                                          "matched_at")} if rows else {})


def review_link(session: Session, link_id: int, *, decision: str, reviewer: str, reason: Optional[str] = None) -> Link:
    """Confirm or reject a link (``decision`` "confirmed" | "rejected"); the matcher never overrides it.

    The recommendation's coverage and the gap and funding cells of the link's country are updated at once,
    so views show the decision.
    """
    from . import coverage, funding

    if decision not in ("confirmed", "rejected", "auto"):
        raise ValueError(f"decision must be 'confirmed' or 'rejected' (or 'auto' to undo), not {decision!r}")
    if not reviewer or not reviewer.strip():
        raise ValueError("a review needs the reviewer's name")
    lock_materialised(session)
    link = session.get(Link, link_id)
    if link is None:
        raise LookupError(f"no link with id {link_id}")
    link.status = decision
    link.reviewer = reviewer.strip()[:200]
    link.review_reason = reason
    link.reviewed_at = datetime.now(timezone.utc)
    session.add(link)
    session.flush()
    coverage.refresh(session, changed=(), relinked={link.recommendation_id})
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

