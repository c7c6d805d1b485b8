"""Calibrate the goal rule of a freshly fitted model by inner cross-validation on its own training examples.

The goal rule (``matcher.classify.decide_goals``: a threshold on the combined score, a share of the text's best
goal score, at most N goals) decides how many goals a text gets, so it sets the precision/recall balance.  It is
chosen here, at fit time, from the model's training data only; so when ``upr-align evaluate`` fits a model on
the training folds, the rule it applies to the test fold never saw the test labels (nested cross-validation).

How: the examples with SDG goal labels are split into ``INNER_FOLDS`` folds by near-duplicate group; each fold's
goal and target probabilities come from heads fitted on the other folds (the vectorizer and the theme head are the
fitted model's: the theme head never trains on goal examples); the lexicons and crosswalks add their evidence as
in classification (``matcher.classify.goal_candidates``, weights from the default settings); every rule of the
grid is scored by micro-F1 over (text, goal) pairs within each training source (labelled sentences, target texts,
SDG titles, UN INFO sub-outputs, IATI activities), and the rule with the best mean over the sources is kept (ties:
the stricter rule), so that each kind of text weighs the same whatever its size: pooled, the 2,567 single-goal
sentences would decide alone, and the multi-goal programme texts would lose every second goal.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Sequence

import numpy as np

INNER_FOLDS = 4
THRESHOLDS = tuple(round(0.05 + 0.05 * i, 2) for i in range(16))  # 0.05 .. 0.80
RELATIVES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MAXIMA = (0,)  # a hard cap cut ties arbitrarily (trafficking: 5, 8, 16 score alike) for +0.0002 inner F1
GOALS = tuple(str(g) for g in range(1, 18))


def out_of_fold_probabilities(model, examples: Sequence, heads=("sdg_goal", "sdg_target")) -> dict[str, np.ndarray]:
    """Probabilities of each example under heads fitted without its inner fold, columns as in ``model.labels``."""
    from .model import TextModel, fit_head
    from .splits import grouped_folds, near_duplicate_groups

    texts = [e.text for e in examples]
    X = model.transform(texts)
    folds = grouped_folds(near_duplicate_groups(texts), INNER_FOLDS)
    out = {h: np.zeros((len(examples), len(model.labels[h])), dtype=np.float32) for h in heads if h in model.labels}
    for k in range(INNER_FOLDS):
        test = [i for i, f in enumerate(folds) if f == k]
        for head in out:
            train = [i for i, f in enumerate(folds) if f != k and examples[i].labels.get(head)]
            clf, keep = fit_head(X[train], [examples[i].labels[head] for i in train], head)
            if clf is None:
                continue
            inner = TextModel("inner", model.vectorizer, {head: clf}, {head: keep})
            cols = [model.labels[head].index(c) for c in keep if c in model.labels[head]]
            p = inner.predict(X[test], head)
            out[head][np.ix_(test, cols)] = p[:, [j for j, c in enumerate(keep) if c in model.labels[head]]]
    return out


def candidate_matrix(model, examples: Sequence, probs: dict[str, np.ndarray], settings=None) -> np.ndarray:
    """Combined goal scores before the rule, shape (n_examples, 17), columns goals 1..17 (0 = no evidence)."""
    from .classify import goal_candidates
    from .lexicon import Lexicon
    from .settings import Settings

    settings = settings or Settings.model_construct()  # default weights: the cached model must not depend on env
    texts = [e.text for e in examples]
    full = {**{h: model.predict(model.transform(texts), h) for h in model.labels if h not in probs}, **probs}
    shim = SimpleNamespace(labels=model.labels, version=model.version)
    S = np.zeros((len(texts), len(GOALS)), dtype=np.float32)
    for i, hits in enumerate(Lexicon.load().match_many(texts)):
        for goal, score in goal_candidates(i, texts[i], hits, full, shim, settings).items():
            if goal in GOALS:
                S[i, GOALS.index(goal)] = score
    return S


def rule_f1(S: np.ndarray, Y: np.ndarray, rule: tuple[float, float, int]) -> tuple[float, float, float]:
    """Micro precision, recall, F1 over (text, goal) pairs of ``decide_goals`` applied to every row of S."""
    threshold, relative, limit = rule
    best = S.max(axis=1, keepdims=True)
    keep = (S >= threshold) & (S >= relative * best)
    if limit:
        rank = np.argsort(np.argsort(-S, axis=1, kind="stable"), axis=1, kind="stable")
        keep &= rank < limit
    tp = float((keep & Y).sum())
    p = tp / float(keep.sum()) if keep.sum() else 0.0
    r = tp / float(Y.sum()) if Y.sum() else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def choose_rule(S: np.ndarray, Y: np.ndarray, sources: Sequence[str]) -> dict:
    """The grid rule with the best mean over sources of micro-F1 on (S, Y); ties: higher threshold, stricter rule."""
    sources = np.asarray(sources)
    rows = [sources == name for name in sorted(set(sources.tolist()))]
    best = None
    for threshold in THRESHOLDS:
        for relative in RELATIVES:
            for limit in MAXIMA:
                rule = (threshold, relative, limit)
                f1 = float(np.mean([rule_f1(S[r], Y[r], rule)[2] for r in rows]))
                key = (round(f1, 4), threshold, relative, -(limit or 99))
                if best is None or key > best[0]:
                    p, r, pooled = rule_f1(S, Y, rule)
                    best = (key, {"threshold": threshold, "relative": relative, "max": limit,
                                  "inner_mean_f1": round(f1, 4), "inner_p": round(p, 4), "inner_r": round(r, 4),
                                  "inner_f1": round(pooled, 4)})
    return best[1]


def calibrate_goal_rule(model, examples: Sequence) -> dict:
    """The goal rule for ``model`` from inner cross-validation on its goal-labelled training ``examples``."""
    goal_examples = [e for e in examples if e.labels.get("sdg_goal")]
    if len(goal_examples) < 10 * INNER_FOLDS:
        return {}
    probs = out_of_fold_probabilities(model, goal_examples)
    S = candidate_matrix(model, goal_examples, probs)
    Y = np.array([[g in e.labels["sdg_goal"] for g in GOALS] for e in goal_examples])
    return {**choose_rule(S, Y, [e.source for e in goal_examples]), "texts": len(goal_examples)}
