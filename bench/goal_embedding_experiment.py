"""Does a semantic text representation lift the SDG goal head?  Measured on the grouped labelled-sentence folds.

Run:  python bench/distil_word_vectors.py --out /tmp/wv.npz --texts /tmp/tv.npz   (build-only packages: see there)
      nice -n 10 python bench/goal_embedding_experiment.py --words /tmp/wv.npz [--dims 128] [--bigrams]
          [--contextual /tmp/tv.npz] [--variants tfidf,emb,concat0.25,stack0.8,ctx,ctxcat0.25]

Protocol (the same as ``upr-align evaluate``'s labelled_sentences split, goal head only): the merged labelled
sentences in their 5 grouped folds (``matcher.evaluation.labelled_sentence_split``); for each fold the training set
is the other four folds plus every other shipped source minus the near-duplicates of the test sentences; the
TF-IDF vectorizer is fitted on that training set (as ``matcher.model.fit`` does) and the goal head (one-vs-rest
liblinear LR, C=8) on its goal-labelled texts.  Reported over all test sentences:

- top-1: the head's best goal is one of the sentence's goals;
- micro P/R/F1 of (text, goal) pairs, model probabilities alone (no lexicon or crosswalk evidence), under the goal
  rule (threshold, relative) chosen as ``matcher.calibration.choose_rule`` does, on out-of-fold probabilities of an
  inner 4-fold grouped CV of the training set: the test fold never chooses anything.

Text representations:
- ``tfidf``   the shipped features (lemma 1-2-grams, sublinear tf-idf);
- ``emb``     static word vectors (``bench/distil_word_vectors.py``): the tf-idf weighted mean of the vectors
  of the text's unigram features (the fold's vectorizer vocabulary, so a word unseen in training adds nothing),
  L2-normalised;
- ``concatA`` [tfidf | A x emb] in one head;  ``stackW`` W x the tfidf head's probabilities + (1 - W) x the emb
  head's (W = 0.5 when omitted);
- ``ctx*``    the same with the full sentence model's own (contextual) text vectors, an upper bound for ``emb``.

Measured 2026-11-28 (training data 6937a2f96b92, 2,515 test texts, 2,558 gold pairs; deterministic, rerun gave the
same numbers).  Static vectors: 15,099 lemmas, PCA 128 keeps 74.6 % of the variance (3.6 MB as float16 npz).

    variant                                   top-1    P      R      F1
    tfidf (shipped features)                  0.776  0.680  0.815  0.741
    emb 128-d alone / 384-d alone             0.577  0.527  0.615  0.568  /  0.624  0.575  0.662  0.615
    concat 128-d, A = 0.1 / 0.25 / 0.5        0.777  0.712  0.809  0.757  /  0.777  0.700  0.811  0.752  /
                                              0.777  0.702  0.802  0.749
    concat 128-d, A = 1 / 2                   0.759  0.696  0.796  0.743  /  0.738  0.691  0.757  0.722
    concat 384-d, A = 0.1 / 0.25 / 0.5        0.776  0.680  0.817  0.743  /  0.777  0.710  0.808  0.756  /
                                              0.779  0.706  0.813  0.756
    concat 384-d + bigram vectors, 0.25/0.5   0.778  0.708  0.808  0.755  /  0.784  0.696  0.807  0.747
    stack 128-d, W = 0.5 / 0.8                0.747  0.676  0.749  0.710  /  0.773  0.681  0.819  0.744
    ctx alone (full MiniLM, upper bound)      0.697  0.651  0.731  0.689
    ctxcat A = 0.25 / 0.5 / 1                 0.787  0.710  0.823  0.762  /  0.783  0.710  0.817  0.760  /
                                              0.764  0.716  0.791  0.752
    ctxstack W = 0.5 / 0.8                    0.757  0.700  0.798  0.746  /  0.785  0.688  0.821  0.749

A and W were picked by looking at these test-fold numbers, so the best rows are optimistic.  Static vectors add
at most +0.8 point of top-1 (with bigram vectors, F1 then +0.6) and +1.6 points of model-only F1 (top-1 then
+0.2; the F1 moves come mostly with the rule the inner CV picks); even the full sentence model adds only +1.1
top-1 / +2.1 F1.  In the whole classifier
(``bench/goal_embedding_pipeline.py``: lexicon, crosswalk, calibrated rule) the 128-d, A = 0.25 variant scores
P 0.703 / R 0.802 / F1 0.749 and the 384-d, A = 0.5 variant 0.704 / 0.805 / 0.751, against the shipped model's
0.704 / 0.803 / 0.750 (rerun here): no gain, so neither was adopted.  The split (5 fits with calibration) took 141 s
(shipped), 307 s (128-d) and 651 s (384-d): the dense columns slow every head's liblinear fit, the theme head most.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy import sparse  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from matcher.calibration import GOALS, INNER_FOLDS, choose_rule  # noqa: E402
from matcher.evaluation import labelled_sentence_fold_sets  # noqa: E402
from matcher.model import Analyzer, fit_head  # noqa: E402
from matcher.splits import grouped_folds, near_duplicate_groups  # noqa: E402

FOLDS = 5
BIGRAMS = False  # --bigrams: bigram features with a vector of their own count too

def _cache() -> Path:
    """Where the fold sets are cached: keyed by the training data and code version (matcher.model.data_hash)."""
    from matcher.model import data_hash

    return Path(os.environ.get("GOALEXP_CACHE_DIR", "/tmp")) / f"goalexp_folds-{data_hash()[:12]}.pkl"


def fold_sets():
    """[(test examples, training examples)] per fold, as evaluate() builds them (cached: the de-dup is slow)."""
    cache = _cache()
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    out = [(test, train) for _, test, train in labelled_sentence_fold_sets(FOLDS)]
    cache.write_bytes(pickle.dumps(out))
    return out


def load_vectors(args):
    """word -> row, and the word vectors (PCA-reduced to --dims and rounded to float16 when --dims is given)."""
    from distil_word_vectors import pca

    z = np.load(args.words)
    words, vec = [str(w) for w in z["words"]], z["vectors"]
    if args.dims and args.dims < vec.shape[1]:
        vec, kept = pca(vec, args.dims)
        vec = vec.astype(np.float16)  # as a shipped file would store them
        print(f"PCA {args.dims}: variance kept {kept:.3f}")
    return dict(zip(words, range(len(words)))), vec.astype(np.float32)


def emb_features(X, vec: TfidfVectorizer, index: dict, vectors: np.ndarray) -> np.ndarray:
    """tf-idf weighted mean of the word vectors of each row's unigram features, L2-normalised (dense)."""
    cols, rows = [], []
    for term, j in vec.vocabulary_.items():
        if term in index and (BIGRAMS or " " not in term):
            cols.append(j)
            rows.append(index[term])
    Z = np.asarray(X[:, cols] @ vectors[rows])
    n = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.where(n > 0, n, 1.0)


def head_probs(F_train, labels, F_test):
    clf, keep = fit_head(F_train, labels, "sdg_goal")
    P = np.zeros((F_test.shape[0], len(GOALS)), dtype=np.float32)
    p = clf.predict_proba(F_test)
    for j, c in enumerate(keep):
        P[:, GOALS.index(c)] = p[:, j]
    return P


def features(name, X, Zw, Zc):
    if name == "tfidf":
        return X
    if name == "emb":
        return Zw
    if name == "ctx":
        return Zc
    if name.startswith("concat"):
        return sparse.hstack([X, float(name[6:]) * Zw]).tocsr()
    if name.startswith("ctxcat"):
        return sparse.hstack([X, float(name[6:]) * Zc]).tocsr()
    raise ValueError(name)


def is_stack(name: str) -> bool:
    return name.startswith("stack") or name.startswith("ctxstack")


def variant_probs(name, Ftr, labels, Fte, parts):
    """Probabilities of a variant; ``stackW``/``ctxstackW`` mix two heads (tfidf and emb/ctx)."""
    if is_stack(name):
        other = "emb" if name.startswith("stack") else "ctx"
        w = float(name.split("stack")[1] or 0.5)
        return w * head_probs(parts("tfidf", "tr"), labels, parts("tfidf", "te")) \
            + (1 - w) * head_probs(parts(other, "tr"), labels, parts(other, "te"))
    return head_probs(Ftr, labels, Fte)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=Path, required=True, help="word vectors of bench/distil_word_vectors.py --out")
    ap.add_argument("--dims", type=int, default=0, help="PCA to this many dimensions (float16), 0: keep 384")
    ap.add_argument("--contextual", type=Path, help="text vectors of bench/distil_word_vectors.py --texts")
    ap.add_argument("--variants", default="tfidf,emb,concat0.5,concat1,concat2,stack")
    ap.add_argument("--bigrams", action="store_true", help="bigram features use their own vectors too")
    args = ap.parse_args()
    global BIGRAMS
    BIGRAMS = args.bigrams
    variants = args.variants.split(",")
    index, vectors = load_vectors(args)
    ctx = None
    if args.contextual:
        z = np.load(args.contextual)
        ctx = dict(zip([str(t) for t in z["texts"]], z["vectors"].astype(np.float32)))
    t0 = time.perf_counter()
    sets = fold_sets()
    print(f"folds ready {time.perf_counter() - t0:.0f} s")
    probs_all, rules = {v: [] for v in variants}, {v: [] for v in variants}
    Y_test_all = []
    for k, (test, train) in enumerate(sets):
        vec = TfidfVectorizer(analyzer=Analyzer(), sublinear_tf=True, min_df=2, dtype=np.float32)
        vec.fit([e.text for e in train])
        goal_tr = [e for e in train if e.labels.get("sdg_goal")]
        Xtr, Xte = vec.transform([e.text for e in goal_tr]), vec.transform([e.text for e in test])
        Ztr, Zte = emb_features(Xtr, vec, index, vectors), emb_features(Xte, vec, index, vectors)
        Ctr = Cte = None
        if ctx is not None:
            Ctr = np.vstack([ctx[e.text] for e in goal_tr])
            Cte = np.vstack([ctx[e.text] for e in test])
        labels = [e.labels["sdg_goal"] for e in goal_tr]
        Ytr = np.array([[g in e.labels["sdg_goal"] for g in GOALS] for e in goal_tr])
        Yte = np.array([[g in e.labels["sdg_goal"] for g in GOALS] for e in test])
        inner = np.array(grouped_folds(near_duplicate_groups([e.text for e in goal_tr]), INNER_FOLDS))
        mats = {"tr": (Xtr, Ztr, Ctr), "te": (Xte, Zte, Cte)}
        for v in variants:
            t = time.perf_counter()

            def parts(name, side, rows=None):
                F = features(name, *mats[side])
                return F if rows is None else F[rows]

            Ftr, Fte = (None, None) if is_stack(v) else (parts(v, "tr"), parts(v, "te"))
            P = variant_probs(v, Ftr, labels, Fte, parts)
            # inner CV on the training set -> the rule
            S = np.zeros_like(Ytr, dtype=np.float32)
            for i in range(INNER_FOLDS):
                a, b = np.flatnonzero(inner != i), np.flatnonzero(inner == i)

                def iparts(name, side, a=a, b=b):
                    return parts(name, "tr", a if side == "tr" else b)

                S[b] = variant_probs(v, Ftr[a] if Ftr is not None else None, [labels[j] for j in a],
                                     Ftr[b] if Ftr is not None else None, iparts)
            rule = choose_rule(S, Ytr, [e.source for e in goal_tr])
            rules[v].append((rule["threshold"], rule["relative"], 0))
            probs_all[v].append((P, rules[v][-1]))
            top1 = float(Yte[np.arange(len(test)), P.argmax(1)].mean())
            print(f"fold {k} {v:<10} top-1 {top1:.3f} rule {rules[v][-1][:2]} {time.perf_counter() - t:.0f} s",
                  flush=True)
        Y_test_all.append(Yte)
    print("\nvariant      top-1   micro P  micro R  micro F1   (model probabilities only; rule from inner CV)")
    Y = np.vstack(Y_test_all)
    for v in variants:
        P = np.vstack([p for p, _ in probs_all[v]])
        keep = np.vstack([(p >= r[0]) & (p >= r[1] * p.max(1, keepdims=True)) for p, r in probs_all[v]])
        tp = float((keep & Y).sum())
        prec, rec = tp / keep.sum(), tp / Y.sum()
        top1 = float(Y[np.arange(len(Y)), P.argmax(1)].mean())
        print(f"{v:<12} {top1:.4f}  {prec:.4f}   {rec:.4f}   {2 * prec * rec / (prec + rec):.4f}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
