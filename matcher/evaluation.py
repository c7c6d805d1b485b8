"""Measure the classifier on held-apart splits of the shipped data (never on what the model in use trained on).

Splits (``evaluate()`` runs all four; each retrains the text model without its test texts, the lexicons and
crosswalks are fixed).  Every split also drops from the training set each example that is a near-duplicate of a
test text (``matcher.splits``: TF-IDF cosine >= 0.7), so a copied sentence never counts as a success:

- ``labelled_sentences``: 5-fold cross-validation of the whole classifier on the labelled sentences (goal level;
  the closest shipped proxy for 2-4 sentence paragraphs of development reports).  Exact duplicates are merged into
  one text with all its goals (2,515 texts) and near-duplicates form groups that stay in one fold;
- ``paragraphs_one_goal`` / ``paragraphs_two_goals`` (computed with ``labelled_sentences``, by the same fold
  models): 2-4 held-out sentences of the test fold joined into one text, all of one goal, or of two goals (gold:
  both).  Synthetic: a check of how the goal rule behaves on paragraph-length texts, not the issue's set of
  2-4-sentence paragraphs from development reports, which is not shipped;
- ``uprinfo``: UPR Info recommendations, train on sessions 1-13, test on 14-17 (theme level);
- ``slovenia``: OHCHR's SDG goals of Slovenia's recommendations (cycles 3-4; weak labels; never trained on);
- ``uninfo``: UN INFO sub-outputs of one fifth of the countries (by a stable hash), trained on the rest
  (goal and target level, against the targets the plans declared).

Scores are judged per (text, label) pair: micro precision/recall/F1 pool all pairs; macro averages the per-label
F1 (and P, R) over the labels present in the gold standard.
"""
from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from typing import Callable, Iterator, Optional

from .classify import classify_texts
from .model import Example, TRAIN_SOURCES, fit, load_examples
from .settings import Settings, get_settings
from .splits import drop_near_duplicates, labelled_sentence_folds, merge_duplicates

LEVELS = ("sdg_goal", "sdg_target", "uprinfo")
TARGETS = {("labelled_sentences", "sdg_goal"): (0.83, 0.88), ("uprinfo", "uprinfo"): (0.75, None),
           ("slovenia", "sdg_goal"): (0.75, None)}


def scores(gold: list[set[str]], pred: list[set[str]]) -> dict[str, float]:
    """Micro and macro precision/recall/F1 of predicted label sets against gold label sets (per pair)."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred):
        for c in p & g:
            tp[c] += 1
        for c in p - g:
            fp[c] += 1
        for c in g - p:
            fn[c] += 1
    T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
    out = {"micro_p": _div(T, T + F), "micro_r": _div(T, T + N)}
    out["micro_f1"] = _f1(out["micro_p"], out["micro_r"])
    labels = sorted({c for g in gold for c in g})
    ps = [_div(tp[c], tp[c] + fp[c]) for c in labels]
    rs = [_div(tp[c], tp[c] + fn[c]) for c in labels]
    out["macro_p"] = _div(sum(ps), len(labels))
    out["macro_r"] = _div(sum(rs), len(labels))
    out["macro_f1"] = _div(sum(_f1(p, r) for p, r in zip(ps, rs)), len(labels))
    out["texts"], out["labels"], out["gold_pairs"], out["pred_pairs"] = len(gold), len(labels), T + N, T + F
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _sample(items: list, n: Optional[int], seed: int = 0) -> list:
    if n is None or len(items) <= n:
        return list(items)
    rng = random.Random(seed)
    return sorted(rng.sample(list(items), n), key=items.index) if n < 200 else [items[i] for i in
                                                                                 sorted(rng.sample(range(len(items)), n))]


def _training(exclude_source: str = "", keep: Callable[[Example], bool] = lambda e: True,
              sample: Optional[int] = None) -> list[Example]:
    out = []
    for s in TRAIN_SOURCES:
        if s == exclude_source:
            continue
        out += _sample(list(load_examples(s)), sample)
    return [e for e in out if keep(e)]


def _run(test: list[Example], train: list[Example], levels, settings: Settings) -> dict:
    model = fit(drop_near_duplicates(train, test), "eval")
    results = classify_texts([e.text for e in test], model=model, settings=settings)
    out = {}
    for level in levels:
        gold = [set(e.labels.get(level, ())) for e in test]
        out[level] = scores(gold, [set(r.codes(level)) for r in results])
    return out


def _stable_fold(key: str, k: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % k


def labelled_sentence_split(folds: int = 5, sample: Optional[int] = None) -> tuple[list[Example], list[int]]:
    """The labelled sentences with exact duplicates merged, and the grouped fold of each (same for tuning)."""
    sents = _sample(merge_duplicates(load_examples("labelled_sentences"), "sdg_goal"), sample)
    return sents, labelled_sentence_folds(sents, folds)


def labelled_sentence_fold_sets(folds: int = 5, sample: Optional[int] = None
                                ) -> Iterator[tuple[int, list[Example], list[Example]]]:
    """(k, test, train) per grouped fold of the labelled sentences: train = the other folds plus the other sources
    minus every text that nearly repeats a test sentence (the target texts and SDG titles the sentences copy)."""
    sents, fold_of = labelled_sentence_split(folds, sample)
    base = _training("labelled_sentences", sample=sample)
    for k in range(folds):
        test = [e for e, f in zip(sents, fold_of) if f == k]
        yield k, test, drop_near_duplicates(base, test) + [e for e, f in zip(sents, fold_of) if f != k]


def synthetic_paragraphs(test: list[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """Paragraphs of 2-4 single-goal sentences of ``test``: (all of one goal, of two goals), seeded.

    One goal: each goal's sentences shuffled and cut into runs of 2-4 (a last single sentence is left out), so every
    sentence is used once.  Two goals: as many paragraphs, each 1-2 sentences of one goal and 1-2 of another, shuffled.
    """
    rng = random.Random(seed)
    by_goal: dict[str, list[str]] = {}
    for e in test:
        if len(e.labels.get("sdg_goal", ())) == 1:
            by_goal.setdefault(e.labels["sdg_goal"][0], []).append(e.text.strip())
    one = []
    for goal, texts in sorted(by_goal.items()):
        texts = texts[:]
        rng.shuffle(texts)
        i = 0
        while len(texts) - i >= 2:
            n = min(rng.randint(2, 4), len(texts) - i)
            one.append(Example(" ".join(texts[i:i + n]), "paragraphs", {"sdg_goal": (goal,)}, str(seed)))
            i += n
    two = []
    goals = sorted(g for g, t in by_goal.items() if len(t) >= 2)
    for _ in range(len(one) if len(goals) >= 2 else 0):
        a, b = rng.sample(goals, 2)
        parts = rng.sample(by_goal[a], rng.randint(1, 2)) + rng.sample(by_goal[b], rng.randint(1, 2))
        rng.shuffle(parts)
        two.append(Example(" ".join(parts), "paragraphs", {"sdg_goal": (a, b)}, str(seed)))
    return one, two


def evaluate(*, folds: int = 5, sample: Optional[int] = None, settings: Optional[Settings] = None,
             splits: tuple[str, ...] = ("labelled_sentences", "uprinfo", "slovenia", "uninfo")) -> dict:
    """Scores per split and level: {split: {level: {micro_p, micro_r, micro_f1, macro_*, texts, ...}, seconds}}.

    ``sample`` caps the examples drawn from each source (train and test alike; for quick runs and tests).
    """
    settings = settings or get_settings()
    report: dict = {}
    if "labelled_sentences" in splits:
        t0 = time.perf_counter()
        sets = {"labelled_sentences": ([], []), "paragraphs_one_goal": ([], []), "paragraphs_two_goals": ([], [])}
        for k, test, train in labelled_sentence_fold_sets(folds, sample):
            model = fit(train, "eval")
            one, two = synthetic_paragraphs(test, k)
            for name, examples in (("labelled_sentences", test), ("paragraphs_one_goal", one),
                                   ("paragraphs_two_goals", two)):
                res = classify_texts([e.text for e in examples], model=model, settings=settings)
                sets[name][0].extend(set(e.labels["sdg_goal"]) for e in examples)
                sets[name][1].extend(set(r.codes("sdg_goal")) for r in res)
        seconds = round(time.perf_counter() - t0, 1)
        for name, (gold, pred) in sets.items():
            report[name] = {"sdg_goal": scores(gold, pred), **({"seconds": seconds} if name == "labelled_sentences"
                                                               else {})}
    if "uprinfo" in splits:
        t0 = time.perf_counter()
        upr = list(load_examples("uprinfo"))
        test = _sample([e for e in upr if int(e.group) >= 14], sample)
        train = _training("uprinfo", sample=sample) + _sample([e for e in upr if int(e.group) <= 13], sample)
        report["uprinfo"] = {**_run(test, train, ("uprinfo",), settings), "seconds": round(time.perf_counter() - t0, 1)}
    if "slovenia" in splits:
        t0 = time.perf_counter()
        test = _sample(list(load_examples("slovenia")), sample)
        report["slovenia"] = {**_run(test, _training(sample=sample), ("sdg_goal",), settings),
                              "seconds": round(time.perf_counter() - t0, 1)}
    if "uninfo" in splits:
        t0 = time.perf_counter()
        uni = list(load_examples("uninfo"))
        test = _sample([e for e in uni if _stable_fold(e.group, 5) == 0], sample)
        train = _training(keep=lambda e: not (e.source == "uninfo" and _stable_fold(e.group, 5) == 0), sample=sample)
        report["uninfo"] = {**_run(test, train, ("sdg_goal", "sdg_target"), settings),
                            "seconds": round(time.perf_counter() - t0, 1)}
    return report


def format_report(report: dict) -> str:
    """The evaluation as a plain-text table (one row per split and level, issue targets beside)."""
    head = f"{'split':<22}{'level':<12}{'texts':>6}  {'micro P':>7} {'micro R':>7} {'micro F1':>8}  " \
           f"{'macro P':>7} {'macro R':>7} {'macro F1':>8}  target"
    lines = [head, "-" * len(head)]
    for split, levels in report.items():
        for level, m in levels.items():
            if not isinstance(m, dict):
                continue
            tgt = TARGETS.get((split, level))
            note = ""
            if tgt:
                note = f"micro F1 >= {tgt[0]:.2f}" + (f", P >= {tgt[1]:.2f}" if tgt[1] else "")
                ok = m["micro_f1"] >= tgt[0] and (tgt[1] is None or m["micro_p"] >= tgt[1])
                note += " (met)" if ok else " (not met)"
            lines.append(f"{split:<22}{level:<12}{m['texts']:>6}  {m['micro_p']:>7.3f} {m['micro_r']:>7.3f} "
                         f"{m['micro_f1']:>8.3f}  {m['macro_p']:>7.3f} {m['macro_r']:>7.3f} {m['macro_f1']:>8.3f}  {note}")
    return "\n".join(lines)
