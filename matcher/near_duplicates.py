"""Near-duplicates of many texts against one fixed set of reference texts (the model's training texts), fast.

``matcher.splits.near_duplicate_mask(candidates, references)`` is the definition: TF-IDF (word 1-2-grams, sublinear
tf, smooth IDF over both sets, L2 rows, float32) fitted at every call; a candidate is a near-duplicate when its best
cosine with a reference reaches 0.7.  Against the 36,000 training texts that took about 3 s a call, most of it to
tokenise the training texts, twice.  ``NearDuplicateIndex`` counts the references once (``training_index``: once per
process and training data); a call counts only the candidates, merges the document frequencies and applies the
same float32 operations as scikit-learn in the same order, so every cosine is bit for bit the definition's:

- the IDF is elementwise, so it is the same computed over the references' vocabulary and the candidates' as over
  their union;
- scikit-learn numbers terms alphabetically, and a row's squares (its norm) and a cosine's products are summed in
  that order.  Both vocabularies here are alphabetical too and a candidate's terms map to the references' in order,
  so every sum adds the same numbers in the same order.  A candidate's terms that no reference has count in its
  norm, as in the definition, and in no cosine;
- a chunk of candidates is scored as reference rows x dense candidate columns: each cosine is still summed over
  the shared terms in alphabetical order (the products with a term the candidate lacks are exact zeros).

``tests/test_near_duplicates.py`` compares the cosines with the definition's on real texts, bit for bit.
"""
from __future__ import annotations

import threading
from typing import Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

from .model import default_examples, model_version
from .splits import NEAR_DUPLICATE_COSINE, near_duplicate_vectorizer

CHUNK = 256  # candidates scored at once: a dense block of references x CHUNK float32 (36,000 x 256: 37 MB)


def _counts(analyze: Callable[[str], list[str]], texts: Sequence[str]) -> tuple[dict[str, int], sparse.csr_matrix]:
    """Term -> column (alphabetical, as scikit-learn numbers them) and the count matrix, each row's columns in
    order, as ``TfidfVectorizer.transform`` gives them; no term in any text: an empty vocabulary."""
    vectorizer = CountVectorizer(analyzer=analyze, dtype=np.float32)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError as exc:
        if "empty vocabulary" not in str(exc):
            raise
        return {}, sparse.csr_matrix((len(texts), 0), dtype=np.float32)
    # fit_transform renumbers the columns alphabetically after it sorted each row by the first numbering: sort the
    # rows again, as transform does (the flag reset in case a version leaves the old "sorted" flag set)
    counts.has_sorted_indices = False
    counts.sort_indices()
    return vectorizer.vocabulary_, counts


def _sublinear(counts: np.ndarray) -> np.ndarray:
    """1 + ln(count), in float32 (scikit-learn's ``sublinear_tf``)."""
    tf = np.log(counts)
    tf += 1.0
    return tf


def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """Smooth IDF ln((1 + n) / (1 + df)) + 1 in float32, with scikit-learn's very operations."""
    df = df.astype(np.float32)
    df += 1.0
    idf = np.full_like(df, fill_value=n_docs + 1, dtype=np.float32)
    idf /= df
    np.log(idf, out=idf)
    idf += 1.0
    return idf


def _rows(data: np.ndarray, like: sparse.csr_matrix) -> sparse.csr_matrix:
    """``like``'s pattern with ``data``, each row L2-normalised (scikit-learn's ``normalize``)."""
    return normalize(sparse.csr_matrix((data, like.indices, like.indptr), shape=like.shape), copy=False)


class NearDuplicateIndex:
    """Reference texts counted once; the best cosine of candidates with them, equal to ``near_duplicate_mask``'s."""

    def __init__(self, references: Sequence[str]):
        self._analyze = near_duplicate_vectorizer().build_analyzer()
        self._column, counts = _counts(self._analyze, references)
        self._tf = sparse.csr_matrix((_sublinear(counts.data), counts.indices, counts.indptr), shape=counts.shape)
        self._df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.size = len(references)

    def max_cosines(self, candidates: Sequence[str], chunk: int = CHUNK) -> np.ndarray:
        """Per candidate, its best cosine (float32) with any reference, the IDF over both sets (0.0: no shared word)."""
        best = np.zeros(len(candidates), dtype=np.float32)
        if not len(candidates) or not self._column:  # no reference has a word: every cosine is 0
            return best
        vocabulary, counts = _counts(self._analyze, candidates)
        if not vocabulary:
            return best
        column = np.full(len(vocabulary), -1, dtype=np.int64)  # candidate column -> reference column (-1: none)
        for term, j in vocabulary.items():
            column[j] = self._column.get(term, -1)
        shared = np.flatnonzero(column >= 0)
        df_cands = np.bincount(counts.indices, minlength=len(vocabulary))  # candidates holding each of their terms
        df = self._df.copy()
        df[column[shared]] += df_cands[shared]  # document frequencies over both sets, the references' terms ...
        df_cands[shared] = df[column[shared]]  # ... and the candidates'
        n_docs = self.size + len(candidates)
        refs = _rows(self._tf.data * _idf(df, n_docs)[self._tf.indices], self._tf)
        cands = _rows(_sublinear(counts.data) * _idf(df_cands, n_docs)[counts.indices], counts)
        cands, column = cands[:, shared], column[shared]  # after the norms: terms no reference has are in no cosine
        for start in range(0, len(candidates), chunk):
            part = cands[start:start + chunk]
            used = np.unique(part.indices)
            if not len(used):
                continue
            block = refs[:, column[used]]  # the references restricted to the chunk's terms, still alphabetical
            block.sort_indices()
            best[start:start + chunk] = (block @ part[:, used].T.toarray()).max(axis=0)
        return best

    def mask(self, candidates: Sequence[str], cosine: float = NEAR_DUPLICATE_COSINE) -> np.ndarray:
        """Boolean per candidate: True when it is a near-duplicate of at least one reference text."""
        return self.max_cosines(candidates) >= cosine


_lock = threading.Lock()
_built: dict[str, NearDuplicateIndex] = {}


def training_index() -> NearDuplicateIndex:
    """The index of the shipped model's training texts: built on first use (about 2 s), then kept in this process
    for as long as the training data (``model_version``) stays the same."""
    version = model_version()
    with _lock:  # concurrent requests of a server wait for one build rather than each making its own
        if version not in _built:
            _built.clear()
            _built[version] = NearDuplicateIndex([e.text for e in default_examples()])
        return _built[version]
