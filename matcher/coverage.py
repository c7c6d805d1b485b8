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
from contextlib import nullcontext
from collections import defaultdict
from typing import Callable, Iterable, Optional

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, text
from sqlmodel import Session

from .arrays import distinct
from .bulk import indexes_rebuilt, insert_columns
from .models import Coverage, GapCell, Link, RecDimension, Recommendation
from .profiles import CHUNK, Profiles, fetch, load_profiles
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
    transitively.  ``similarity`` 100 keeps exact matches only.  A cluster's id is ``cluster_key`` of its
    first normalised text in sort order, so it does not depend on the order the texts came in.
    """
    return clusters_of_norms(country, {rec_id: normalise(text) for rec_id, text in texts.items()}, similarity)


def clusters_of_norms(country: str, norms: dict[str, str], similarity: float) -> dict[str, str]:
    """``clusters`` of already normalised texts."""
    by_norm: dict[str, list[str]] = {}
    for rec_id, norm in norms.items():
        by_norm.setdefault(norm, []).append(rec_id)
    uniq = sorted(by_norm)
    root = _components(uniq, similarity)
    out = {}
    for k, norm in enumerate(uniq):
        key = cluster_key(country, uniq[root[k]])
        for rec_id in by_norm[norm]:
            out[rec_id] = key
    return out


def _similar(a: list[str], b: list[str], similarity: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with token-sort ratio(a[i], b[j]) >= similarity (normalised texts)."""
    from rapidfuzz import fuzz, process

    if not a or not b:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if similarity >= 100:  # identical normalised texts only
        where = {t: j for j, t in enumerate(b)}
        pairs = [(i, where[t]) for i, t in enumerate(a) if t in where]
        return (np.array([i for i, _ in pairs], dtype=np.int64), np.array([j for _, j in pairs], dtype=np.int64))
    # token_sort_ratio is the ratio of the texts with their words sorted: sorting each text once here,
    # not once per pair inside cdist, gives the same scores 15x faster
    sort_words = lambda texts: [" ".join(sorted(t.split())) for t in texts]  # noqa: E731
    scores = process.cdist(sort_words(a), sort_words(b), scorer=fuzz.ratio, score_cutoff=similarity, dtype="uint8",
                           workers=-1 if len(a) * len(b) > 1_000_000 else 1)  # the result does not depend on it
    i, j = scores.nonzero()
    return i.astype(np.int64), j.astype(np.int64)


def _components(uniq: list[str], similarity: float) -> list[int]:
    """Union-find over the sorted distinct texts ``uniq``: for each, the index of its component's first text."""
    parent = list(range(len(uniq)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if similarity < 100 and len(uniq) > 1:
        for i, j in zip(*_similar(uniq, uniq, similarity)):
            if i < j:
                a, b = find(int(i)), find(int(j))
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return [find(k) for k in range(len(uniq))]


def materialise(session: Session, countries: Iterable[str], recs: Optional[Profiles] = None,
                bulk: bool = False) -> int:
    """Rebuild coverage and dimension rows of ``countries``; returns the number of recommendations.

    ``recs``: profiles holding every recommendation of those countries, when the caller has them
    (the linker after a full run); otherwise they are read here.  ``bulk``: most of the store is rewritten
    (a full match): the tables' indexes are dropped and built again after (``bulk.indexes_rebuilt``).
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
        cov, dims = _rows(p, _best_links(session, countries=part), s.cluster_similarity)
        with indexes_rebuilt(session, (Coverage, RecDimension, GapCell)) if bulk else nullcontext():
            insert_columns(session, Coverage, {c: cov[c] for c in COVERAGE_COLUMNS})
            insert_columns(session, RecDimension, {c: dims[c] for c in DIMENSION_COLUMNS})
            insert_columns(session, GapCell, _gap_frame(cov, dims))
        n += len(cov)
    bump_version(session)
    return n


def refresh(session: Session, changed: Iterable[str], relinked: Iterable[str] = (),
            recs: Optional[Profiles] = None) -> dict:
    """Bring coverage, dimension rows and gap cells up to date after an incremental match, touching only
    what changed; the tables end exactly as ``materialise`` of the countries concerned would leave them.

    ``changed``: recommendations that are new or whose text, labels, response or state changed (their
    rows are rebuilt); ``relinked``: recommendations whose links were added, removed, rescored or reviewed
    (their coverage is recomputed).  A changed text is compared with the stored normalised texts of its
    country (``coverage.norm_text``), which may merge clusters or, when a text left a cluster, split one;
    recommendations whose cluster id changes are rewritten too.  Gap cells are corrected by the difference
    between the old and the new rows of every cluster involved (its members are read whole), so a cell's
    counts and distinct-cluster counts stay exact without reading the rest of the country.
    ``recs``: profiles holding at least the changed recommendations, when the caller has them.
    Returns counts of what was rewritten.
    """
    s = get_settings()
    changed = set(changed)
    relinked = set(relinked) - changed
    if not changed and not relinked:
        return {"changed": 0, "relinked": 0, "reclustered": 0, "gap_cells": 0}
    old = _coverage_frame(session, ids=sorted(changed | relinked))
    missing = relinked - set(old["recommendation_id"])
    changed |= missing  # never materialised (e.g. stored before this run's first match): rebuilt whole
    relinked -= missing
    p = _changed_profiles(session, s, changed, recs)
    new_rows = _placed(p)
    norms = [normalise(p.text[r] or "") for r in new_rows["row"]]
    old_changed = old[old["recommendation_id"].isin(changed)]
    countries = sorted(set(new_rows["iso3"]) | set(old_changed["country"]))
    table = Coverage.__table__  # type: ignore[attr-defined]
    scope = sorted(set(countries) | set(old["country"]))
    if session.execute(select(table.c.recommendation_id).where(table.c.country.in_(scope), table.c.norm_text.is_(None))
                       .limit(1)).first() is not None:  # rows written before norm_text existed: rebuild those countries
        n = materialise(session, scope, recs=None)
        return {"changed": len(changed), "relinked": len(relinked), "reclustered": n, "gap_cells": -1}
    new = pd.DataFrame({"recommendation_id": p.item_id[new_rows["row"].to_numpy(dtype=np.int64)],
                        "country": new_rows["iso3"].to_numpy(dtype=object), "norm_text": norms})

    def members_of(country: str, cluster_ids: list[str]) -> list[tuple]:
        return [r for start in range(0, len(cluster_ids), CHUNK) for r in fetch(session, select(
            table.c.recommendation_id, table.c.cluster_id, table.c.norm_text).where(
            table.c.country == country, table.c.cluster_id.in_(cluster_ids[start:start + CHUNK])))]

    new_cluster, rekeyed, old_ids = _recluster(
        new, old_changed, _candidates(session, new, old_changed, s.cluster_similarity, changed), members_of,
        s.cluster_similarity)
    touched = changed | relinked | set(rekeyed)
    # the old rows of every cluster involved, whole
    involved = set(old["cluster_id"]) | set(new_cluster.values()) | set(rekeyed.values()) | old_ids
    members = _coverage_frame(session, countries=scope, clusters=involved)
    members = _concat([members, old[~old["recommendation_id"].isin(members["recommendation_id"])]])
    member_dims = _dimension_frame(session, members["recommendation_id"].tolist())
    before = _gap_frame(members, member_dims)

    best = _best_links(session, ids=sorted(changed | relinked))
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
    after_cov = _concat([members[~members["recommendation_id"].isin(touched)], redo, cov])
    after_dims = _concat([member_dims[~member_dims["recommendation_id"].isin(changed)], dims])
    after = _gap_frame(after_cov, after_dims)

    ids = sorted(touched)
    for start in range(0, len(ids), CHUNK):
        session.execute(delete(Coverage).where(Coverage.recommendation_id.in_(ids[start:start + CHUNK])))
    gone = sorted(set(old_changed["recommendation_id"]))  # new recommendations have no rows yet
    for start in range(0, len(gone), CHUNK):
        session.execute(delete(RecDimension).where(RecDimension.recommendation_id.in_(gone[start:start + CHUNK])))
    written = _concat([redo, cov])
    insert_columns(session, Coverage, {c: written[c].tolist() for c in COVERAGE_COLUMNS})
    insert_columns(session, RecDimension, {c: dims[c] for c in DIMENSION_COLUMNS})
    cells = _apply_gap_delta(session, before, after)
    bump_version(session)
    return {"changed": len(changed), "relinked": len(relinked), "reclustered": len(rekeyed), "gap_cells": cells}


def _changed_profiles(session: Session, s, changed: set[str], recs: Optional[Profiles]) -> Profiles:
    """Profiles of the changed recommendations: taken from ``recs`` when it holds them all, else read."""
    if not changed:
        return Profiles.empty()
    if recs is not None and len(recs) and recs.response is not None:  # (a union of profiles has no responses)
        rows = np.nonzero(np.isin(recs.item_id, list(changed)) & (recs.item_type == "recommendation"))[0]
        if len(rows) == len(changed):
            return recs.take(rows)
    return load_profiles(session, "recommendation", s, ids=sorted(changed))


def _length_bounds(length: int, similarity: float) -> tuple[int, int]:
    """Lengths a normalised text must have to reach ``similarity`` with one of ``length`` characters.

    The token-sort ratio is 100 x (1 - d / (a + b)) over texts of a and b characters (sorting words keeps
    the length) and the edit distance d is at least |a - b|, so |a - b| <= t (a + b), t = 1 - similarity/100.
    One character of slack either side keeps rounding from ever losing a pair: the bounds only skip texts
    that cannot be similar.
    """
    t = max(0.0, 1.0 - similarity / 100.0)
    return max(0, int(length * (1 - t) / (1 + t)) - 1), int(length * (1 + t) / (1 - t)) + 1 if t < 1 else 10**9


def _recluster(new: pd.DataFrame, old_changed: pd.DataFrame, candidates: list[tuple[str, str, str, str]],
               members_of: Callable[[str, list[str]], list[tuple[str, str, str]]],
               similarity: float) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Cluster ids of the changed recommendations among the stored ones, after a change.

    ``new``: (recommendation_id, country, norm_text) of the changed recommendations as they are now;
    ``old_changed``: (recommendation_id, country, cluster_id) of their stored rows; ``candidates``: stored
    rows (id, country, cluster_id, norm_text) of other recommendations, holding at least every member of
    the clusters of ``old_changed`` and every text of a new one's country whose length is within
    ``_length_bounds``; ``members_of(country, cluster ids)``: the (id, cluster_id, norm_text) of every member
    of those stored clusters.

    Per country, the clusters that held a changed recommendation are redone from their remaining texts and
    the new ones (they may split or merge); an untouched cluster joins as a whole when a new text is similar
    to one of its texts.  No other pair of texts can have become similar or dissimilar, so the result is the
    full clustering's (``clusters_of_norms``; tested).  Returns the changed recommendations' cluster ids,
    {id: new cluster id} of stored recommendations whose id changes, and the old ids of their clusters.
    """
    new_cluster: dict[str, str] = {}
    rekeyed: dict[str, str] = {}
    old_ids: set[str] = set()
    fresh_by: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for rec_id, c, t in zip(new["recommendation_id"], new["country"], new["norm_text"]):
        fresh_by[c].append((rec_id, t))
    hit_by: dict[str, set[str]] = defaultdict(set)
    for c, cid in zip(old_changed["country"], old_changed["cluster_id"]):
        hit_by[c].add(cid)
    stored_by: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for rec_id, c, cid, t in candidates:
        stored_by[c].append((rec_id, cid, t))
    for c in sorted(set(fresh_by) | set(hit_by)):
        mine, hit = fresh_by.get(c, []), hit_by.get(c, set())
        redo = [(i, cid, t) for i, cid, t in stored_by.get(c, ()) if cid in hit]
        texts: dict[str, set[str]] = defaultdict(set)  # untouched clusters: their candidate texts
        for _, cid, t in stored_by.get(c, ()):
            if cid not in hit:
                texts[cid].add(t)
        untouched = sorted(texts)
        nodes = sorted({t for _, _, t in redo} | {t for _, t in mine})
        node_of = {t: k for k, t in enumerate(nodes)}
        parent = list(range(len(nodes) + len(untouched)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        def union(a: int, b: int) -> None:
            a, b = find(a), find(b)
            if a != b:
                parent[max(a, b)] = min(a, b)

        for i, j in zip(*_similar(nodes, nodes, similarity)):
            if i < j:
                union(int(i), int(j))
        fresh = sorted({t for _, t in mine})
        u_norms = [t for cid in untouched for t in sorted(texts[cid])]
        u_node = [len(nodes) + k for k, cid in enumerate(untouched) for _ in texts[cid]]
        for i, j in zip(*_similar(fresh, u_norms, similarity)):
            union(node_of[fresh[int(i)]], u_node[int(j)])
        # only components holding a redone or new text can have changed: an untouched cluster merges only
        # through one, and keeps its id otherwise
        first: dict[int, str] = {}
        for k, t in enumerate(nodes):
            r = find(k)
            first[r] = min(first.get(r, t), t)
        joined = {cid: find(len(nodes) + k) for k, cid in enumerate(untouched) if find(len(nodes) + k) in first}
        whole: dict[str, list[str]] = defaultdict(list)
        for rec_id, cid, t in (members_of(c, sorted(joined)) if joined else ()):
            whole[cid].append(rec_id)
            first[joined[cid]] = min(first[joined[cid]], t)
        key = {r: cluster_key(c, t) for r, t in first.items()}
        for rec_id, t in mine:
            new_cluster[rec_id] = key[find(node_of[t])]
        for rec_id, cid, t in redo:
            if key[find(node_of[t])] != cid:
                rekeyed[rec_id] = key[find(node_of[t])]
                old_ids.add(cid)
        for cid, r in joined.items():
            if key[r] != cid:
                old_ids.add(cid)
                for rec_id in whole[cid]:
                    rekeyed[rec_id] = key[r]
    return new_cluster, rekeyed, old_ids


def _candidates(session: Session, new: pd.DataFrame, old_changed: pd.DataFrame, similarity: float,
                changed: set[str]) -> list[tuple[str, str, str, str]]:
    """``_recluster``'s candidates: the stored members of the changed recommendations' clusters, and the
    stored texts of their countries whose length may reach ``similarity`` with a new text (a temporary table
    of length windows joined on the coverage index: the rest of the country is never read)."""
    table = Coverage.__table__  # type: ignore[attr-defined]
    cols = [table.c.recommendation_id, table.c.country, table.c.cluster_id, table.c.norm_text]
    out: list[tuple] = []
    hit = sorted(set(old_changed["cluster_id"]))
    places = sorted(set(old_changed["country"]))
    for start in range(0, len(hit), CHUNK):
        out += fetch(session, select(*cols).where(table.c.country.in_(places),
                                                  table.c.cluster_id.in_(hit[start:start + CHUNK])))
    windows = _merged(sorted((c, *_length_bounds(len(t), similarity))
                             for c, t in zip(new["country"], new["norm_text"])))
    if windows:
        conn = session.connection()
        conn.execute(text("CREATE TEMPORARY TABLE tmp_length_window (country VARCHAR(3), lo INTEGER, hi INTEGER)"))
        try:
            _executemany(conn, "INSERT INTO tmp_length_window (country, lo, hi) VALUES ({p}, {p}, {p})", windows)
            # disjoint windows: each row comes once; CROSS JOIN: SQLite loops over the windows, ix_coverage_length
            out += conn.execute(text(
                "SELECT c.recommendation_id, c.country, c.cluster_id, c.norm_text FROM tmp_length_window w "
                "CROSS JOIN coverage c WHERE c.country = w.country AND length(c.norm_text) BETWEEN w.lo AND w.hi")).all()
        finally:
            conn.execute(text("DROP TABLE tmp_length_window"))
    seen: set[str] = set()
    rows = []
    for r in out:
        if r[0] not in changed and r[0] not in seen:
            seen.add(r[0])
            rows.append(tuple(r))
    return rows


def _merged(windows: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Sorted (country, lo, hi) windows with overlapping or adjacent ones of a country joined."""
    out: list[list] = []
    for c, lo, hi in windows:
        if out and out[-1][0] == c and lo <= out[-1][2] + 1:
            out[-1][2] = max(out[-1][2], hi)
        else:
            out.append([c, lo, hi])
    return [tuple(w) for w in out]


def _executemany(conn, sql: str, rows: list[tuple]) -> None:
    """One statement for many rows of positional parameters, straight to the driver (``{p}``: its placeholder)."""
    if rows:
        conn.exec_driver_sql(sql.format(p="?" if conn.dialect.paramstyle == "qmark" else "%s"), rows)


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
    return _gap_cells(cov["country"].to_numpy(dtype=object), cov["response"].to_numpy(dtype=object),
                      cov["covered_by"].to_numpy(dtype=object), cov["cluster_id"].to_numpy(dtype=object),
                      position.astype(np.int64), dims["dimension"].to_numpy(dtype=object),
                      dims["code"].to_numpy(dtype=object))


def _coverage_frame(session: Session, *, ids: Optional[list[str]] = None, countries: Optional[list[str]] = None,
                    clusters: Optional[set[str]] = None, columns: Optional[list[str]] = None) -> pd.DataFrame:
    """Stored coverage rows (``columns``, default all) of ``ids``, or of ``countries`` (and ``clusters``)."""
    columns = columns or COVERAGE_COLUMNS
    table = Coverage.__table__  # type: ignore[attr-defined]
    stmt = select(*[table.c[c] for c in columns])
    out: list[tuple] = []
    if ids is not None:
        for start in range(0, len(ids), CHUNK):
            out += fetch(session, stmt.where(table.c.recommendation_id.in_(ids[start:start + CHUNK])))
    elif countries:
        stmt = stmt.where(table.c.country.in_(countries))
        if clusters is None:
            out = fetch(session, stmt)
        else:
            wanted = sorted(clusters)
            for start in range(0, len(wanted), CHUNK):
                out += fetch(session, stmt.where(table.c.cluster_id.in_(wanted[start:start + CHUNK])))
    return pd.DataFrame(out, columns=columns).astype(object)


def _dimension_frame(session: Session, ids: list[str]) -> pd.DataFrame:
    """Stored dimension rows of the recommendations ``ids``.  rec_dimension has no index on recommendation_id
    (it would cost a full rebuild more than it saves): one sequential scan per 5,000 ids."""
    table = RecDimension.__table__  # type: ignore[attr-defined]
    stmt = select(*[table.c[c] for c in DIMENSION_COLUMNS])
    out: list[tuple] = []
    for start in range(0, len(ids), CHUNK):
        out += fetch(session, stmt.where(table.c.recommendation_id.in_(ids[start:start + CHUNK])))
    return pd.DataFrame(out, columns=DIMENSION_COLUMNS)


GAP_KEY = ["country", "dimension", "code", "response"]
GAP_COUNTS = ["recommendations", "clusters", "covered_cf", "covered_donor", "covered_both", "uncovered",
              "clusters_cf", "clusters_donor", "clusters_both", "uncovered_clusters"]


def _gap_table(cells: dict) -> pd.DataFrame:
    """Gap cell columns as a frame of integer counts indexed by ``GAP_KEY``."""
    frame = pd.DataFrame({c: cells[c] for c in GAP_KEY + GAP_COUNTS}).astype({c: np.int64 for c in GAP_COUNTS})
    return frame.set_index(GAP_KEY)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames' rows, one after the other (empty frames left out: they would change the column types)."""
    kept = [f for f in frames if len(f)]
    return pd.concat(kept, ignore_index=True) if kept else frames[0].iloc[0:0].reset_index(drop=True)


def _stored_cells(session: Session, keys: list[tuple]) -> list[tuple]:
    """(id, key columns, count columns) of the stored gap cells with these (country, dimension, code, response)
    keys, through a temporary table joined on the cell index (a long IN list of row values is not indexed)."""
    conn = session.connection()
    conn.execute(text("CREATE TEMPORARY TABLE tmp_gap_key (country VARCHAR(3), dimension VARCHAR(10), "
                      "code VARCHAR(200), response VARCHAR(20))"))
    try:
        _executemany(conn, "INSERT INTO tmp_gap_key (country, dimension, code, response) VALUES ({p}, {p}, {p}, {p})",
                     [tuple(k) for k in keys])
        cols = ", ".join(f"g.{c}" for c in ["id"] + GAP_KEY + GAP_COUNTS)
        # CROSS JOIN: SQLite loops over the few keys and looks each up in ix_gap_cell_country
        return conn.execute(text(
            f"SELECT {cols} FROM tmp_gap_key k CROSS JOIN gap_cell g WHERE g.country = k.country "
            "AND g.dimension = k.dimension AND g.response = k.response AND g.code = k.code")).all()
    finally:
        conn.execute(text("DROP TABLE tmp_gap_key"))


def _apply_gap_delta(session: Session, before: dict, after: dict) -> int:
    """Add (after - before) to the stored gap cells; cells left with no recommendation are removed, new ones
    inserted.  Returns the number of cells changed."""
    delta = _gap_table(after).sub(_gap_table(before), fill_value=0).fillna(0).astype(np.int64)  # (a key on one side)
    delta = delta[(delta != 0).any(axis=1)]
    if delta.empty:
        return 0
    stored = _stored_cells(session, list(delta.index))
    stored_t = pd.DataFrame(stored, columns=["id"] + GAP_KEY + GAP_COUNTS).set_index(GAP_KEY)
    new = delta.add(stored_t[GAP_COUNTS].astype(np.int64), fill_value=0).reindex(delta.index).astype(np.int64)
    if (new.to_numpy() < 0).any():
        raise RuntimeError("gap cell counts would fall below zero: the stored cells are out of step with coverage; "
                           "run `upr-align match --full`")
    ids = stored_t["id"].reindex(delta.index)
    empty = (new["recommendations"] == 0).to_numpy()
    known = ids.notna().to_numpy()
    gone = [int(i) for i in ids[empty & known]]
    for start in range(0, len(gone), CHUNK):
        session.execute(delete(GapCell).where(GapCell.id.in_(gone[start:start + CHUNK])))
    keep = ~empty & known
    if keep.any():
        counts = new[keep].to_numpy(dtype=np.int64).tolist()
        _executemany(session.connection(),
                     f"UPDATE gap_cell SET {', '.join(f'{c} = {{p}}' for c in GAP_COUNTS)} WHERE id = {{p}}",
                     [(*row, int(i)) for row, i in zip(counts, ids[keep])])
    fresh = new[~empty & ~known].reset_index()
    insert_columns(session, GapCell, {c: fresh[c].tolist() for c in GAP_KEY + GAP_COUNTS})
    return len(delta)


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
    none = pd.DataFrame({"row": missing, "code": NONE_CODE, "share": 1.0})
    return pd.concat([d, none], ignore_index=True) if len(d) else none


def _best_links(session: Session, *, countries: Optional[list[str]] = None,
                ids: Optional[list[str]] = None) -> pd.DataFrame:
    """Per recommendation (of ``countries``, or ``ids``): best link id, its score and the number of links, per
    item type (rejected ones left out).  Columns ``{cf,activity}_link_id``, ``_score``, ``_links``, indexed by
    recommendation id."""
    stmt = select(Link.recommendation_id, Link.item_type, Link.id, Link.score).where(Link.status != "rejected")
    if ids is not None:
        rows = [r for start in range(0, len(ids), CHUNK)
                for r in fetch(session, stmt.where(Link.recommendation_id.in_(ids[start:start + CHUNK])))]
    else:
        rows = fetch(session, stmt.where(Link.country.in_(countries or [])))
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
