"""Link scores and their explanations (issue #5).

Components of a candidate pair (recommendation r, item i), each in [0, 1]:

    target  min(1, sum over shared SDG targets t of specificity(t) x w_r(t) x w_i(t) / sqrt(n_r x n_i)),
            n_r and n_i the numbers of targets of r and of i (breadth: a broad item matches each less)
    theme   min(1, same over shared UPR Info themes)
    goal    min(1, same over shared SDG goals)
    text    cosine of TF-IDF vectors of lemmatised content words (unigrams and bigrams; IDF over the
            texts matched together in the run)

``w`` is a label's weight from ``matcher.profiles`` (declared > predicted) and ``specificity`` the
IDF-like weight of ``matcher.blocking.specificity``.  The score is the noisy-OR

    score = 1 - (1 - W_target x target)(1 - W_theme x theme)(1 - W_goal x goal)(1 - W_text x text)

with the weights ``link_weight_*`` from settings: any one strong reason makes a strong link, and
independent reasons add up without ever passing 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from .profiles import Profile
from .settings import Settings

COMPONENTS = ("target", "theme", "goal", "text")
_SIDE = {"recommendation": "the recommendation", "cf_item": "the CF item", "activity": "the activity"}


def _identity(tokens):
    return tokens


@dataclass
class TextSpace:
    """TF-IDF vectors (L2-normalised rows) of the profiles' texts, with the vocabulary to name shared terms."""

    matrix: sparse.csr_matrix
    terms: np.ndarray
    row: dict[tuple[str, str], int]


def text_space(profiles: Sequence[Profile]) -> TextSpace:
    """Fit IDF on the lemmatised texts of ``profiles`` and vectorise them (unigrams + bigrams)."""
    from .model import Analyzer

    analyzer = Analyzer()
    docs = []
    for p in profiles:
        lem = analyzer.lemmas(p.text)
        docs.append(lem + [f"{a} {b}" for a, b in zip(lem, lem[1:])])
    row = {(p.item_type, p.item_id): k for k, p in enumerate(profiles)}
    if not any(docs):
        return TextSpace(sparse.csr_matrix((len(profiles), 1)), np.array([""]), row)
    vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float64)
    X = vec.fit_transform(docs).tocsr()
    return TextSpace(X, vec.get_feature_names_out(), row)


def text_similarity(space: TextSpace, rec_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
    """Cosine similarity of each (rec row, item row) pair, vectorised."""
    if len(rec_rows) == 0:
        return np.zeros(0)
    X = space.matrix
    return np.asarray(X[rec_rows].multiply(X[item_rows]).sum(axis=1)).ravel().clip(0.0, 1.0)


def combine(components: dict[str, np.ndarray], s: Settings) -> np.ndarray:
    """Noisy-OR of the weighted components (arrays of equal length), in [0, 1]."""
    weights = {"target": s.link_weight_target, "theme": s.link_weight_theme, "goal": s.link_weight_goal,
               "text": s.link_weight_text}
    keep = np.ones_like(next(iter(components.values())))
    for name, values in components.items():
        keep = keep * (1.0 - weights[name] * np.clip(values, 0.0, 1.0))
    return 1.0 - keep


def shared_terms(space: TextSpace, rec_row: int, item_row: int, k: int) -> list[str]:
    """Up to k terms both texts use, the rarest (highest TF-IDF product) first; a bigram hides its words."""
    X = space.matrix
    a = slice(X.indptr[rec_row], X.indptr[rec_row + 1])
    b = slice(X.indptr[item_row], X.indptr[item_row + 1])
    common, ia, ib = np.intersect1d(X.indices[a], X.indices[b], assume_unique=True, return_indices=True)
    if not len(common):
        return []
    weight = X.data[a][ia] * X.data[b][ib]
    out: list[str] = []
    for j in np.argsort(-weight, kind="stable"):
        term = str(space.terms[common[j]])
        if any(term in t.split(" ") or term == t for t in out):
            continue
        out.append(term)
        if len(out) == k:
            break
    return out


def shared_labels(rec: Profile, item: Profile, attribute: str, vocabulary: str,
                  spec: dict[str, float]) -> list[dict]:
    """Labels both sides carry, with their origin on each side and contribution, the largest first."""
    theirs = getattr(item, attribute)
    out = []
    for code, w in getattr(rec, attribute).items():
        if code in theirs:
            out.append({"code": code, "recommendation": rec.origin.get((vocabulary, code), "declared"),
                        "item": item.origin.get((vocabulary, code), "declared"),
                        "contribution": round(spec.get(code, 0.0) * w * theirs[code]
                                              / math.sqrt(len(theirs) * len(getattr(rec, attribute))), 4)})
    out.sort(key=lambda d: (-d["contribution"], d["code"]))
    return out


def _origins(d: dict, item_type: str) -> str:
    sides = {"declared": [], "predicted": []}
    for key, side in (("item", _SIDE[item_type]), ("recommendation", _SIDE["recommendation"])):
        origin = d[key]
        if origin in ("declared", "both"):
            sides["declared"].append(side)
        else:
            sides["predicted"].append(side)
    parts = [f"{k} on {' and '.join(v)}" for k, v in sides.items() if v]
    return ", ".join(parts)


def explain(components: dict, item_type: str, score: float) -> str:
    """One readable sentence from a link's components (what a reviewer checks before confirming)."""
    parts = []
    targets = components.get("shared_targets", [])
    if targets:
        parts.append("shared target" + ("s " if len(targets) > 1 else " ") + "; ".join(
            f"{d['code']} ({_origins(d, item_type)})" for d in targets[:4]) + (" …" if len(targets) > 4 else ""))
    themes = components.get("shared_themes", [])
    if themes:
        parts.append("shared theme" + ("s " if len(themes) > 1 else " ") + ", ".join(d["code"] for d in themes[:4]))
    goals = [d for d in components.get("shared_goals", [])
             if not any(t["code"].split(".")[0] == d["code"] for t in targets)]
    if goals:
        parts.append("shared goal" + ("s " if len(goals) > 1 else " ") + ", ".join(d["code"] for d in goals[:4]))
    words = components.get("words", [])
    if words:
        parts.append("words " + ", ".join(f"'{w}'" for w in words))
    parts.append(f"text similarity {components.get('text', 0.0):.2f}")
    return "; ".join(parts) + f" → score {score:.2f}"
