"""The near-duplicate index (matcher.near_duplicates) gives the definition's cosines (matcher.splits), bit for bit.

The comparison is exact, not approximate, and these batches are sensitive to it: summing each cosine's products in
reverse order changes about half of their best cosines in the last bit, computing in float64 nearly all of them.
"""
from __future__ import annotations

import numpy as np
import pytest

from matcher import near_duplicates
from matcher.file_evaluation import seen_in_training
from matcher.model import TRAIN_SOURCES, default_examples, load_examples
from matcher.near_duplicates import NearDuplicateIndex, training_index
from matcher.splits import NEAR_DUPLICATE_COSINE, near_duplicate_cosines, near_duplicate_mask

NO_WORD = ["", "   ", "a", "!!", "- . -", "x y z"]  # the token pattern wants two word characters


@pytest.fixture(scope="module")
def references() -> list[str]:
    """Every 40th text of each training source: 1,000 real texts, the UPR Info ones of sessions 1-17."""
    return [e.text for s in TRAIN_SOURCES for e in load_examples(s)[::40]]


@pytest.fixture(scope="module")
def index(references) -> NearDuplicateIndex:
    return NearDuplicateIndex(references)


def _batches(references):
    """Real candidate batches: new texts, near repeats (later UPR sessions, reworded sentences), the references."""
    return {
        "slovenia": [e.text for e in load_examples("slovenia")[:150]],
        "neighbours": [e.text for s in TRAIN_SOURCES for e in load_examples(s)[1::97]],
        "uninfo": [e.text for e in load_examples("uninfo")[::7]],  # French ones too (accents)
        "references": references[::5],
        "mixed": [e.text for e in load_examples("slovenia")[150:200]] + NO_WORD + references[:20] + ["ALL CAPS "
                  + references[3].upper()],
    }


@pytest.mark.parametrize("batch", ["slovenia", "neighbours", "uninfo", "references", "mixed"])
def test_cosines_are_the_definitions_bit_for_bit(index, references, batch):
    texts = _batches(references)[batch]
    want = near_duplicate_cosines(texts, references)
    for chunk in (7, near_duplicates.CHUNK):  # several chunks, one chunk
        got = index.max_cosines(texts, chunk=chunk)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(index.mask(texts), near_duplicate_mask(texts, references))


def test_the_batches_hold_both_answers_and_cosines_near_the_threshold(index, references):
    """The comparison above means something: seen and unseen texts, and cosines within 0.05 of 0.7."""
    cos = np.concatenate([index.max_cosines(t) for t in _batches(references).values()])
    assert (cos >= NEAR_DUPLICATE_COSINE).sum() > 50 and (cos < NEAR_DUPLICATE_COSINE).sum() > 200
    assert (np.abs(cos - NEAR_DUPLICATE_COSINE) < 0.05).sum() >= 5


def test_edge_cases(index, references):
    empty = index.mask([])
    assert empty.dtype == bool and empty.shape == (0,)
    assert not index.mask(NO_WORD).any()  # no candidate has a word: no vocabulary of its own
    assert np.array_equal(index.max_cosines(NO_WORD), near_duplicate_cosines(NO_WORD, references))
    same = index.max_cosines([references[0], references[0].upper() + "!", references[0] + " " + references[1]])
    assert same[0] >= 0.999 and same[1] == same[0] and same[2] >= NEAR_DUPLICATE_COSINE
    assert not NearDuplicateIndex([]).mask(references[:3]).any()
    assert not NearDuplicateIndex(NO_WORD).mask(references[:3]).any()
    assert np.array_equal(NearDuplicateIndex(NO_WORD + references[:9]).max_cosines(NO_WORD + references[5:12]),
                          near_duplicate_cosines(NO_WORD + references[5:12], NO_WORD + references[:9]))


def test_seen_in_training_is_the_definition_against_all_training_texts():
    training = [e.text for e in default_examples()]
    texts = ([e.text for e in load_examples("slovenia")[::40]] + training[::3001] + NO_WORD[:2]
             + ["The ministry piloted solar-powered irrigation pumps for smallholder farmers in three districts."])
    assert seen_in_training(texts) == [bool(x) for x in near_duplicate_mask(texts, training)]
    assert all(seen_in_training(training[::3001]))


def test_the_training_index_is_built_once_per_training_data(monkeypatch):
    monkeypatch.setattr(near_duplicates, "_built", {})  # the real index stays for the other tests
    monkeypatch.setattr(near_duplicates, "default_examples", lambda: list(load_examples("target_texts")))
    first = training_index()
    assert training_index() is first and first.size == len(load_examples("target_texts"))
    monkeypatch.setattr(near_duplicates, "model_version", lambda: "tfidf-lr-2+another")  # new training data
    assert training_index() is not first and list(near_duplicates._built) == ["tfidf-lr-2+another"]
