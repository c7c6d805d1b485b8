"""What the linker knows of each item: countries with shares, weighted labels and text (issue #5).

A *profile* is read from the store, never from the files: the item's countries (``item_country``; a
recommendation's state under review), its SDG targets, goals and UPR Info themes (the classifier's
rows in ``classification``, which repeat the declared tags with method ``declared``; declared
``item_tag`` rows for items that were never classified) and its text.

Label weights, in [0, 1]: a declared label weighs ``link_weight_declared``; a predicted one its
classifier score times ``link_weight_predicted`` -- declared tags count more than predictions.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional

from sqlalchemy import select
from sqlmodel import Session

from .classification_store import item_text
from .models import Activity, CFItem, Classification, ItemCountry, ItemTag, Recommendation
from .settings import Settings

LINKABLE_CF_LEVELS = ("outcome", "output", "sub_output")  # the levels that carry text of their own
VOCABULARIES = {"sdg_target": "targets", "sdg_goal": "goals", "uprinfo": "themes"}


@dataclass
class Profile:
    """One item as the linker sees it.  ``origin`` maps (vocabulary, code) to "declared" | "predicted" | "both"."""

    item_type: str
    item_id: str
    text: str
    countries: dict[str, float] = field(default_factory=dict)  # ISO3 -> share of the item in [0, 1]
    targets: dict[str, float] = field(default_factory=dict)
    goals: dict[str, float] = field(default_factory=dict)
    themes: dict[str, float] = field(default_factory=dict)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)
    response: Optional[str] = None
    action_category: Optional[int] = None

    def fingerprint(self) -> str:
        """sha256 of everything a link depends on: text, countries with shares, labels with weights."""
        h = hashlib.sha256(self.text.encode("utf-8"))
        for part in (self.countries, self.targets, self.goals, self.themes):
            h.update(repr(sorted((k, round(v, 4)) for k, v in part.items())).encode())
        return h.hexdigest()


def country_shares(rows: Iterable[tuple[Optional[str], Optional[float]]]) -> dict[str, float]:
    """ISO3 -> share in [0, 1] from (iso3, share_pct) rows.

    Percentages are used as given (IATI recipient-country percentages; the rest of the item may go to
    regions, so shares can sum to less than 1).  Countries without a percentage share equally what the
    given percentages leave (a multi-country office's members, a portfolio row with two countries).
    The shares never sum to more than 1: over-full percentages are scaled down.
    """
    given: dict[str, float] = {}
    missing: list[str] = []
    for iso3, pct in rows:
        if not iso3:
            continue
        if pct is None:
            if iso3 not in given and iso3 not in missing:
                missing.append(iso3)
        else:
            given[iso3] = given.get(iso3, 0.0) + max(float(pct), 0.0) / 100.0
    total = sum(given.values())
    if total > 1.0:
        given = {k: v / total for k, v in given.items()}
        total = 1.0
    if missing:
        rest = (1.0 - total) if given else 1.0
        for iso3 in missing:
            if iso3 not in given:
                given[iso3] = rest / len(missing)
    return given


def load_profiles(session: Session, item_type: str, settings: Settings,
                  ids: Optional[Iterable[str]] = None, countries: Optional[Iterable[str]] = None) -> dict[str, Profile]:
    """Profiles of every item of ``item_type`` (or of ``ids``; or of items reaching ``countries``)."""
    base = _base_rows(session, item_type, ids, countries)
    if not base:
        return {}
    profiles = {i: Profile(item_type, i, text, countries={iso3: 1.0} if iso3 else {}, response=resp,
                           action_category=act) for i, text, resp, act, iso3 in base}
    if item_type != "recommendation":
        by_item: dict[str, list] = defaultdict(list)
        for i, iso3, pct in _chunked(session, select(ItemCountry.item_id, ItemCountry.iso3, ItemCountry.share_pct)
                                     .where(ItemCountry.item_type == item_type), ItemCountry.item_id, profiles, ids, countries):
            by_item[i].append((iso3, pct))
        for i, rows in by_item.items():
            if i in profiles:
                profiles[i].countries = country_shares(rows)
    _add_labels(session, item_type, profiles, settings, ids or countries)
    return profiles


def _base_rows(session: Session, item_type: str, ids, countries) -> list[tuple]:
    if item_type == "recommendation":
        stmt = select(Recommendation.id, Recommendation.text, Recommendation.response, Recommendation.action_category,
                      Recommendation.state_under_review)
        if ids is not None:
            stmt = stmt.where(Recommendation.id.in_(list(ids)))
        if countries is not None:
            stmt = stmt.where(Recommendation.state_under_review.in_(list(countries)))
        return [tuple(r) for r in session.execute(stmt)]
    model = CFItem if item_type == "cf_item" else Activity
    stmt = select(model.id, model.title, model.description)
    if item_type == "cf_item":
        stmt = stmt.where(CFItem.level.in_(LINKABLE_CF_LEVELS))
    if ids is not None:
        stmt = stmt.where(model.id.in_(list(ids)))
    if countries is not None:
        reach = select(ItemCountry.item_id).where(ItemCountry.item_type == item_type,
                                                  ItemCountry.iso3.in_(list(countries)))
        stmt = stmt.where(model.id.in_(reach))
    return [(i, item_text(t, d), None, None, None) for i, t, d in session.execute(stmt)]


def _chunked(session: Session, stmt, id_col, profiles: dict, ids, countries):
    """Rows of ``stmt`` for the profiled items: all rows when the whole table is profiled, else in id chunks."""
    if ids is None and countries is None and len(profiles) > 5000:
        yield from session.execute(stmt)
        return
    keys = list(profiles)
    for start in range(0, len(keys), 5000):
        yield from session.execute(stmt.where(id_col.in_(keys[start:start + 5000])))


def _add_labels(session: Session, item_type: str, profiles: dict[str, Profile], s: Settings, subset) -> None:
    vocabularies = list(VOCABULARIES)
    classified: set[str] = set()
    stmt = (select(Classification.item_id, Classification.vocabulary, Classification.code, Classification.score,
                   Classification.methods)
            .where(Classification.item_type == item_type))
    for i, vocabulary, code, score, methods in _chunked(session, stmt, Classification.item_id, profiles, subset, None):
        p = profiles.get(i)
        if p is None:
            continue
        classified.add(i)
        if vocabulary not in VOCABULARIES:
            continue
        declared = "declared" in (methods or "").split(",")
        predicted = any(m != "declared" for m in (methods or "").split(",") if m)
        _put(p, vocabulary, code, s.link_weight_declared if declared else float(score) * s.link_weight_predicted,
             "both" if declared and predicted else "declared" if declared else "predicted")
    # items never classified still link on what their source declared
    stmt = (select(ItemTag.item_id, ItemTag.vocabulary, ItemTag.code)
            .where(ItemTag.item_type == item_type, ItemTag.vocabulary.in_(vocabularies)))
    for i, vocabulary, code in _chunked(session, stmt, ItemTag.item_id, profiles, subset, None):
        p = profiles.get(i)
        if p is not None and i not in classified:
            _put(p, vocabulary, code, s.link_weight_declared, "declared")
            if vocabulary == "sdg_target":
                _put(p, "sdg_goal", code.split(".")[0], s.link_weight_declared, "declared")


def _put(p: Profile, vocabulary: str, code: str, weight: float, origin: str) -> None:
    bucket: dict[str, float] = getattr(p, VOCABULARIES[vocabulary])
    if weight > bucket.get(code, 0.0):
        bucket[code] = weight
    old = p.origin.get((vocabulary, code))
    p.origin[(vocabulary, code)] = origin if old in (None, origin) else "both"
