"""Clusters of identical or near-identical recommendation texts in one country (issue #5).

UPR Info repeats a recommendation once per recommending state, and states often make the same
recommendation with a word changed: gap tables count such texts once as a *cluster*.  Texts equal once
normalised (``normalise``: case, punctuation and spacing ignored) are one cluster; so are texts whose
rapidfuzz token-sort ratio reaches ``UPR_ALIGN_CLUSTER_SIMILARITY``, joined transitively.  A cluster's id
is ``cluster_key`` of its first normalised text in sort order, so it does not depend on the order texts
arrive in.

``clusters_of_norms`` clusters a whole country (a full rebuild); ``recluster`` updates the stored clusters
after some texts changed or arrived, reading only the stored texts that may be similar (``candidates``:
same country, a length within ``length_bounds``) and the members of the clusters involved, with the same
result (property-tested against clustering from scratch).
"""
from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from typing import Callable

import numpy as np
import pandas as pd
from sqlalchemy import select, text
from sqlmodel import Session

from .arrays import DisjointSets
from .bulk import temporary_rows
from .models import Coverage
from .profiles import CHUNK, fetch


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


def similar_pairs(a: list[str], b: list[str], similarity: float) -> tuple[np.ndarray, np.ndarray]:
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
    sets = DisjointSets(len(uniq))
    if similarity < 100 and len(uniq) > 1:
        for i, j in zip(*similar_pairs(uniq, uniq, similarity)):
            if i < j:
                sets.union(int(i), int(j))
    return [sets.find(k) for k in range(len(uniq))]


def length_bounds(length: int, similarity: float) -> tuple[int, int]:
    """Lengths a normalised text must have to reach ``similarity`` with one of ``length`` characters.

    The token-sort ratio is 100 x (1 - d / (a + b)) over texts of a and b characters (sorting words keeps
    the length) and the edit distance d is at least |a - b|, so |a - b| <= t (a + b), t = 1 - similarity/100.
    One character of slack either side keeps rounding from ever losing a pair: the bounds only skip texts
    that cannot be similar.
    """
    t = max(0.0, 1.0 - similarity / 100.0)
    return max(0, int(length * (1 - t) / (1 + t)) - 1), int(length * (1 + t) / (1 - t)) + 1 if t < 1 else 10**9


def recluster(new: pd.DataFrame, old_changed: pd.DataFrame, candidates: list[tuple[str, str, str, str]],
               members_of: Callable[[str, list[str]], list[tuple[str, str, str]]],
               similarity: float) -> tuple[dict[str, str], dict[str, str], set[str]]:
    """Cluster ids of the changed recommendations among the stored ones, after a change.

    ``new``: (recommendation_id, country, norm_text) of the changed recommendations as they are now;
    ``old_changed``: (recommendation_id, country, cluster_id) of their stored rows; ``candidates``: stored
    rows (id, country, cluster_id, norm_text) of other recommendations, holding at least every member of
    the clusters of ``old_changed`` and every text of a new one's country whose length is within
    ``length_bounds``; ``members_of(country, cluster ids)``: the (id, cluster_id, norm_text) of every member
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
        sets = DisjointSets(len(nodes) + len(untouched))
        find, union = sets.find, sets.union
        for i, j in zip(*similar_pairs(nodes, nodes, similarity)):
            if i < j:
                union(int(i), int(j))
        fresh = sorted({t for _, t in mine})
        u_norms = [t for cid in untouched for t in sorted(texts[cid])]
        u_node = [len(nodes) + k for k, cid in enumerate(untouched) for _ in texts[cid]]
        for i, j in zip(*similar_pairs(fresh, u_norms, similarity)):
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


def candidates(session: Session, new: pd.DataFrame, old_changed: pd.DataFrame, similarity: float,
                changed: set[str]) -> list[tuple[str, str, str, str]]:
    """``recluster``'s candidates: the stored members of the changed recommendations' clusters, and the
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
    windows = merged_windows(sorted((c, *length_bounds(len(t), similarity))
                             for c, t in zip(new["country"], new["norm_text"])))
    if windows:
        conn = session.connection()
        temporary_rows(conn, "tmp_length_window", {"country": "VARCHAR(3)", "lo": "INTEGER", "hi": "INTEGER"},
                       windows)
        # disjoint windows: each row comes once; CROSS JOIN: SQLite loops over the windows and reads the
        # range of each in ix_coverage_length
        out += conn.execute(text(
            "SELECT c.recommendation_id, c.country, c.cluster_id, c.norm_text FROM tmp_length_window w "
            "CROSS JOIN coverage c WHERE c.country = w.country AND length(c.norm_text) BETWEEN w.lo AND w.hi")).all()
    seen: set[str] = set()
    rows = []
    for r in out:
        if r[0] not in changed and r[0] not in seen:
            seen.add(r[0])
            rows.append(tuple(r))
    return rows


def merged_windows(windows: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Sorted (country, lo, hi) windows with overlapping or adjacent ones of a country joined."""
    out: list[list] = []
    for c, lo, hi in windows:
        if out and out[-1][0] == c and lo <= out[-1][2] + 1:
            out[-1][2] = max(out[-1][2], hi)
        else:
            out.append([c, lo, hi])
    return [tuple(w) for w in out]
