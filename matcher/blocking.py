"""Blocking: which (recommendation, item) pairs are worth scoring at all (issue #5).

Never all pairs.  A pair is a candidate only when the item reaches the recommendation's country (with a
share > 0) **and** one of the rules below holds.  Each rule is a sparse product of label matrices, so the
number of pairs it proposes is known before anything is scored (``count_pairs``).

    target  at least one shared SDG target
    theme   at least one shared UPR Info theme
    goal    at least one shared SDG goal (weaker: many texts share goal 16)

Label weights go into the matrices, so the same products are the scoring components
(``matcher.scoring``): entry (r, i) of the target product is the sum over shared targets t of
specificity(t) x weight on r x weight on i, divided by sqrt(n_r x n_i), the numbers of targets on each side
(so it stays in [0, 1] and a broad item does not match everything).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .profiles import Profiles


@dataclass(frozen=True)
class BlockingRule:
    """A named blocking rule: pairs sharing at least one label of ``vocabulary`` (Profile attribute ``attribute``)."""

    name: str
    attribute: str
    vocabulary: str
    description: str


RULES: tuple[BlockingRule, ...] = (
    BlockingRule("target", "targets", "sdg_target", "same country and at least one shared SDG target"),
    BlockingRule("theme", "themes", "uprinfo", "same country and at least one shared UPR Info theme"),
    BlockingRule("goal", "goals", "sdg_goal", "same country and at least one shared SDG goal (weaker)"),
)


def specificity(document_frequency: dict[str, int], n_items: int) -> dict[str, float]:
    """Per label, log((N + 1) / (df + 1)) / log(N + 1) in [0, 1]: a rare target counts more than 16.x."""
    if n_items <= 0:
        return {}
    top = math.log(n_items + 1)
    return {code: max(math.log((n_items + 1) / (df + 1)), 0.0) / top if top else 0.0
            for code, df in document_frequency.items()}


def label_matrix(profiles: Profiles, vocabulary: str, columns: pd.Index,
                 weights: dict[str, float] | None = None) -> sparse.csr_matrix:
    """(n_profiles x len(columns)) matrix of label weights divided by sqrt(number of labels in the row), times
    ``weights[code]`` (specificity) when given: a broad item tagged with twenty targets shares each of them
    less than a focused one does."""
    lab = profiles.labels[profiles.labels["vocabulary"] == vocabulary]
    rows = lab["row"].to_numpy(dtype=np.int64)
    breadth = np.sqrt(np.maximum(np.bincount(rows, minlength=len(profiles)), 1).astype(np.float64))
    data = lab["weight"].to_numpy(dtype=np.float64) / breadth[rows]
    if weights is not None:
        data = data * lab["code"].map(weights).fillna(0.0).to_numpy(dtype=np.float64)
    return sparse.csr_matrix((data, (rows, columns.get_indexer(lab["code"]))),
                             shape=(len(profiles), max(len(columns), 1)))


def rule_matrices(recs: Profiles, items: Profiles, spec: dict[str, dict[str, float]]) -> dict[str, tuple]:
    """Per rule, (recommendation matrix weighted by specificity, item matrix) over the same label columns.

    A row slice of each, multiplied, is the rule's product for those recommendations and items.
    """
    out = {}
    for rule in RULES:
        codes = pd.concat([p.labels.loc[p.labels["vocabulary"] == rule.vocabulary, "code"] for p in (recs, items)])
        columns = pd.Index(pd.unique(codes))
        out[rule.name] = (label_matrix(recs, rule.vocabulary, columns, spec.get(rule.attribute)),
                          label_matrix(items, rule.vocabulary, columns))
    return out


def rule_products(matrices: dict[str, tuple], rec_rows: np.ndarray, item_rows: np.ndarray) -> dict[str, sparse.csr_matrix]:
    """Per rule, the (len(rec_rows) x len(item_rows)) product whose non-zeros are the pairs the rule proposes."""
    out = {}
    for rule in RULES:
        R, I = matrices[rule.name]
        P = (R[rec_rows] @ I[item_rows].T).tocsr()
        P.eliminate_zeros()
        out[rule.name] = P
    return out


def candidates(products: dict[str, sparse.csr_matrix]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rec rows, item cols, rule index) of the union of every rule's pairs, the strongest rule first."""
    union = None
    for k, rule in enumerate(RULES):
        mask = products[rule.name].copy()
        mask.data = np.full(mask.nnz, len(RULES) - k, dtype=np.float64)  # target 3, theme 2, goal 1
        union = mask if union is None else union.maximum(mask)
    coo = union.tocoo()
    order = np.lexsort((coo.col, coo.row))  # row-major, whatever order the sparse routines left
    return (coo.row[order].astype(np.int64), coo.col[order].astype(np.int64),
            (len(RULES) - coo.data[order]).astype(np.int64))


def count_pairs(products: dict[str, sparse.csr_matrix]) -> dict[str, int]:
    """Pairs proposed per rule and in all (a pair proposed by two rules counts once in ``total``)."""
    counts = {rule.name: int(products[rule.name].nnz) for rule in RULES}
    counts["total"] = int(len(candidates(products)[0])) if products else 0
    return counts
