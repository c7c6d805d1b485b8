"""``upr-align evaluate``'s own splits with static word-vector features added to the text model: the whole
classifier (all heads, lexicon, crosswalk, goal rule calibrated by inner CV), not the goal head alone.

Run:  nice -n 10 python bench/goal_embedding_pipeline.py --words /tmp/wv.npz --dims 128 --alpha 0.25
          [--splits labelled_sentences] [--baseline]

The text features become [tf-idf | alpha x e], e = the tf-idf weighted mean of the static word vectors of the
text's unigram features, L2-normalised (``bench/goal_embedding_experiment.py``; vectors from
``bench/distil_word_vectors.py``).  ``matcher.model.fit`` is replaced for this process only: same heads, same
calibration, ``matcher.evaluation.evaluate`` unchanged.  ``--baseline`` runs the shipped model instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy import sparse  # noqa: E402

import matcher.evaluation as evaluation  # noqa: E402
import matcher.model as model_mod  # noqa: E402
from goal_embedding_experiment import load_vectors  # noqa: E402


def embedding_fit(index: dict, vectors: np.ndarray, alpha: float):
    """A ``matcher.model.fit`` whose model's features are [tf-idf | alpha x static embedding]."""

    class EmbeddingModel(model_mod.TextModel):
        def transform(self, texts):
            X = self.vectorizer.transform(texts)
            if not hasattr(self, "_emb"):
                pairs = [(j, index[t]) for t, j in self.vectorizer.vocabulary_.items() if " " not in t and t in index]
                self._emb = (np.array([j for j, _ in pairs]), vectors[[r for _, r in pairs]])
            cols, E = self._emb
            Z = np.asarray(X[:, cols] @ E)
            Z /= np.where((n := np.linalg.norm(Z, axis=1, keepdims=True)) > 0, n, 1.0)
            return sparse.hstack([X, alpha * sparse.csr_matrix(Z)]).tocsr()

        def top_terms_pairs(self, X, head, pairs, k=5):  # terms only: the embedding columns have no name
            return super().top_terms_pairs(X[:, :len(self.vectorizer.vocabulary_)], head, pairs, k)

    def fit(examples, version="adhoc", calibrate=True):
        vec = model_mod.TfidfVectorizer(analyzer=model_mod.Analyzer(), sublinear_tf=True, min_df=2,
                                        dtype=np.float32).fit([e.text for e in examples])
        model = EmbeddingModel(version, vec, {}, {})
        X = model.transform([e.text for e in examples])
        for head in model_mod.HEADS:
            idx = [i for i, e in enumerate(examples) if head in e.labels and e.labels[head]]
            if idx:
                clf, keep = model_mod.fit_head(X[idx], [examples[i].labels[head] for i in idx], head)
                if clf is not None:
                    model.classifiers[head], model.labels[head] = clf, keep
        if calibrate and "sdg_goal" in model.labels:
            from matcher.calibration import calibrate_goal_rule

            model.goal_rule = calibrate_goal_rule(model, examples)
        return model

    return fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=Path, help="word vectors of bench/distil_word_vectors.py --out")
    ap.add_argument("--dims", type=int, default=128)
    ap.add_argument("--alpha", type=float, default=0.25)
    ap.add_argument("--splits", default="labelled_sentences")
    ap.add_argument("--baseline", action="store_true")
    args = ap.parse_args()
    if not args.baseline:
        index, vectors = load_vectors(args)
        evaluation.fit = model_mod.fit = embedding_fit(index, vectors, args.alpha)
    t = time.perf_counter()
    report = evaluation.evaluate(splits=tuple(args.splits.split(",")))
    print(evaluation.format_report(report))
    print(json.dumps(report))
    print(f"{'baseline' if args.baseline else f'embedding dims {args.dims} alpha {args.alpha}'}: "
          f"{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
