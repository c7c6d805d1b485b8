"""Link scores and their explanations (issue #5).

Components of a candidate pair (recommendation r, item i), each in [0, 1]:

    target  min(1, sum over shared SDG targets t of specificity(t) x w_r(t) x w_i(t) / sqrt(n_r x n_i)),
            n_r and n_i the numbers of targets of r and of i (breadth: a broad item matches each less)
    theme   min(1, same over shared UPR Info themes)
    goal    min(1, same over shared SDG goals)
    text    cosine of TF-IDF vectors of lemmatised content words (unigrams and bigrams; IDF over the
            texts matched together in the run; ``matcher.tfidf``)

``w`` is a label's weight from ``matcher.profiles`` (declared > predicted) and ``specificity`` the
IDF-like weight of ``matcher.blocking.specificity``.  The score is the noisy-OR

    score = 1 - (1 - W_target x target)(1 - W_theme x theme)(1 - W_goal x goal)(1 - W_text x text)

with the weights ``link_weight_*`` from settings: any one strong reason makes a strong link, and
independent reasons add up without ever passing 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .settings import Settings
from .tfidf import TextSpace, lemma_space, shared_terms, text_similarity, text_space  # noqa: F401  (the text component)

COMPONENTS = ("target", "theme", "goal", "text")
_SIDE = {"recommendation": "the recommendation", "cf_item": "the CF item", "activity": "the activity"}


@dataclass
class Scored:
    """Kept pairs of one block: positions in the block's recommendation and item rows, score, rule, components."""

    rows: np.ndarray
    cols: np.ndarray
    score: np.ndarray
    rule: np.ndarray
    components: dict[str, np.ndarray]


def score_block(products: dict, space: TextSpace, rec_rows: np.ndarray, item_rows: np.ndarray,
                rows: np.ndarray, cols: np.ndarray, rule: np.ndarray, kinds: np.ndarray, s: Settings) -> Scored:
    """Score a block's candidate pairs (rows, cols) and keep those at or above ``link_threshold``, at most
    ``link_max_per_recommendation`` per recommendation and item kind (0 CF, 1 activity), the best first.

    ``rec_rows``/``item_rows``: the block's rows in ``space``; ``products``: the block's rule products.
    """
    comps = {name: np.minimum(np.asarray(products[name][rows, cols]).ravel(), 1.0)
             for name in ("target", "theme", "goal")}
    comps["text"] = text_similarity(space, rec_rows, item_rows, rows, cols)
    score = combine(comps, s)
    keep = np.nonzero(score >= s.link_threshold)[0]
    kind = kinds[cols]
    order = keep[np.lexsort((-score[keep], kind[keep], rows[keep]))]
    group = rows[order] * 2 + kind[order]
    starts = np.r_[True, group[1:] != group[:-1]] if len(order) else np.zeros(0, dtype=bool)
    position = np.arange(len(order))
    rank = position - np.maximum.accumulate(np.where(starts, position, 0)) if len(order) else position
    sel = order[rank < s.link_max_per_recommendation]
    return Scored(rows[sel], cols[sel], score[sel], rule[sel], {k: v[sel] for k, v in comps.items()})


def combine(components: dict[str, np.ndarray], s: Settings) -> np.ndarray:
    """Noisy-OR of the weighted components (arrays of equal length), in [0, 1]."""
    weights = {"target": s.link_weight_target, "theme": s.link_weight_theme, "goal": s.link_weight_goal,
               "text": s.link_weight_text}
    keep = np.ones_like(next(iter(components.values())))
    for name, values in components.items():
        keep = keep * (1.0 - weights[name] * np.clip(values, 0.0, 1.0))
    return 1.0 - keep


def shared_labels(rec: dict, item: dict, vocabulary: str, spec: dict[str, float]) -> list[dict]:
    """Labels both sides carry, with their origin on each side and contribution, the largest first.

    ``rec``/``item``: {vocabulary: {code: (weight, origin)}} (``Profiles.label_dicts``).
    """
    theirs = item.get(vocabulary, {})
    out = []
    for code, (w, origin) in rec.get(vocabulary, {}).items():
        if code in theirs:
            out.append({"code": code, "recommendation": origin, "item": theirs[code][1],
                        "contribution": round(spec.get(code, 0.0) * w * theirs[code][0]
                                              / math.sqrt(len(theirs) * len(rec[vocabulary])), 4)})
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
