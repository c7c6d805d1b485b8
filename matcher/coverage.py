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

from collections import defaultdict
from contextlib import nullcontext
from typing import Iterable, Optional

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlmodel import Session

from . import gap_cells
from .arrays import concat_rows, distinct
from .bulk import indexes_rebuilt, insert_columns
from .clusters import cluster_key, clusters, clusters_of_norms, normalise  # noqa: F401  (re-exported)
from .clusters import candidates, recluster
from .gap_cells import COVERED, GAP_COUNTS, GAP_KEY
from .models import Coverage, GapCell, Link, RecDimension, Recommendation
from .profiles import CHUNK, Profiles, fetch, load_profiles
from .settings import get_settings
from .store import lock_materialised

DIMENSIONS = ("theme", "goal", "target", "action")
RESPONSES = ("accepted", "noted", "partially_accepted", "pending", "voluntary_pledge", "all")
NONE_CODE = "(none)"  # a recommendation with no label in a dimension still counts, under this code


def materialise(session: Session, countries: Iterable[str], recs: Optional[Profiles] = None,
                bulk: bool = False) -> int:
    """Rebuild coverage and dimension rows of ``countries``; returns the number of recommendations.

    ``recs``: profiles holding every recommendation of those countries, when the caller has them
    (the linker after a full run); otherwise they are read here.  ``bulk``: most of the store is rewritten
    (a full match): on SQLite the tables' indexes are dropped and built again after (``bulk.indexes_rebuilt``).
    """
    countries = sorted(set(countries))
    if not countries:
        return 0
    lock_materialised(session)
    s = get_settings()
    parts = [countries[k:k + 200] for k in range(0, len(countries), 200)]
    for part in parts:
        session.execute(delete(Coverage).where(Coverage.country.in_(part)))
        session.execute(delete(RecDimension).where(RecDimension.country.in_(part)))
        session.execute(delete(GapCell).where(GapCell.country.in_(part)))
    # SQLite only: on PostgreSQL dropping an index locks the table against readers until the commit (the API
    # would wait for the whole match), and COPY into indexed tables is fast anyway
    rebuild = bulk and session.get_bind().dialect.name == "sqlite"
    n = 0
    with indexes_rebuilt(session, (Coverage, RecDimension, GapCell)) if rebuild else nullcontext():
        for part in parts:
            if recs is None:
                p = load_profiles(session, "recommendation", s, countries=part)
            else:
                p = recs.take(distinct(recs.places.loc[recs.places["iso3"].isin(part), "row"]
                                       .to_numpy(dtype=np.int64)))
            placed = _placed(p)
            home = dict(zip(p.item_id[placed["row"].to_numpy(dtype=np.int64)], placed["iso3"]))
            cov, dims = _rows(p, _best_links(session, home, countries=part), s.cluster_similarity)
            insert_columns(session, Coverage, {c: cov[c] for c in COVERAGE_COLUMNS})
            insert_columns(session, RecDimension, {c: dims[c] for c in DIMENSION_COLUMNS})
            insert_columns(session, GapCell, _gap_frame(cov, dims))
            n += len(cov)
    bump_version(session)
    return n


def refresh(session: Session, changed: Iterable[str], relinked: Iterable[str] = ()) -> dict:
    """Bring coverage, dimension rows and gap cells up to date after an incremental match, touching only
    what changed; the tables end exactly as ``materialise`` of the countries concerned would leave them.

    ``changed``: recommendations that are new or whose text, labels, response or state changed (their
    rows are rebuilt); ``relinked``: recommendations whose links were added, removed, rescored or reviewed
    (their coverage is recomputed).  A changed text is compared with the stored normalised texts of its
    country (``coverage.norm_text``), which may merge clusters or, when a text left a cluster, split one;
    recommendations whose cluster id changes are rewritten too.  Gap cells are corrected by the difference
    between the old and the new rows of every cluster involved (its members are read whole), so a cell's
    counts and distinct-cluster counts stay exact without reading the rest of the country.
    Returns counts of what was rewritten.
    """
    s = get_settings()
    changed = set(changed)
    relinked = set(relinked) - changed
    if not changed and not relinked:
        return {"changed": 0, "relinked": 0, "reclustered": 0, "gap_cells": 0}
    lock_materialised(session)  # (the linker and a review hold it already: taking it again is free)
    old = _coverage_frame(session, ids=sorted(changed | relinked))
    missing = relinked - set(old["recommendation_id"])
    changed |= missing  # never materialised (e.g. stored before this run's first match): rebuilt whole
    relinked -= missing
    p = load_profiles(session, "recommendation", s, ids=sorted(changed)) if changed else Profiles.empty()
    new_rows = _placed(p)
    norms = [normalise(p.text[r] or "") for r in new_rows["row"]]
    old_changed = old[old["recommendation_id"].isin(changed)]
    countries = sorted(set(new_rows["iso3"]) | set(old_changed["country"]))
    table = Coverage.__table__  # type: ignore[attr-defined]
    scope = sorted(set(countries) | set(old["country"]))
    # rows written before norm_text existed (length(...) IS NULL: answered from ix_coverage_length, no scan)
    if session.execute(select(table.c.recommendation_id).where(
            table.c.country.in_(scope), func.length(table.c.norm_text).is_(None)).limit(1)).first() is not None:
        n = materialise(session, scope, recs=None)
        return {"changed": len(changed), "relinked": len(relinked), "reclustered": n, "gap_cells": -1}
    new = pd.DataFrame({"recommendation_id": p.item_id[new_rows["row"].to_numpy(dtype=np.int64)],
                        "country": new_rows["iso3"].to_numpy(dtype=object), "norm_text": norms})

    def members_of(country: str, cluster_ids: list[str]) -> list[tuple]:
        return [r for start in range(0, len(cluster_ids), CHUNK) for r in fetch(session, select(
            table.c.recommendation_id, table.c.cluster_id, table.c.norm_text).where(
            table.c.country == country, table.c.cluster_id.in_(cluster_ids[start:start + CHUNK])))]

    new_cluster, rekeyed, old_ids = recluster(
        new, old_changed, candidates(session, new, old_changed, s.cluster_similarity, changed), members_of,
        s.cluster_similarity)
    touched = changed | relinked | set(rekeyed)
    # the old rows of every cluster involved, whole
    involved = set(old["cluster_id"]) | set(new_cluster.values()) | set(rekeyed.values()) | old_ids
    members = _coverage_frame(session, countries=scope, cluster_ids=involved)
    members = concat_rows([members, old[~old["recommendation_id"].isin(members["recommendation_id"])]])
    member_dims = _dimension_frame(session, members["recommendation_id"].tolist())
    before = _gap_frame(members, member_dims)

    home = dict(zip(new["recommendation_id"], new["country"]))
    home.update((i, c) for i, c in zip(old["recommendation_id"], old["country"]) if i in relinked)
    best = _best_links(session, home)
    cov, dims = _rows(p, best, s.cluster_similarity, cluster=new_cluster, norms=norms)
    kept = members[~members["recommendation_id"].isin(changed)].set_index("recommendation_id")
    again = [i for i in kept.index if i in relinked or i in rekeyed]
    redo = kept.loc[again].copy()
    if len(redo):
        links = _link_columns(best, redo.index.to_numpy(dtype=object))
        for col, values in links.items():
            relinked_rows = redo.index.isin(list(relinked))
            redo.loc[relinked_rows, col] = np.asarray(values, dtype=object)[relinked_rows]
        redo["cluster_id"] = [rekeyed.get(i, c) for i, c in zip(redo.index, redo["cluster_id"])]
    redo = redo.reset_index()
    after_cov = concat_rows([members[~members["recommendation_id"].isin(touched)], redo, cov])
    after_dims = concat_rows([member_dims[~member_dims["recommendation_id"].isin(changed)], dims])
    after = _gap_frame(after_cov, after_dims)

    ids = sorted(touched)
    for start in range(0, len(ids), CHUNK):
        session.execute(delete(Coverage).where(Coverage.recommendation_id.in_(ids[start:start + CHUNK])))
    gone = sorted(set(old_changed["recommendation_id"]))  # new recommendations have no rows yet
    for start in range(0, len(gone), CHUNK):
        session.execute(delete(RecDimension).where(RecDimension.recommendation_id.in_(gone[start:start + CHUNK])))
    written = concat_rows([redo, cov])
    insert_columns(session, Coverage, {c: written[c].tolist() for c in COVERAGE_COLUMNS})
    insert_columns(session, RecDimension, {c: dims[c] for c in DIMENSION_COLUMNS})
    cells = gap_cells.apply_delta(session, before, after)
    bump_version(session)
    return {"changed": len(changed), "relinked": len(relinked), "reclustered": len(rekeyed), "gap_cells": cells}


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


COVERAGE_COLUMNS = ["recommendation_id", "country", "response", "action_category", "cluster_id", "norm_text",
                    "covered_by", "cf_links", "donor_links", "best_cf_link_id", "best_cf_score", "best_donor_link_id",
                    "best_donor_score"]
DIMENSION_COLUMNS = ["recommendation_id", "country", "dimension", "code", "share"]


def _placed(p: Profiles) -> pd.DataFrame:
    """(row, iso3) of the profiled recommendations that have a state (one each)."""
    return p.places.drop_duplicates("row")[["row", "iso3"]].reset_index(drop=True)


def _rows(p: Profiles, best: pd.DataFrame, similarity: float, cluster: Optional[dict[str, str]] = None,
          norms: Optional[list[str]] = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage rows (``COVERAGE_COLUMNS``) and dimension rows (``DIMENSION_COLUMNS``) of the profiled
    recommendations that have a state; clusters computed per country unless ``cluster`` gives them."""
    placed = _placed(p)
    rows = placed["row"].to_numpy(dtype=np.int64)
    ids, country = p.item_id[rows], placed["iso3"].to_numpy(dtype=object)
    if norms is None:
        norms = [normalise(p.text[r] or "") for r in rows]
    if cluster is None:
        by_country: dict[str, dict[str, str]] = defaultdict(dict)
        for i, c, t in zip(ids, country, norms):
            by_country[c][i] = t
        cluster = {}
        for c, part in by_country.items():
            cluster.update(clusters_of_norms(c, part, similarity))
    action = p.action_category[rows] if p.action_category is not None else np.full(len(rows), None, dtype=object)
    response = p.response[rows] if p.response is not None else np.full(len(rows), None, dtype=object)
    cov = pd.DataFrame({"recommendation_id": ids, "country": country,
                        "response": np.array([r or "pending" for r in response], dtype=object),
                        "action_category": np.asarray(action, dtype=object),
                        "cluster_id": np.array([cluster[i] for i in ids], dtype=object),
                        "norm_text": np.array(norms, dtype=object)})
    for col, values in _link_columns(best, ids).items():
        cov[col] = values
    dims = [_dimension(p, rows, dimension, vocabulary) for dimension, vocabulary in DIMENSION_VOCABULARY.items()]
    actions = [(r, str(a), 1.0) for r, a in zip(rows, action) if a]
    dims.append(_with_none(pd.DataFrame(actions, columns=["row", "code", "share"]), rows).assign(dimension="action"))
    d = pd.concat(dims, ignore_index=True)
    position = np.full(len(p), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    where = position[d["row"].to_numpy(dtype=np.int64)]
    dims = pd.DataFrame({"recommendation_id": ids[where], "country": country[where],
                         "dimension": d["dimension"].to_numpy(dtype=object), "code": d["code"].to_numpy(dtype=object),
                         "share": d["share"].to_numpy(dtype=float)})
    return cov, dims


def _link_columns(best: pd.DataFrame, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Coverage columns that follow from links, for the recommendations ``ids`` (``_best_links``; None when absent)."""
    b = best.reindex(ids)
    cf, donor = b["cf_link_id"].notna().to_numpy(), b["activity_link_id"].notna().to_numpy()
    nullable = lambda col, cast: np.array([None if pd.isna(v) else cast(v) for v in b[col].tolist()],  # noqa: E731
                                          dtype=object)
    return {"covered_by": np.where(cf & donor, "both", np.where(cf, "cf", np.where(donor, "donor", "none"))).astype(object),
            "cf_links": b["cf_links"].fillna(0).to_numpy(dtype=np.int64),
            "donor_links": b["activity_links"].fillna(0).to_numpy(dtype=np.int64),
            "best_cf_link_id": nullable("cf_link_id", int), "best_cf_score": nullable("cf_score", float),
            "best_donor_link_id": nullable("activity_link_id", int),
            "best_donor_score": nullable("activity_score", float)}


def _gap_frame(cov: pd.DataFrame, dims: pd.DataFrame) -> dict[str, np.ndarray]:
    """gap_cell columns of the recommendations ``cov`` and their dimension rows ``dims``."""
    if not len(cov):
        return {c: [] for c in GAP_KEY + GAP_COUNTS}
    position = pd.Index(cov["recommendation_id"]).get_indexer(dims["recommendation_id"])
    if (position < 0).any():
        raise RuntimeError("dimension rows of a recommendation without a coverage row")
    return gap_cells.cells(cov["country"].to_numpy(dtype=object), cov["response"].to_numpy(dtype=object),
                           cov["covered_by"].to_numpy(dtype=object), cov["cluster_id"].to_numpy(dtype=object),
                           position.astype(np.int64), dims["dimension"].to_numpy(dtype=object),
                           dims["code"].to_numpy(dtype=object))


def _coverage_frame(session: Session, *, ids: Optional[list[str]] = None, countries: Optional[list[str]] = None,
                    cluster_ids: Optional[set[str]] = None, columns: Optional[list[str]] = None) -> pd.DataFrame:
    """Stored coverage rows (``columns``, default all) of ``ids``, or of ``countries`` (and ``cluster_ids``)."""
    columns = columns or COVERAGE_COLUMNS
    table = Coverage.__table__  # type: ignore[attr-defined]
    stmt = select(*[table.c[c] for c in columns])
    out: list[tuple] = []
    if ids is not None:
        for start in range(0, len(ids), CHUNK):
            out += fetch(session, stmt.where(table.c.recommendation_id.in_(ids[start:start + CHUNK])))
    elif countries:
        stmt = stmt.where(table.c.country.in_(countries))
        if cluster_ids is None:
            out = fetch(session, stmt)
        else:
            wanted = sorted(cluster_ids)
            for start in range(0, len(wanted), CHUNK):
                out += fetch(session, stmt.where(table.c.cluster_id.in_(wanted[start:start + CHUNK])))
    return pd.DataFrame(out, columns=columns).astype(object)


def _dimension_frame(session: Session, ids: list[str]) -> pd.DataFrame:
    """Stored dimension rows of the recommendations ``ids`` (``ix_rec_dimension_rec``)."""
    table = RecDimension.__table__  # type: ignore[attr-defined]
    stmt = select(*[table.c[c] for c in DIMENSION_COLUMNS])
    out: list[tuple] = []
    for start in range(0, len(ids), CHUNK):
        out += fetch(session, stmt.where(table.c.recommendation_id.in_(ids[start:start + CHUNK])))
    return pd.DataFrame(out, columns=DIMENSION_COLUMNS)


DIMENSION_VOCABULARY = {"theme": "uprinfo", "goal": "sdg_goal", "target": "sdg_target"}


def _dimension(p: Profiles, rows: np.ndarray, dimension: str, vocabulary: str) -> pd.DataFrame:
    """(row, code, share = 1 / codes of the recommendation) of one dimension; (none) where it has no code."""
    lab = p.labels[p.labels["vocabulary"] == vocabulary][["row", "code"]]
    lab = lab[lab["row"].isin(rows)]
    lab = lab.assign(share=1.0 / lab.groupby("row")["code"].transform("size"))
    return _with_none(lab, rows).assign(dimension=dimension)


def _with_none(d: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    missing = np.setdiff1d(rows, d["row"].to_numpy(dtype=np.int64))
    none = pd.DataFrame({"row": missing, "code": NONE_CODE, "share": 1.0})
    return pd.concat([d, none], ignore_index=True) if len(d) else none


def _best_links(session: Session, home: dict[str, str], *, countries: Optional[list[str]] = None) -> pd.DataFrame:
    """Per recommendation of ``home`` ({id: its country}): best link id, its score and the number of links,
    per item type, counting only links in the recommendation's own country (a recommendation whose state
    changed may keep reviewed links in the old one) and never rejected ones.  Links are read by ``countries``
    when given, else by recommendation.  Columns ``{cf,activity}_link_id``, ``_score``, ``_links``, indexed
    by recommendation id."""
    stmt = select(Link.recommendation_id, Link.item_type, Link.id, Link.score, Link.country).where(
        Link.status != "rejected")
    if countries is not None:
        rows = fetch(session, stmt.where(Link.country.in_(countries)))
    else:
        ids = sorted(home)
        rows = [r for start in range(0, len(ids), CHUNK)
                for r in fetch(session, stmt.where(Link.recommendation_id.in_(ids[start:start + CHUNK])))]
    rows = [r[:4] for r in rows if home.get(r[0]) == r[4]]
    links = pd.DataFrame(rows, columns=["recommendation_id", "item_type", "id", "score"])
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
    total = n_clusters = 0
    for c in _cells(session, country, "all", response):
        total, n_clusters = c.recommendations, c.clusters
        out = {"cf": {"recommendations": c.covered_cf, "clusters": c.clusters_cf},
               "donor": {"recommendations": c.covered_donor, "clusters": c.clusters_donor},
               "both": {"recommendations": c.covered_both, "clusters": c.clusters_both},
               "none": {"recommendations": c.uncovered, "clusters": c.uncovered_clusters}}
    return {"country": country, "response": response, "recommendations": total, "clusters": n_clusters,
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
