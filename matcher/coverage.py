"""Coverage gaps: which recommendations no programme addresses (issue #5).

After matching, ``materialise`` rebuilds, per country, one ``coverage`` row per recommendation
(covered by the Cooperation Framework, by donors, by both, or by nothing; with its best links) and
its ``rec_dimension`` rows (themes, SDG goals, SDG targets and action category, each with the
share 1/n used to split money) and the ``gap_cell`` counts per code and response that ``gaps`` and
``summary`` read -- one indexed query per call, no matching or aggregating at query time.  Rejected
links never count.

Two counts, never confused: ``recommendations`` counts every recommendation (one per recommending
state in UPR Info data), ``clusters`` counts identical or near-identical texts in the same country once
(``clusters``; similarity ``UPR_ALIGN_CLUSTER_SIMILARITY``).  A recommendation with several themes is counted under each of them.
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Iterable, Optional

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlmodel import Session

from .arrays import distinct
from .bulk import insert_columns
from .models import Coverage, GapCell, Link, RecDimension, Recommendation
from .profiles import Profiles, fetch, load_profiles
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
        scores = process.cdist(uniq, uniq, scorer=fuzz.token_sort_ratio, score_cutoff=similarity, dtype="uint8",
                               workers=-1)  # all cores (the result does not depend on them)
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


def materialise(session: Session, countries: Iterable[str], recs: Optional[Profiles] = None) -> int:
    """Rebuild coverage and dimension rows of ``countries``; returns the number of recommendations.

    ``recs``: profiles holding every recommendation of those countries, when the caller has them
    (the linker after a full run); otherwise they are read here.
    """
    countries = sorted(set(countries))
    if not countries:
        return 0
    s = get_settings()
    n = 0
    for start in range(0, len(countries), 200):
        part = countries[start:start + 200]
        session.execute(delete(Coverage).where(Coverage.country.in_(part)))
        session.execute(delete(RecDimension).where(RecDimension.country.in_(part)))
        session.execute(delete(GapCell).where(GapCell.country.in_(part)))
        if recs is None:
            p = load_profiles(session, "recommendation", s, countries=part)
        else:
            p = recs.take(distinct(recs.places.loc[recs.places["iso3"].isin(part), "row"].to_numpy(dtype=np.int64)))
        n += _write(session, p, _best_links(session, part), s.cluster_similarity)
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


def _write(session: Session, p: Profiles, best: pd.DataFrame, similarity: float) -> int:
    """Coverage rows and dimension rows of the profiled recommendations (each has one state)."""
    placed = p.places.drop_duplicates("row")
    rows = placed["row"].to_numpy(dtype=np.int64)
    if not len(rows):
        return 0
    ids, country = p.item_id[rows], placed["iso3"].to_numpy(dtype=object)
    b = best.reindex(ids)
    cf, donor = b["cf_link_id"].notna().to_numpy(), b["activity_link_id"].notna().to_numpy()
    covered = np.where(cf & donor, "both", np.where(cf, "cf", np.where(donor, "donor", "none")))
    nullable = lambda col: [None if pd.isna(v) else v for v in b[col].tolist()]  # noqa: E731
    response = np.array([r or "pending" for r in p.response[rows]], dtype=object)
    cluster = _clusters(country, [p.text[r] or "" for r in rows], similarity)
    insert_columns(session, Coverage, {
        "recommendation_id": ids, "country": country, "response": response,
        "action_category": p.action_category[rows], "cluster_id": cluster, "covered_by": covered,
        "cf_links": b["cf_links"].fillna(0).astype(np.int64), "donor_links": b["activity_links"].fillna(0).astype(np.int64),
        "best_cf_link_id": [None if v is None else int(v) for v in nullable("cf_link_id")],
        "best_cf_score": nullable("cf_score"),
        "best_donor_link_id": [None if v is None else int(v) for v in nullable("activity_link_id")],
        "best_donor_score": nullable("activity_score")})
    dims = [_dimension(p, rows, dimension, vocabulary) for dimension, vocabulary in DIMENSION_VOCABULARY.items()]
    actions = [(r, str(a), 1.0) for r, a in zip(rows, p.action_category[rows]) if a]
    dims.append(_with_none(pd.DataFrame(actions, columns=["row", "code", "share"]), rows).assign(dimension="action"))
    d = pd.concat(dims, ignore_index=True)
    position = np.full(len(p), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    where = position[d["row"].to_numpy(dtype=np.int64)]
    insert_columns(session, RecDimension, {"recommendation_id": ids[where], "country": country[where],
                                           "dimension": d["dimension"], "code": d["code"], "share": d["share"]})
    insert_columns(session, GapCell, _gap_cells(country, response, covered, cluster, where,
                                                d["dimension"].to_numpy(dtype=object), d["code"].to_numpy(dtype=object)))
    return len(rows)


def _clusters(country: np.ndarray, texts: list[str], similarity: float) -> np.ndarray:
    """Cluster id of each recommendation (``clusters``, per country)."""
    by_country: dict[str, dict[int, str]] = defaultdict(dict)
    for k, (c, text) in enumerate(zip(country, texts)):
        by_country[c][k] = text
    out = np.empty(len(texts), dtype=object)
    for c, part in by_country.items():
        for k, key in clusters(c, part, similarity).items():
            out[k] = key
    return out


COVERED = ("cf", "donor", "both", "none")


def _gap_cells(country, response, covered, cluster, where, dimension, code) -> dict[str, np.ndarray]:
    """gap_cell columns: per (country, dimension, code, response) the recommendations and distinct clusters
    covered by cf / donor / both / none.  Per-recommendation arrays, plus the dimension rows (``where`` =
    their recommendation's position); every recommendation also counts under dimension/code ``all`` and
    under response ``all``.  Integer codes and ``np.unique``: ~1.6 million (row, response) entries."""
    n = len(country)
    pos = np.concatenate([where, np.arange(n)])
    dim_code = pd.factorize(pd.Series(np.concatenate([dimension, np.full(n, "all", dtype=object)]))
                            + "\x1f" + np.concatenate([code, np.full(n, "all", dtype=object)]))
    dc, dc_names = dim_code[0].astype(np.int64), dim_code[1]
    c_code, c_names = pd.factorize(country)
    r_code, r_names = pd.factorize(np.concatenate([response, ["all"]]))
    k_code = pd.Index(COVERED).get_indexer(covered)
    cl_code = pd.factorize(cluster)[0].astype(np.int64)
    # each dimension row twice: under its recommendation's response and under "all"
    pos2, dc2 = np.concatenate([pos, pos]), np.concatenate([dc, dc])
    resp2 = np.concatenate([r_code[:n][pos], np.full(len(pos), r_code[n])])
    cells, cell = np.unique((c_code[pos2] * len(dc_names) + dc2) * len(r_names) + resp2, return_inverse=True)
    cell = cell.astype(np.int64)
    m, k, cl, n_cl = len(cells), k_code[pos2], cl_code[pos2], max(len(cl_code), 1)
    counts = np.bincount(cell * 4 + k, minlength=4 * m).reshape(m, 4)
    clusters_by = np.bincount(distinct((cell * 4 + k) * n_cl + cl) // n_cl, minlength=4 * m).reshape(m, 4)
    clusters = np.bincount(distinct(cell * n_cl + cl) // n_cl, minlength=m)
    resp_of, rest = cells % len(r_names), cells // len(r_names)
    names = pd.Series(dc_names[rest % len(dc_names)]).str.split("\x1f", n=1, expand=True)
    return {"country": c_names[rest // len(dc_names)], "dimension": names[0], "code": names[1],
            "response": r_names[resp_of], "recommendations": counts.sum(axis=1), "clusters": clusters,
            "covered_cf": counts[:, 0], "covered_donor": counts[:, 1], "covered_both": counts[:, 2],
            "uncovered": counts[:, 3], "clusters_cf": clusters_by[:, 0], "clusters_donor": clusters_by[:, 1],
            "clusters_both": clusters_by[:, 2], "uncovered_clusters": clusters_by[:, 3]}


DIMENSION_VOCABULARY = {"theme": "uprinfo", "goal": "sdg_goal", "target": "sdg_target"}


def _dimension(p: Profiles, rows: np.ndarray, dimension: str, vocabulary: str) -> pd.DataFrame:
    """(row, code, share = 1 / codes of the recommendation) of one dimension; (none) where it has no code."""
    lab = p.labels[p.labels["vocabulary"] == vocabulary][["row", "code"]]
    lab = lab[lab["row"].isin(rows)]
    lab = lab.assign(share=1.0 / lab.groupby("row")["code"].transform("size"))
    return _with_none(lab, rows).assign(dimension=dimension)


def _with_none(d: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    missing = np.setdiff1d(rows, d["row"].to_numpy(dtype=np.int64))
    return pd.concat([d, pd.DataFrame({"row": missing, "code": NONE_CODE, "share": 1.0})], ignore_index=True)


def _best_links(session: Session, countries: list[str]) -> pd.DataFrame:
    """Per recommendation: best link id, its score and the number of links, per item type (rejected ones left out).

    Columns ``{cf,activity}_link_id``, ``_score``, ``_links``, indexed by recommendation id.
    """
    links = pd.DataFrame(fetch(session, select(Link.recommendation_id, Link.item_type, Link.id, Link.score)
                               .where(Link.country.in_(countries), Link.status != "rejected")),
                         columns=["recommendation_id", "item_type", "id", "score"])
    out = pd.DataFrame(index=pd.Index([], name="recommendation_id"))
    links = links.sort_values(["recommendation_id", "item_type", "score", "id"], ascending=[True, True, False, True])
    for item_type, prefix in (("cf_item", "cf"), ("activity", "activity")):
        mine = links[links["item_type"] == item_type]
        g = mine.groupby("recommendation_id", sort=False)
        part = g.first()[["id", "score"]].rename(columns={"id": f"{prefix}_link_id", "score": f"{prefix}_score"})
        part[f"{prefix}_links"] = g.size()
        out = out.join(part, how="outer")
    return out


def _check(dimension: Optional[str], response: str) -> None:
    if dimension is not None and dimension not in DIMENSIONS:
        raise ValueError(f"--by must be one of {', '.join(DIMENSIONS)}, not {dimension!r}")
    if response not in RESPONSES:
        raise ValueError(f"--response must be one of {', '.join(RESPONSES)}, not {response!r}")


def _cells(session: Session, country: str, dimension: str, response: str) -> list:
    """The gap cells of one country, dimension and response (plain rows: no ORM objects on the query path)."""
    table = GapCell.__table__  # type: ignore[attr-defined]
    return session.connection().execute(select(table).where(
        table.c.country == country, table.c.dimension == dimension, table.c.response == response)).all()


def summary(session: Session, country: str, response: str = "accepted") -> dict:
    """Coverage of a country's recommendations: counts (and clusters) covered by cf, donor, both, none."""
    _check(None, response)
    out = {k: {"recommendations": 0, "clusters": 0} for k in COVERED}
    total = clusters = 0
    for c in _cells(session, country, "all", response):
        total, clusters = c.recommendations, c.clusters
        out = {"cf": {"recommendations": c.covered_cf, "clusters": c.clusters_cf},
               "donor": {"recommendations": c.covered_donor, "clusters": c.clusters_donor},
               "both": {"recommendations": c.covered_both, "clusters": c.clusters_both},
               "none": {"recommendations": c.uncovered, "clusters": c.uncovered_clusters}}
    return {"country": country, "response": response, "recommendations": total, "clusters": clusters,
            "coverage": out, "covered_share": round(1 - out["none"]["recommendations"] / total, 4) if total else None}


def gaps(session: Session, country: str, by: str = "theme", response: str = "accepted") -> list[dict]:
    """Per code of ``by``: recommendations (and clusters) covered by cf / donor / both / none, the
    codes with the most uncovered recommendations first."""
    _check(by, response)
    out = [{"country": country, "dimension": by, "code": c.code, "response": response,
            "recommendations": c.recommendations, "uncovered": c.uncovered, "uncovered_clusters": c.uncovered_clusters,
            "covered_cf": c.covered_cf, "covered_donor": c.covered_donor, "covered_both": c.covered_both,
            "uncovered_share": round(c.uncovered / c.recommendations, 4) if c.recommendations else None}
           for c in _cells(session, country, by, response)]
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
