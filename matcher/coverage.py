"""Coverage gaps: which recommendations no programme addresses (issue #5).

After matching, ``materialise`` rebuilds, per country, one ``coverage`` row per recommendation
(covered by the Cooperation Framework, by donors, by both, or by nothing; with its best links) and
its ``rec_dimension`` rows (themes, SDG goals, SDG targets and action category, each with the
share 1/n used to split money).  Rejected links never count.  ``gaps`` aggregates those tables for
one country -- a few indexed queries, no matching at query time.

Two counts, never confused: ``recommendations`` counts every recommendation (one per recommending
state in UPR Info data), ``clusters`` counts identical or near-identical texts in the same country once
(``clusters``; similarity ``UPR_ALIGN_CLUSTER_SIMILARITY``).  A recommendation with several themes is counted under each of them.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Iterable, Optional

from sqlalchemy import delete, func, select
from sqlmodel import Session

from .loading import _insert_many
from .models import Coverage, Link, RecDimension, Recommendation
from .profiles import load_profiles
from .settings import get_settings

DIMENSIONS = ("theme", "goal", "target", "action")
RESPONSES = ("accepted", "noted", "partially_accepted", "pending", "voluntary_pledge", "all")
NONE_CODE = "(none)"  # a recommendation with no label in a dimension still counts, under this code
_NON_WORD = re.compile(r"[^\w]+")


def normalise(text: str) -> str:
    """Text with case, punctuation and spacing ignored."""
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def cluster_key(country: str, text: str) -> str:
    """Id of a cluster: a hash of the country and the cluster's first normalised text."""
    return hashlib.sha1(f"{country}|{normalise(text)}".encode("utf-8")).hexdigest()[:16]


def clusters(country: str, texts: dict[str, str], similarity: float) -> dict[str, str]:
    """Recommendation id -> cluster id, for the recommendations of one country.

    Texts equal once normalised are one cluster; so are near-identical ones (rapidfuzz token-sort ratio >=
    ``similarity``, e.g. the same recommendation made by several states with a word changed), joined
    transitively.  ``similarity`` 100 keeps exact matches only.
    """
    from rapidfuzz import fuzz, process

    by_norm: dict[str, list[str]] = {}
    for rec_id, text in texts.items():
        by_norm.setdefault(normalise(text), []).append(rec_id)
    uniq = sorted(by_norm)
    parent = list(range(len(uniq)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if similarity < 100 and len(uniq) > 1:
        scores = process.cdist(uniq, uniq, scorer=fuzz.token_sort_ratio, score_cutoff=similarity, dtype="uint8")
        for i, j in zip(*scores.nonzero()):
            if i < j:
                a, b = find(int(i)), find(int(j))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    out = {}
    for k, norm in enumerate(uniq):
        key = cluster_key(country, uniq[find(k)])
        for rec_id in by_norm[norm]:
            out[rec_id] = key
    return out


def materialise(session: Session, countries: Iterable[str]) -> int:
    """Rebuild coverage and dimension rows of ``countries``; returns the number of recommendations."""
    countries = sorted(set(countries))
    if not countries:
        return 0
    s = get_settings()
    n = 0
    for start in range(0, len(countries), 200):
        part = countries[start:start + 200]
        session.execute(delete(Coverage).where(Coverage.country.in_(part)))
        session.execute(delete(RecDimension).where(RecDimension.country.in_(part)))
        profiles = load_profiles(session, "recommendation", s, countries=part)
        best = _best_links(session, part)
        cluster_of: dict[str, str] = {}
        per_country: dict[str, dict[str, str]] = defaultdict(dict)
        for rec_id, iso3, text in session.execute(select(Recommendation.id, Recommendation.state_under_review,
                                                         Recommendation.text)
                                                  .where(Recommendation.state_under_review.in_(part))):
            per_country[iso3][rec_id] = text or ""
        for iso3, texts in per_country.items():
            cluster_of.update(clusters(iso3, texts, s.cluster_similarity))
        cov_rows, dim_rows = [], []
        for rec_id, p in profiles.items():
            country = next(iter(p.countries), None)
            if country is None:
                continue
            b = best.get(rec_id, {})
            cf, donor = b.get("cf_item"), b.get("activity")
            covered = "both" if cf and donor else "cf" if cf else "donor" if donor else "none"
            cov_rows.append({
                "recommendation_id": rec_id, "country": country, "response": p.response or "pending",
                "action_category": p.action_category, "cluster_id": cluster_of[rec_id],
                "covered_by": covered, "cf_links": cf[2] if cf else 0, "donor_links": donor[2] if donor else 0,
                "best_cf_link_id": cf[0] if cf else None, "best_cf_score": cf[1] if cf else None,
                "best_donor_link_id": donor[0] if donor else None, "best_donor_score": donor[1] if donor else None})
            for dimension, codes in (("theme", p.themes), ("goal", p.goals), ("target", p.targets),
                                     ("action", {str(p.action_category): 1} if p.action_category else {})):
                codes = sorted(codes) or [NONE_CODE]
                share = 1.0 / len(codes)
                dim_rows += [{"recommendation_id": rec_id, "country": country, "dimension": dimension,
                              "code": code, "share": share} for code in codes]
        _insert_many(session, Coverage, cov_rows)
        for k in range(0, len(dim_rows), 20000):
            _insert_many(session, RecDimension, dim_rows[k:k + 20000])
        n += len(cov_rows)
    bump_version(session)
    return n


def bump_version(session: Session) -> int:
    """Mark the materialised tables as changed (in the caller's transaction); returns the new version."""
    from datetime import datetime, timezone

    from .models import StoreVersion

    row = session.get(StoreVersion, 1)
    if row is None:
        row = StoreVersion(id=1, version=0, changed_at=datetime.now(timezone.utc))
    row.version += 1
    row.changed_at = datetime.now(timezone.utc)
    session.add(row)
    session.flush()
    return row.version


def store_version(session: Session) -> int:
    """The current version of the materialised tables (0 before the first match)."""
    from .models import StoreVersion

    return session.execute(select(StoreVersion.version).where(StoreVersion.id == 1)).scalar() or 0


def _best_links(session: Session, countries: list[str]) -> dict[str, dict[str, tuple[int, float, int]]]:
    """Per recommendation and item type: (best link id, its score, number of links), rejected ones left out."""
    out: dict[str, dict[str, tuple[int, float, int]]] = defaultdict(dict)
    rows = session.execute(select(Link.recommendation_id, Link.item_type, Link.id, Link.score)
                           .where(Link.country.in_(countries), Link.status != "rejected"))
    for rec_id, item_type, link_id, score in rows:
        old = out[rec_id].get(item_type)
        if old is None:
            out[rec_id][item_type] = (link_id, score, 1)
        else:
            best = (link_id, score) if (score, -link_id) > (old[1], -old[0]) else old[:2]
            out[rec_id][item_type] = (best[0], best[1], old[2] + 1)
    return out


def _check(dimension: Optional[str], response: str) -> None:
    if dimension is not None and dimension not in DIMENSIONS:
        raise ValueError(f"--by must be one of {', '.join(DIMENSIONS)}, not {dimension!r}")
    if response not in RESPONSES:
        raise ValueError(f"--response must be one of {', '.join(RESPONSES)}, not {response!r}")


def summary(session: Session, country: str, response: str = "accepted") -> dict:
    """Coverage of a country's recommendations: counts (and clusters) covered by cf, donor, both, none."""
    _check(None, response)
    stmt = select(Coverage.covered_by, func.count(), func.count(func.distinct(Coverage.cluster_id))) \
        .where(Coverage.country == country)
    if response != "all":
        stmt = stmt.where(Coverage.response == response)
    out = {k: {"recommendations": 0, "clusters": 0} for k in ("cf", "donor", "both", "none")}
    for covered, n, clusters in session.execute(stmt.group_by(Coverage.covered_by)):
        out[covered] = {"recommendations": n, "clusters": clusters}
    total = sum(v["recommendations"] for v in out.values())
    return {"country": country, "response": response, "recommendations": total,
            "clusters": _clusters(session, country, response), "coverage": out,
            "covered_share": round(1 - out["none"]["recommendations"] / total, 4) if total else None}


def _clusters(session: Session, country: str, response: str) -> int:
    stmt = select(func.count(func.distinct(Coverage.cluster_id))).where(Coverage.country == country)
    if response != "all":
        stmt = stmt.where(Coverage.response == response)
    return session.execute(stmt).scalar_one()


def gaps(session: Session, country: str, by: str = "theme", response: str = "accepted") -> list[dict]:
    """Per code of ``by``: recommendations (and clusters) covered by cf / donor / both / none, the
    codes with the most uncovered recommendations first."""
    _check(by, response)
    stmt = (select(RecDimension.code, Coverage.covered_by, func.count(), func.count(func.distinct(Coverage.cluster_id)))
            .join(Coverage, Coverage.recommendation_id == RecDimension.recommendation_id)
            .where(RecDimension.country == country, RecDimension.dimension == by))
    if response != "all":
        stmt = stmt.where(Coverage.response == response)
    rows: dict[str, dict] = {}
    for code, covered, n, clusters in session.execute(stmt.group_by(RecDimension.code, Coverage.covered_by)):
        r = rows.setdefault(code, {"country": country, "dimension": by, "code": code, "response": response,
                                   "recommendations": 0, "uncovered": 0, "uncovered_clusters": 0,
                                   "covered_cf": 0, "covered_donor": 0, "covered_both": 0})
        r["recommendations"] += n
        if covered == "none":
            r["uncovered"], r["uncovered_clusters"] = n, clusters
        else:
            r[f"covered_{covered}"] = n
    out = list(rows.values())
    for r in out:
        r["uncovered_share"] = round(r["uncovered"] / r["recommendations"], 4) if r["recommendations"] else None
    out.sort(key=lambda r: (-r["uncovered"], -r["recommendations"], r["code"]))
    return out


def uncovered(session: Session, country: str, response: str = "accepted", limit: Optional[int] = None) -> list[dict]:
    """The recommendations of a country no programme addresses (one row per recommendation)."""
    _check(None, response)
    stmt = (select(Recommendation.id, Recommendation.text, Recommendation.response, Recommendation.session,
                   Coverage.cluster_id, Coverage.action_category)
            .join(Coverage, Coverage.recommendation_id == Recommendation.id)
            .where(Coverage.country == country, Coverage.covered_by == "none"))
    if response != "all":
        stmt = stmt.where(Coverage.response == response)
    stmt = stmt.order_by(Recommendation.session, Recommendation.id)
    if limit:
        stmt = stmt.limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]
