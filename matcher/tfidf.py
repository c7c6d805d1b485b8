"""The text-similarity component of a link score: TF-IDF of lemmatised content words (issue #5).

Features are the lemmas of a text's content words (``matcher.model.Analyzer``) and the bigrams of
consecutive lemmas.  Weights are those of scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``:
tf = 1 + ln(count), idf = ln((1 + n) / (1 + df)) + 1 over the n texts matched together, rows
L2-normalised -- computed here with integer feature ids and numpy, because building a Python
string per bigram and a dict lookup per feature took most of the linker's time on 110,000 texts.
Feature columns are numbered as features are first met (not alphabetically); where order matters
(shared terms of equal weight) terms are compared by their text, as the alphabetical columns of
``TfidfVectorizer`` would order them.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Iterable

import numpy as np
from scipy import sparse


@dataclass
class TextSpace:
    """TF-IDF vectors (L2-normalised rows) of texts, and what each column means (to name shared terms)."""

    matrix: sparse.csr_matrix
    lemmas: list[str]        # unigram columns 0 .. len(lemmas) - 1
    bigrams: np.ndarray      # column len(lemmas) + k is the bigram (lemmas[a], lemmas[b]) = bigrams[k]

    def term(self, column: int) -> str:
        """The lemma or "lemma lemma" bigram of a column."""
        n = len(self.lemmas)
        if column < n:
            return self.lemmas[column]
        a, b = self.bigrams[column - n]
        return f"{self.lemmas[a]} {self.lemmas[b]}"


def text_space(texts: Iterable[str]) -> TextSpace:
    """Fit IDF on the lemmatised ``texts`` and vectorise them (unigrams + bigrams), one row per text."""
    from .model import Analyzer

    analyzer = Analyzer()
    return lemma_space(analyzer.lemmas(text) for text in texts)


def lemma_space(documents: Iterable[list[str]]) -> TextSpace:
    """``text_space`` of texts already lemmatised (``Analyzer.lemmas``), one row per list of lemmas."""
    import pandas as pd

    documents = list(documents)
    n_docs = len(documents)
    sizes = np.fromiter((len(d) for d in documents), dtype=np.int64, count=n_docs)
    flat = np.empty(int(sizes.sum()), dtype=object)
    flat[:] = list(chain.from_iterable(documents))
    if not len(flat):
        return TextSpace(sparse.csr_matrix((n_docs, 1)), [""], np.zeros((0, 2), dtype=np.int64))
    # lemma ids numbered in order of first appearance (hashing in C: one Python step per token was most of the time)
    codes, uniques = pd.factorize(flat, sort=False)
    tok = codes.astype(np.int64)
    lemmas = list(uniques)
    n_lemmas = len(lemmas)
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), sizes)
    inside = doc[:-1] == doc[1:]  # consecutive lemmas of the same text
    pair_key = tok[:-1][inside] * n_lemmas + tok[1:][inside]
    # distinct bigrams in sorted order, as np.unique(return_inverse=True) gives them, hashing first (faster)
    first, seen = pd.factorize(pair_key, sort=False)
    order = np.argsort(seen, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    pair_keys, pair_col = seen[order], rank[first]
    feature = np.concatenate([tok, n_lemmas + pair_col])
    owner = np.concatenate([doc, doc[:-1][inside]])
    n_features = n_lemmas + len(pair_keys)
    # term counts per (text, feature): a sparse matrix sums the repeats and sorts each row's columns
    tf = sparse.csr_matrix((np.ones(len(feature)), (owner, feature)), shape=(n_docs, n_features))
    tf.sum_duplicates()
    tf.sort_indices()
    rows = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(tf.indptr))
    cols, counts = tf.indices.astype(np.int64), tf.data
    df = np.bincount(cols, minlength=n_features)
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    values = (1.0 + np.log(counts)) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n_docs))
    values = values / np.where(norms > 0, norms, 1.0)[rows]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_docs))])
    X = sparse.csr_matrix((values, cols, indptr), shape=(n_docs, n_features))
    bigrams = np.stack([pair_keys // n_lemmas, pair_keys % n_lemmas], axis=1)
    return TextSpace(X, lemmas, bigrams)


def text_similarity(space: TextSpace, rec_rows: np.ndarray, item_rows: np.ndarray, rows: np.ndarray,
                    cols: np.ndarray) -> np.ndarray:
    """Cosine similarity of the pairs (rec_rows[rows[k]], item_rows[cols[k]]) of one block, vectorised.

    One sparse product of the block's recommendations and items that have candidates, read at the
    candidate pairs: far cheaper than gathering a vector per pair.
    """
    if len(rows) == 0:
        return np.zeros(0)
    X = space.matrix
    used_r, r = np.unique(rows, return_inverse=True)
    used_c, c = np.unique(cols, return_inverse=True)
    S = (X[rec_rows[used_r]] @ X[item_rows[used_c]].T).tocsr()
    return np.asarray(S[r, c]).ravel().clip(0.0, 1.0)


def shared_terms(space: TextSpace, rec_row: int, item_row: int, k: int) -> list[str]:
    """Up to k terms both texts use, the rarest (highest TF-IDF product) first; a bigram hides its words."""
    X = space.matrix
    a = slice(X.indptr[rec_row], X.indptr[rec_row + 1])
    b = slice(X.indptr[item_row], X.indptr[item_row + 1])
    common, ia, ib = np.intersect1d(X.indices[a], X.indices[b], assume_unique=True, return_indices=True)
    if not len(common):
        return []
    weight = X.data[a][ia] * X.data[b][ib]
    terms = [space.term(int(j)) for j in common]
    out: list[str] = []
    for j in sorted(range(len(common)), key=lambda j: (-weight[j], terms[j])):
        term = terms[j]
        if any(term in t.split(" ") or term == t for t in out):
            continue
        out.append(term)
        if len(out) == k:
            break
    return out
