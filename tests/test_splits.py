"""Held-apart splits (matcher.splits) and the fit-time goal rule (matcher.calibration): no leakage, no test tuning."""
from __future__ import annotations

import numpy as np

from matcher.calibration import choose_rule, rule_f1
from matcher.classify import decide_goals
from matcher.evaluation import labelled_sentence_split
from matcher.model import Example, load_examples
from matcher.splits import (drop_near_duplicates, grouped_folds, merge_duplicates, near_duplicate_groups,
                            normalise_text)


def _ex(text, goals, source="labelled_sentences"):
    return Example(text, source, {"sdg_goal": tuple(goals)})


def test_exact_duplicates_merge_into_one_text_with_both_goals():
    merged = merge_duplicates([_ex("Paying a living wage.", ["1"]), _ex("paying a living  wage", ["8"]),
                               _ex("Planting trees.", ["15"])], "sdg_goal")
    assert [e.labels["sdg_goal"] for e in merged] == [("1", "8"), ("15",)]
    assert normalise_text(" Paying, a living-wage! ") == "paying a living wage"


def test_near_duplicates_share_a_group_and_a_fold():
    texts = ["Providing access to health care for employees and their families in the supply chain.",
             "Providing access to health-care for employees and their families in the supply chain",
             "Reducing greenhouse gas emissions of own operations.",
             "Protecting marine ecosystems from land-based pollution."]
    groups = near_duplicate_groups(texts)
    assert groups[0] == groups[1] and len(set(groups)) == 3
    folds = grouped_folds(groups * 5, 3)  # every copy of a group lands in the same fold
    assert all(folds[i] == folds[j] for i in range(20) for j in range(20) if (groups * 5)[i] == (groups * 5)[j])


def test_training_loses_near_duplicates_of_test_texts():
    test = [_ex("By 2030, eradicate extreme poverty for all people everywhere.", ["1"])]
    train = [_ex("By 2030 eradicate extreme poverty for all people everywhere", ["1"], "target_texts"),
             _ex("Halve the proportion of people living in poverty.", ["1"], "target_texts")]
    assert [e.text for e in drop_near_duplicates(train, test)] == [train[1].text]


def test_labelled_sentence_folds_never_split_a_near_duplicate_group():
    sents, folds = labelled_sentence_split(5)
    assert len(sents) < len(load_examples("labelled_sentences"))  # exact duplicates merged
    groups = near_duplicate_groups([e.text for e in sents])
    seen: dict[int, int] = {}
    for g, f in zip(groups, folds):
        assert seen.setdefault(g, f) == f
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]


def test_rule_scores_agree_with_decide_goals_and_the_best_rule_is_chosen():
    goals = [str(g) for g in range(1, 18)]
    rng = np.random.default_rng(0)
    S = rng.random((40, 17)).astype(np.float32) * (rng.random((40, 17)) < 0.3)
    Y = np.zeros((40, 17), dtype=bool)
    Y[np.arange(40), S.argmax(axis=1)] = True  # gold = the best goal: top-1 rules must win
    for rule in ((0.2, 0.0, 0), (0.1, 0.8, 0), (0.3, 0.5, 2)):
        kept = [decide_goals({goals[j]: float(S[i, j]) for j in np.flatnonzero(S[i])}, rule) for i in range(40)]
        tp = sum(len({goals[j] for j in np.flatnonzero(Y[i])} & set(kept[i])) for i in range(40))
        p, r, _ = rule_f1(S, Y, rule)
        assert abs(p - tp / max(1, sum(map(len, kept)))) < 1e-9 and abs(r - tp / Y.sum()) < 1e-9
    best = choose_rule(S, Y, ["a"] * 20 + ["b"] * 20)
    assert best["relative"] == 1.0 and best["inner_mean_f1"] == 1.0
