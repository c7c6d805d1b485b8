"""The text component's TF-IDF space (matcher.tfidf) has scikit-learn's TfidfVectorizer weights (issue #5)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from matcher.tfidf import lemma_space, text_space

WORDS = ["shelter", "violence", "woman", "child", "school", "water", "justice", "court", "torture", "prison"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=12), min_size=1, max_size=25))
def test_same_vectors_as_scikit_learn(documents):
    space = lemma_space(documents)
    features = lambda lem: lem + [f"{a} {b}" for a, b in zip(lem, lem[1:])]  # noqa: E731
    if not any(documents):
        assert space.matrix.nnz == 0
        return
    ref = TfidfVectorizer(analyzer=features, sublinear_tf=True).fit_transform(documents)
    names = [space.term(c) for c in range(space.matrix.shape[1])]
    coo = space.matrix.tocoo()
    ours = {(r, names[c]): v for r, c, v in zip(coo.row, coo.col, coo.data)}
    vocabulary = {i: t for t, i in TfidfVectorizer(analyzer=features).fit(documents).vocabulary_.items()}
    ref = ref.tocoo()
    theirs = {(r, vocabulary[c]): v for r, c, v in zip(ref.row, ref.col, ref.data)}
    assert ours.keys() == theirs.keys()
    for k, v in theirs.items():
        assert abs(ours[k] - v) < 1e-12, k


def test_text_space_lemmatises():
    space = text_space(["Shelters for women victims of violence", "Build schools"])
    assert "shelter" in space.lemmas and "woman" in space.lemmas
    assert space.matrix.shape[0] == 2
