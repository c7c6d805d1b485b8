"""Learned layer of the classifier: TF-IDF + one-vs-rest logistic regression, trained on data shipped in the repo.

Heads (each multi-label, probabilities in [0, 1] from the logistic link):
- ``sdg_goal``   17 goals: labelled sentences, UN target texts, SDG target/indicator titles, UN INFO sub-outputs
  and IATI activities with their declared goals;
- ``uprinfo``    54 UPR Info issues: UPR Info recommendations, sessions 1-17;
- ``sdg_target`` targets with at least ``MIN_TARGET_EXAMPLES`` examples: target/indicator titles, UN INFO
  sub-outputs and IATI activities with declared targets (thin data: weak evidence, weighted low by classify).

Text features: lower-cased words, each replaced by its lookup lemma (spacy-lookups-data table, nothing
downloaded), English stop words dropped, word 1-2-grams, sublinear tf, min_df 2.  Training is deterministic
(liblinear, fixed seed; inputs in file order) and takes a few seconds; the fitted model is pickled in the user
cache dir (``$XDG_CACHE_HOME/upr-align`` or ``~/.cache/upr-align``) under ``MODEL_VERSION``, which hashes the
training files and ``CODE_VERSION``, so a change to either retrains.  Nothing touches the network.

``fit`` also calibrates the goal rule of ``matcher.classify`` by inner cross-validation on the same examples
(``matcher.calibration``; adds ~30 s to training), so a model fitted on training folds never learns its rule from
the test fold.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import pickle
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from mappings import DATA_DIR, table

CODE_VERSION = "tfidf-lr-2"  # 2: goal rule calibrated at fit (matcher.calibration)
SEED = 0
TRAINING_DIR = DATA_DIR / "training"
TRAINING_FILES = ("labelled_sentences.csv", "target_texts.csv", "uprinfo_recommendations.csv.gz",
                  "uninfo_suboutputs.csv", "iati_sdg_activities.csv")
HEADS = ("sdg_goal", "uprinfo", "sdg_target")
MIN_TARGET_EXAMPLES = 4
# C per head: the theme head has 30k examples and can afford a looser fit than the small SDG heads
HEAD_C = {"sdg_goal": 8.0, "uprinfo": 8.0, "sdg_target": 8.0}
_WORD = re.compile(r"[a-z][a-z0-9]*(?:['-][a-z0-9]+)*")
_STOP = frozenset(ENGLISH_STOP_WORDS) | {"s", "shall", "ensure", "take", "measure", "continue", "state"}


@dataclass
class Example:
    """One shipped training text with its labels per head and the group it came from (for held-apart splits)."""

    text: str
    source: str
    labels: dict[str, tuple[str, ...]]
    group: str = ""


# --------------------------------------------------------------------------- analyzer
@lru_cache(maxsize=1)
def _lemma_table() -> dict[str, str]:
    path = resources.files("spacy_lookups_data") / "data" / "en_lemma_lookup.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


class Analyzer:
    """Callable text -> features (lemma unigrams and bigrams); picklable, with a per-word lemma cache."""

    def __init__(self):
        self._cache: dict[str, Optional[str]] = {}

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self._cache = {}

    def lemmas(self, text: str) -> list[str]:
        """Lemmas of the content words of a text, in order (stop words dropped)."""
        cache, out = self._cache, []
        for w in _WORD.findall(text.lower()):
            lem = cache.get(w, 0)
            if lem == 0:
                lem = _lemma_table().get(w, w)
                lem = cache[w] = None if (w in _STOP or lem in _STOP or len(lem) < 2) else lem
            if lem is not None:
                out.append(lem)
        return out

    def __call__(self, text: str) -> list[str]:
        lem = self.lemmas(text)
        return lem + [f"{a} {b}" for a, b in zip(lem, lem[1:])]


# --------------------------------------------------------------------------- shipped data
def _rows(name: str) -> list[dict[str, str]]:
    path = TRAINING_DIR / name
    raw = path.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def _split(cell: str) -> tuple[str, ...]:
    return tuple(c for c in (cell or "").split(";") if c)


@lru_cache(maxsize=None)
def load_examples(source: str) -> tuple[Example, ...]:
    """Examples of one shipped source: labelled_sentences, target_texts, sdg_titles, uprinfo, uninfo, iati, slovenia."""
    if source in ("labelled_sentences", "target_texts"):
        return tuple(Example(r["text"], source, {"sdg_goal": (r["goal"],)}, str(i))
                     for i, r in enumerate(_rows(f"{source}.csv")))
    if source == "sdg_titles":
        out = [Example(r["title_en"], source, {"sdg_goal": (r["goal"],), "sdg_target": (r["code"],)}, r["code"])
               for r in table("sdg_targets.csv")]
        out += [Example(r["title_en"], source, {"sdg_goal": (r["goal"],), "sdg_target": (r["target"],)}, r["code"])
                for r in table("sdg_indicators.csv")]
        return tuple(out)
    if source == "uprinfo":
        return tuple(Example(r["text"], source, {"uprinfo": _split(r["issues"])}, r["session"])
                     for r in _rows("uprinfo_recommendations.csv.gz"))
    if source in ("uninfo", "iati"):
        name = "uninfo_suboutputs.csv" if source == "uninfo" else "iati_sdg_activities.csv"
        key = "country" if source == "uninfo" else "identifier"
        return tuple(Example(r["text"], source, {"sdg_goal": _split(r["goals"]), "sdg_target": _split(r["targets"])},
                             r[key]) for r in _rows(name))
    if source == "slovenia":  # evaluation only: never passed to fit() by this package
        return tuple(Example(r["text"], source, {"sdg_goal": _split(r["goals"])}, r["cycle"])
                     for r in _rows("slovenia_ohchr_goals.csv"))
    raise ValueError(f"unknown training source {source!r}")


TRAIN_SOURCES = ("labelled_sentences", "target_texts", "sdg_titles", "uninfo", "iati", "uprinfo")


def default_examples() -> list[Example]:
    """Every example the shipped model trains on (Slovenia is held out for evaluation)."""
    return [e for s in TRAIN_SOURCES for e in load_examples(s)]


# --------------------------------------------------------------------------- model
@dataclass
class TextModel:
    """A fitted vectorizer and one one-vs-rest classifier per head (labels in ``labels[head]``)."""

    version: str
    vectorizer: TfidfVectorizer
    classifiers: dict[str, OneVsRestClassifier]
    labels: dict[str, list[str]]
    goal_rule: dict = field(default_factory=dict)  # threshold/relative/max + inner scores (matcher.calibration)
    _coef: dict = field(default_factory=dict, repr=False)  # per head: coefficients, transposed, intercepts
    _terms: Optional[list[str]] = field(default=None, repr=False)  # feature names, by column

    def __getstate__(self) -> dict:
        """Pickled without the dense caches (rebuilt on first use): the cache file stays the fitted model."""
        return {**self.__dict__, "_coef": {}}

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        """TF-IDF rows (L2-normalised) of texts."""
        return self.vectorizer.transform(texts)

    def predict(self, X: sparse.csr_matrix, head: str) -> np.ndarray:
        """Probabilities, shape (n_texts, n_labels of head), each in [0, 1]."""
        clf = self.classifiers.get(head)
        if clf is None:
            return np.zeros((X.shape[0], 0))
        # one sparse x dense product for all labels: same numbers as clf.predict_proba, ~10x fewer calls
        z = np.asarray(X @ self.coef_t(head)) + self.intercept(head)
        return 1.0 / (1.0 + np.exp(-z))

    def intercept(self, head: str) -> np.ndarray:
        """Intercepts (n_labels,) of a head (cached)."""
        key = ("intercept", head)
        if key not in self._coef:
            self._coef[key] = np.array([float(np.ravel(e.intercept_)[0]) for e in self.classifiers[head].estimators_])
        return self._coef[key]

    def coef_t(self, head: str) -> np.ndarray:
        """The coefficients transposed (n_features, n_labels), C-contiguous and cached: a transposed view would be
        copied by every sparse product."""
        key = ("coef_t", head)
        if key not in self._coef:
            self._coef[key] = np.ascontiguousarray(self.coef(head).T)
        return self._coef[key]

    def coef(self, head: str) -> np.ndarray:
        """Dense coefficient matrix (n_labels, n_features) of a head (cached)."""
        if head not in self._coef:
            self._coef[head] = np.vstack([e.coef_.ravel() for e in self.classifiers[head].estimators_])
        return self._coef[head]

    def top_terms(self, X: sparse.csr_matrix, row: int, head: str, label: str, k: int = 5) -> list[tuple[str, float]]:
        """The k features of text ``row`` that push ``label`` up most: (term, tfidf x coefficient), positive only."""
        return self.top_terms_pairs(X, head, [(row, label)], k)[0]

    def top_terms_pairs(self, X: sparse.csr_matrix, head: str, pairs: list[tuple[int, str]],
                        k: int = 5) -> list[list[tuple[str, float]]]:
        """``top_terms`` of many (row, label) pairs of a batch at once, in the order of ``pairs``.

        One vectorised pass over the features of all the pairs' texts: the classifier wants the terms of every theme
        and goal it keeps, and numpy calls per label cost more than the model itself.  Ties keep the column order,
        as a stable sort of one text's terms does."""
        if not pairs:
            return []
        if not isinstance(self._terms, list):
            self._terms = self.vectorizer.get_feature_names_out().tolist()
        index = self._label_index(head)
        rows = np.fromiter((r for r, _ in pairs), dtype=np.int64, count=len(pairs))
        js = np.fromiter((index[label] for _, label in pairs), dtype=np.int64, count=len(pairs))
        starts = X.indptr[rows].astype(np.int64)
        lens = X.indptr[rows + 1] - starts
        first = np.cumsum(lens) - lens  # where each pair's stretch begins in the flat arrays
        pair = np.repeat(np.arange(len(pairs)), lens)
        nz = np.repeat(starts - first, lens) + np.arange(int(lens.sum()))  # positions in X.indices / X.data
        cols = X.indices[nz]
        contrib = X.data[nz] * self.coef_t(head)[cols, js[pair]]  # float32 x float64, as one text's product
        order = np.lexsort((-contrib, pair))  # by pair, then contribution down; stable
        rank = np.arange(len(order)) - first[pair[order]]
        keep = order[(rank < k) & (contrib[order] > 0)]
        out: list[list[tuple[str, float]]] = [[] for _ in pairs]
        names = self._terms
        for p, c, v in zip(pair[keep].tolist(), cols[keep].tolist(), contrib[keep].tolist()):
            out[p].append((names[c], round(v, 4)))
        return out

    def _label_index(self, head: str) -> dict[str, int]:
        """Column of each label of a head (cached)."""
        key = ("index", head)
        if key not in self._coef:
            self._coef[key] = {label: j for j, label in enumerate(self.labels[head])}
        return self._coef[key]


def fit_head(X, labelsets: list[tuple[str, ...]], head: str, min_examples: Optional[int] = None):
    """One-vs-rest logistic regression of one head: (classifier, its labels), or (None, []) with nothing to learn.

    Labels need ``min_examples`` examples (default: ``MIN_TARGET_EXAMPLES`` for targets, else 1) and must not be
    on every example."""
    if min_examples is None:
        min_examples = MIN_TARGET_EXAMPLES if head == "sdg_target" else 1
    counts: dict[str, int] = {}
    for ls in labelsets:
        for c in ls:
            counts[c] = counts.get(c, 0) + 1
    keep = sorted(c for c, n in counts.items() if n >= min_examples and n < len(labelsets))
    if not keep:
        return None, []
    mlb = MultiLabelBinarizer(classes=keep)
    Y = mlb.fit_transform([[c for c in ls if c in counts and counts[c] >= min_examples] for ls in labelsets])
    clf = OneVsRestClassifier(LogisticRegression(solver="liblinear", C=HEAD_C[head], random_state=SEED,
                                                 max_iter=200))
    clf.fit(X, Y)
    return clf, keep


def fit(examples: list[Example], version: str = "adhoc", calibrate: bool = True) -> TextModel:
    """Fit the vectorizer on all example texts and one classifier per head on the examples labelled for it.

    ``calibrate``: also choose the goal rule by inner cross-validation on these examples (matcher.calibration)."""
    vec = TfidfVectorizer(analyzer=Analyzer(), sublinear_tf=True, min_df=2, dtype=np.float32)
    X = vec.fit_transform([e.text for e in examples])
    classifiers, labels = {}, {}
    for head in HEADS:
        idx = [i for i, e in enumerate(examples) if head in e.labels and e.labels[head]]
        if not idx:
            continue
        clf, keep = fit_head(X[idx], [examples[i].labels[head] for i in idx], head)
        if clf is not None:
            classifiers[head], labels[head] = clf, keep
    model = TextModel(version, vec, classifiers, labels)
    if calibrate and "sdg_goal" in labels:
        from .calibration import calibrate_goal_rule  # calibration scores with matcher.classify, which imports us

        model.goal_rule = calibrate_goal_rule(model, examples)
    return model


def data_hash() -> str:
    """SHA-256 of the training files, the SDG title tables, the lexicons and theme crosswalk (the calibrated goal
    rule depends on them) and CODE_VERSION: changes when any of them does."""
    h = hashlib.sha256(CODE_VERSION.encode())
    for name in TRAINING_FILES:
        h.update((TRAINING_DIR / name).read_bytes())
    for name in ("sdg_targets.csv", "sdg_indicators.csv", "hr_lexicon.csv", "aurora_v5_queries.csv",
                 "crosswalk_theme_sdg.csv"):
        h.update((DATA_DIR / name).read_bytes())
    return h.hexdigest()


@lru_cache(maxsize=1)
def model_version() -> str:
    """``CODE_VERSION`` plus the first 12 hex digits of the training-data hash, e.g. ``tfidf-lr-1+3f2a...``."""
    return f"{CODE_VERSION}+{data_hash()[:12]}"


def cache_dir() -> Path:
    """Where fitted models are cached: $UPR_ALIGN_CACHE_DIR, else $XDG_CACHE_HOME/upr-align, else ~/.cache/upr-align."""
    if os.environ.get("UPR_ALIGN_CACHE_DIR"):
        return Path(os.environ["UPR_ALIGN_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "upr-align"


def model_cached() -> bool:
    """True when the default model of this version is in the cache (else first use trains it: about 40 s)."""
    return (cache_dir() / f"model-{model_version().replace('+', '-')}.pkl").exists()


@lru_cache(maxsize=1)
def default_model() -> TextModel:
    """The model trained on all shipped training data: from the cache, else trained now and cached."""
    version = model_version()
    path = cache_dir() / f"model-{version.replace('+', '-')}.pkl"
    if path.exists():
        try:
            with path.open("rb") as fh:
                model = pickle.load(fh)
            if isinstance(model, TextModel) and model.version == version:
                return model
        except Exception:  # a truncated or foreign cache file: retrain rather than fail
            pass
    model = fit(default_examples(), version)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    except OSError:
        pass  # read-only home: the model still works, it is just retrained next time
    return model
