"""Held-apart splits for evaluation and tuning: near-duplicate groups, grouped folds, de-duplicated training sets.

A text and its near-duplicate must never sit on both sides of a split, or the score measures memory, not the
classifier.  Two texts are near-duplicates when the cosine of their TF-IDF vectors (word 1-2-grams, sublinear tf,
IDF of the texts compared) reaches ``NEAR_DUPLICATE_COSINE``; on the labelled sentences 0.7 groups nearly the same
pairs as a character 3-5-gram cosine of 0.8 (reworded SDG Compass actions, UN target texts copied into the
sentences; 8 pairs missed, 6 added of about 160) and is five times cheaper.

- ``merge_duplicates``: 52 labelled sentences repeat an earlier text, 38 of them under another goal; one text with
  both goals is one item to judge per (text, goal) pair, not two items that contradict each other.
- ``near_duplicate_groups`` + ``grouped_folds``: cross-validation folds by group (seeded), so near-duplicates
  are tested together.
- ``drop_near_duplicates``: the training examples of other sources that nearly repeat a test text (the UN target
  texts inside the labelled sentences, a recommendation repeated in a later UPR session) leave the training set.

``near_duplicate_mask`` is the definition (fitted on both sets at every call); ``matcher.near_duplicates`` answers
the same against the model's training texts, counted once per process (``upr-align evaluate FILE``).
"""
from __future__ import annotations

import random
import re
from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from .model import Example

NEAR_DUPLICATE_COSINE = 0.7
SEED = 0
_NORM = re.compile(r"[^a-z0-9]+")


def normalise_text(text: str) -> str:
    """Lower case, runs of anything but letters and digits folded to one space (the key of an exact duplicate)."""
    return _NORM.sub(" ", text.lower()).strip()


def merge_duplicates(examples: Sequence[Example], head: str) -> list[Example]:
    """One example per normalised text, its ``head`` labels the union of its copies' (first copy's order)."""
    out: dict[str, Example] = {}
    for e in examples:
        key = normalise_text(e.text)
        if key in out:
            old = out[key]
            merged = old.labels[head] + tuple(c for c in e.labels.get(head, ()) if c not in old.labels[head])
            out[key] = Example(old.text, old.source, {**old.labels, head: merged}, old.group)
        else:
            out[key] = e
    return list(out.values())


def near_duplicate_vectorizer() -> TfidfVectorizer:
    """The (unfitted) TF-IDF of the near-duplicate relation: word 1-2-grams, sublinear tf, smooth IDF, L2, float32."""
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)


def _vectors(fit_texts: Sequence[str]):
    return near_duplicate_vectorizer().fit(fit_texts)


def near_duplicate_groups(texts: Sequence[str], cosine: float = NEAR_DUPLICATE_COSINE) -> list[int]:
    """Group id per text: the connected components of the near-duplicate relation (single link)."""
    vec = _vectors(texts)
    A = vec.transform(texts)
    S = (A @ A.T).tocoo()
    parent = list(range(len(texts)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, s in zip(S.row, S.col, S.data):
        if i < j and s >= cosine:
            parent[root(int(i))] = root(int(j))
    return [root(i) for i in range(len(texts))]


def grouped_folds(groups: Sequence[int], k: int, seed: int = SEED) -> list[int]:
    """Fold (0..k-1) per item: groups shuffled with a fixed seed and dealt round-robin, a group never split."""
    ids = sorted(set(groups))
    random.Random(seed).shuffle(ids)
    fold = {g: n % k for n, g in enumerate(ids)}
    return [fold[g] for g in groups]


def near_duplicate_cosines(candidates: Sequence[str], tests: Sequence[str], chunk: int = 2000) -> np.ndarray:
    """Per candidate, its best cosine (float32) with any test text, the IDF fitted on both sets (0.0: no test)."""
    best = np.zeros(len(candidates), dtype=np.float32)
    if not candidates or not tests:
        return best
    vec = _vectors(list(tests) + list(candidates))  # vocabulary of both: a candidate's other words count
    T = vec.transform(tests).T.tocsr()
    for start in range(0, len(candidates), chunk):
        C = vec.transform(candidates[start:start + chunk])
        best[start:start + chunk] = (C @ T).max(axis=1).toarray().ravel()
    return best


def near_duplicate_mask(candidates: Sequence[str], tests: Sequence[str],
                        cosine: float = NEAR_DUPLICATE_COSINE, chunk: int = 2000) -> np.ndarray:
    """Boolean per candidate: True when it is a near-duplicate of at least one test text.

    The definition, fitted at every call; ``matcher.near_duplicates.NearDuplicateIndex`` gives the same answer
    against a fixed set of test texts (the model's training texts) without refitting."""
    return near_duplicate_cosines(candidates, tests, chunk) >= cosine


def drop_near_duplicates(train: Sequence[Example], test: Sequence[Example],
                         cosine: float = NEAR_DUPLICATE_COSINE) -> list[Example]:
    """The training examples that are not near-duplicates of any test text (order kept)."""
    mask = near_duplicate_mask([e.text for e in train], [e.text for e in test], cosine)
    return [e for e, near in zip(train, mask) if not near]


def labelled_sentence_folds(examples: Sequence[Example], k: int) -> list[int]:
    """Fold per (already merged) labelled sentence: near-duplicate groups dealt to k folds with the fixed seed."""
    return grouped_folds(near_duplicate_groups([e.text for e in examples]), k)
