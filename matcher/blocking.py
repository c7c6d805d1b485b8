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
from typing import Iterable, Sequence

import numpy as np
from scipy import sparse

from .profiles import Profile


@dataclass(frozen=True)
class BlockingRule:
    """A named blocking rule: pairs sharing at least one label of ``attribute`` (a Profile field)."""

    name: str
    attribute: str
    description: str


RULES: tuple[BlockingRule, ...] = (
    BlockingRule("target", "targets", "same country and at least one shared SDG target"),
    BlockingRule("theme", "themes", "same country and at least one shared UPR Info theme"),
    BlockingRule("goal", "goals", "same country and at least one shared SDG goal (weaker)"),
)


def specificity(document_frequency: dict[str, int], n_items: int) -> dict[str, float]:
    """Per label, log((N + 1) / (df + 1)) / log(N + 1) in [0, 1]: a rare target counts more than 16.x."""
    if n_items <= 0:
        return {}
    top = math.log(n_items + 1)
    return {code: max(math.log((n_items + 1) / (df + 1)), 0.0) / top if top else 0.0
            for code, df in document_frequency.items()}


def document_frequencies(profiles: Iterable[Profile]) -> dict[str, dict[str, int]]:
    """How many profiles carry each label, per rule attribute."""
    out: dict[str, dict[str, int]] = {r.attribute: {} for r in RULES}
    for p in profiles:
        for attr, counts in out.items():
            for code in getattr(p, attr):
                counts[code] = counts.get(code, 0) + 1
    return out


def label_matrix(profiles: Sequence[Profile], attribute: str, columns: dict[str, int],
                 weights: dict[str, float] | None = None) -> sparse.csr_matrix:
    """(n_profiles x n_labels) matrix of label weights divided by sqrt(number of labels in the row), times
    ``weights[code]`` (specificity) when given: a broad item tagged with twenty targets shares each of them
    less than a focused one does."""
    indptr, indices, data = [0], [], []
    for p in profiles:
        labels = getattr(p, attribute)
        breadth = math.sqrt(len(labels)) if labels else 1.0
        for code, w in labels.items():
            j = columns.get(code)
            if j is None:
                j = columns[code] = len(columns)
            indices.append(j)
            data.append(w * (weights.get(code, 0.0) if weights is not None else 1.0) / breadth)
        indptr.append(len(indices))
    return sparse.csr_matrix((np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(profiles), max(len(columns), 1)))


def rule_products(recs: Sequence[Profile], items: Sequence[Profile],
                  spec: dict[str, dict[str, float]]) -> dict[str, sparse.csr_matrix]:
    """Per rule, the (n_recs x n_items) product whose non-zeros are the pairs the rule proposes."""
    out = {}
    for rule in RULES:
        columns: dict[str, int] = {}
        R = label_matrix(recs, rule.attribute, columns, spec.get(rule.attribute))
        I = label_matrix(items, rule.attribute, columns)
        width = max(len(columns), 1)
        R.resize((R.shape[0], width))
        I.resize((I.shape[0], width))
        P = (R @ I.T).tocsr()
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
    return coo.row.astype(np.int64), coo.col.astype(np.int64), (len(RULES) - coo.data).astype(np.int64)


def count_pairs(products: dict[str, sparse.csr_matrix]) -> dict[str, int]:
    """Pairs proposed per rule and in all (a pair proposed by two rules counts once in ``total``)."""
    counts = {rule.name: int(products[rule.name].nnz) for rule in RULES}
    counts["total"] = int(len(candidates(products)[0])) if products else 0
    return counts
