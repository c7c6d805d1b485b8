"""Keyword layer of the classifier: the Aurora SDG queries and the curated human-rights lexicon, matched on text.

Both lexicons (``mappings/aurora_v5_queries.csv``, ``mappings/hr_lexicon.csv``) are written in the Scopus
query language of ``matcher.query_parser``. Every quoted phrase is compiled once into a sequence of word
terms (exact word, also matching the same lookup lemma; ``word*`` prefix; ``w*rd`` wildcard); a text is
tokenised by ``spacy.blank("en")``, each distinct lower-cased word is classified against the terms once
(cached), phrases are found from an index on their first term, and only the queries whose phrases hit are
evaluated. ``matcher_patterns()`` gives the same phrases as spaCy ``Matcher`` patterns (used to cross-check
and in ``bench/lexicon_speed.py``); the indexed path gives the same hits and is several times faster.
"""
from __future__ import annotations

import gzip
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterable, Iterator

import spacy
from spacy.attrs import IDX, LENGTH, LOWER
from spacy.tokens import Doc

from mappings import table
from matcher.query_parser import (Evaluator, Node, compile_query, parse_query, phrase_matches, phrases,
                                  required_keysets)

SOURCES = {"aurora": "aurora_v5_queries.csv", "hr_lexicon": "hr_lexicon.csv"}
_WILD = re.compile(r"[*?]")
_WORD_ATTRS = [LOWER, IDX, LENGTH]
# per distinct word: term ids it satisfies, single-word phrases it is, (phrase, remaining term ids) it starts
WordInfo = tuple[frozenset[int], tuple[str, ...], tuple[tuple[str, tuple[int, ...]], ...]]


@dataclass(frozen=True)
class Span:
    """Matched words: character offsets [start_char, end_char) in the text, the text there, the phrase."""

    start_char: int
    end_char: int
    text: str
    phrase: str


@dataclass(frozen=True)
class Hit:
    """One query that is true for a text, with the spans that made it true."""

    target: str
    query_id: str
    source: str
    spans: tuple[Span, ...]


@dataclass(frozen=True)
class Query:
    """One query line of a lexicon, parsed and compiled (``run``: phrase hits -> matches)."""

    query_id: str
    target: str
    source: str
    text: str
    ast: Node
    run: Evaluator = field(init=False, compare=False, repr=False)
    required: tuple[frozenset[str], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "run", compile_query(self.ast))
        object.__setattr__(self, "required", tuple(required_keysets(self.ast)))


def make_nlp() -> spacy.language.Language:
    """``spacy.blank("en")`` with the lookup lemmatizer of spacy-lookups-data (installed, nothing downloaded)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def load_queries(sources: Iterable[str] = tuple(SOURCES)) -> list[Query]:
    """Parse every query line of the shipped lexicon files (a syntax error names file and query id)."""
    out = []
    for source in sources:
        for row in table(SOURCES[source]):
            try:
                ast = parse_query(row["query"])
            except ValueError as exc:
                raise ValueError(f"{SOURCES[source]}, query {row['query_id']}, field query: {exc}") from exc
            out.append(Query(row["query_id"], row["target"], source, row["query"], ast))
    return out


class Lexicon:
    """Compiled lexicons; ``match`` / ``match_many`` return the hits of every query per text."""

    def __init__(self, queries: list[Query], nlp=None):
        self.nlp = nlp or make_nlp()
        self.queries = queries
        self._lemmas = self.nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
        self._lemma_cache: dict[str, str] = {}
        self.phrase_text: dict[str, str] = {}
        self.phrase_terms: dict[str, tuple[int, ...]] = {}
        self.terms: list[tuple[str, str]] = []  # (kind, value), kind in exact|prefix|wild
        term_ids: dict[tuple[str, str], int] = {}
        for q in queries:
            for p in phrases(q.ast):
                if p.key in self.phrase_terms:
                    continue
                seq = []
                for term in self._phrase_terms(p.text):
                    seq.append(term_ids.setdefault(term, len(term_ids)))
                    if len(term_ids) > len(self.terms):
                        self.terms.append(term)
                self.phrase_text[p.key], self.phrase_terms[p.key] = p.text, tuple(seq)
        self._exact: dict[str, int] = {}
        self._by_lemma: dict[str, list[int]] = defaultdict(list)
        self._prefix: dict[str, int] = {}
        self._wild: list[tuple[re.Pattern, int]] = []
        for tid, (kind, value) in enumerate(self.terms):
            if kind == "exact":
                self._exact[value] = tid
                if value.isalpha():
                    self._by_lemma[self.lemma(value)].append(tid)
            elif kind == "prefix":
                self._prefix[value] = tid
            else:
                self._wild.append((re.compile(_WILD.sub(lambda m: "[^ ]*" if m[0] == "*" else ".", value)), tid))
        self._prefix_lens = sorted({len(v) for v in self._prefix})
        self._by_first: dict[int, list[tuple[str, tuple[int, ...]]]] = defaultdict(list)
        for key, seq in self.phrase_terms.items():
            self._by_first[seq[0]].append((key, seq))
        self._queries_by_key: dict[str, list[Query]] = defaultdict(list)
        for q in queries:
            # index a query under one keyset that must hit (the smallest: fewest candidates per text)
            for key in min(q.required, key=len):
                self._queries_by_key[key].append(q)
        self._word_cache: dict[int, frozenset[int] | None] = {}

    @classmethod
    def load(cls, sources: tuple[str, ...] = tuple(SOURCES)) -> "Lexicon":
        """The shipped lexicons compiled once per process (cached)."""
        return _load(tuple(sources))

    def lemma(self, lower: str) -> str:
        """Lookup lemma of a lower-cased word (spacy-lookups-data table; the word itself when unknown)."""
        lem = self._lemma_cache.get(lower)
        if lem is None:
            lem = self._lemma_cache[lower] = self._lemmas.get(lower, lower)
        return lem

    def _phrase_terms(self, text: str) -> Iterator[tuple[str, str]]:
        # Words are split with the same tokenizer as texts ("under-five" -> under, five; "women's" ->
        # women, 's); punctuation is dropped on both sides, as Scopus' loose phrase search does.
        for word in text.lower().split():
            trunc = word.endswith("*") and not _WILD.search(word[:-1])
            core = word.rstrip("*") if trunc else word
            toks = [t.text for t in self.nlp.make_doc(core) if not (t.is_punct and not _WILD.search(t.text))]
            if _WILD.search(core):  # keep a wildcard word whole rather than let the tokenizer split it
                toks = [re.sub(r"[^\w*?]", "", core)]
            for i, tok in enumerate(toks):
                last = i == len(toks) - 1
                if _WILD.search(tok):
                    yield ("wild", tok)
                else:
                    yield ("prefix" if trunc and last else "exact", tok)

    def _classify(self, lower: str) -> frozenset[int]:
        ids = set()
        tid = self._exact.get(lower)
        if tid is not None:
            ids.add(tid)
        if lower.isalpha():
            ids.update(self._by_lemma.get(self.lemma(lower), ()))
        for n in self._prefix_lens:
            if n > len(lower):
                break
            tid = self._prefix.get(lower[:n])
            if tid is not None:
                ids.add(tid)
        for rx, tid in self._wild:
            if rx.fullmatch(lower):
                ids.add(tid)
        return frozenset(ids)

    def words(self, doc: Doc) -> tuple[list[tuple[int, int]], list[WordInfo]]:
        """Character offsets of the words of a Doc and what each word can start or continue (punctuation skipped)."""
        cache, offsets, infos = self._word_cache, [], []
        # one array call instead of a Token object per word (Token creation was a third of the time)
        for lower, idx, length in doc.to_array(_WORD_ATTRS).tolist():
            info = cache.get(lower, 0)
            if info == 0:
                info = cache[lower] = self._word_info(lower)
            if info is not None:
                offsets.append((idx, idx + length))
                infos.append(info)
        return offsets, infos

    def _word_info(self, lower_id: int) -> WordInfo | None:
        lex = self.nlp.vocab[lower_id]
        if lex.is_punct or lex.is_space:
            return None
        ids = self._classify(lex.lower_)
        singles = tuple(k for t in ids for k, seq in self._by_first.get(t, ()) if len(seq) == 1)
        multis = tuple((k, seq[1:]) for t in ids for k, seq in self._by_first.get(t, ()) if len(seq) > 1)
        return ids, singles, multis

    def phrase_hits(self, infos: list[WordInfo]) -> dict[str, list[tuple[int, int]]]:
        """Word positions [start, end) of every phrase found in a word sequence."""
        hits: dict[str, list[tuple[int, int]]] = {}
        n = len(infos)
        for i, (_, singles, multis) in enumerate(infos):
            for key in singles:
                hits.setdefault(key, []).append((i, i + 1))
            for key, tail in multis:
                end = i + 1 + len(tail)
                if end > n:
                    continue
                for k, tid in enumerate(tail, i + 1):
                    if tid not in infos[k][0]:
                        break
                else:
                    hits.setdefault(key, []).append((i, end))
        return hits

    def evaluate(self, text: str, offsets: list[tuple[int, int]], hits: dict[str, list[tuple[int, int]]]) -> list[Hit]:
        """Hits of every query made true by the phrase hits of one text."""
        candidates = {q.query_id: q for key in hits for q in self._queries_by_key[key]}
        out, by_key = [], None
        for q in candidates.values():
            # most candidates have one operand of a W/n or AND only: skip them before building matches
            if any(ks.isdisjoint(hits) for ks in q.required):
                continue
            if by_key is None:
                by_key = phrase_matches(hits)
            matches = q.run(by_key)
            if not matches:
                continue
            spans = {}
            for _, _, ev in matches:
                for key, s, e in ev:
                    a, b = offsets[s][0], offsets[e - 1][1]
                    spans.setdefault((a, b, key), Span(a, b, text[a:b], self.phrase_text[key]))
            keys = sorted(spans)
            # a span inside another span of the same hit adds nothing a reader needs ("trafficking" in
            # "trafficking in persons")
            kept = [k for k in keys if not any(o != k and o[0] <= k[0] and k[1] <= o[1] and (o[1] - o[0]) > (k[1] - k[0])
                                               for o in keys)]
            out.append(Hit(q.target, q.query_id, q.source, tuple(spans[k] for k in kept)))
        out.sort(key=lambda h: (h.source, h.query_id))
        return out

    def match(self, doc_or_text: str | Doc) -> list[Hit]:
        """Hits of every query on one text (or an already tokenised spaCy Doc)."""
        doc = self.nlp.make_doc(doc_or_text) if isinstance(doc_or_text, str) else doc_or_text
        offsets, ids = self.words(doc)
        text = doc_or_text if isinstance(doc_or_text, str) else doc.text
        return self.evaluate(text, offsets, self.phrase_hits(ids))

    def match_many(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[list[Hit]]:
        """Hits per text, in order, streaming; only the tokenizer runs (lemmas come from the cached table)."""
        # the text travels with its Doc: Doc.text would rebuild it from Token objects
        pairs = ((t, t) for t in texts)
        for doc, text in self.nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, disable=["lemmatizer"]):
            offsets, infos = self.words(doc)
            yield self.evaluate(text, offsets, self.phrase_hits(infos))

    # spaCy Matcher compilation (same phrases, for interoperability and the speed comparison) ---------
    def matcher_patterns(self) -> dict[str, list[dict]]:
        """Each phrase as one spaCy ``Matcher`` token pattern on LOWER (lemma forms spelled out)."""
        reverse = _reverse_lemmas()
        pats = {}
        for key, seq in self.phrase_terms.items():
            pat: list[dict] = []
            for k, tid in enumerate(seq):
                if k:
                    pat.append({"IS_PUNCT": True, "OP": "*"})
                kind, value = self.terms[tid]
                if kind == "exact":
                    forms = {value}
                    if value.isalpha():
                        lem = self.lemma(value)
                        forms |= {f for f in reverse.get(lem, set()) | {lem} if tid in self._classify(f)}
                    pat.append({"LOWER": {"IN": sorted(forms)}})
                elif kind == "prefix":
                    pat.append({"LOWER": {"REGEX": "^" + re.escape(value)}})
                else:
                    pat.append({"LOWER": {"REGEX": "^" + self._wild_regex(value) + "$"}})
            pats[key] = pat
        return pats

    def _wild_regex(self, value: str) -> str:
        return next(rx.pattern for rx, tid in self._wild if self.terms[tid][1] == value)

    def spacy_phrase_hits(self, doc: Doc, matcher) -> dict[str, list[tuple[int, int]]]:
        """Phrase hits (word positions) found by a spaCy Matcher built from ``matcher_patterns()``."""
        word_of, w = {}, 0
        for tok in doc:
            if not (tok.is_punct or tok.is_space):
                word_of[tok.i] = w
                w += 1
        hits: dict[str, list[tuple[int, int]]] = {}
        for match_id, start, end in matcher(doc):
            key = self.nlp.vocab.strings[match_id]
            if start in word_of and (end - 1) in word_of:
                hits.setdefault(key, []).append((word_of[start], word_of[end - 1] + 1))
        return hits

    def spacy_matcher(self):
        """A spaCy ``Matcher`` holding every phrase pattern (match ids are phrase keys)."""
        from spacy.matcher import Matcher

        m = Matcher(self.nlp.vocab)
        for key, pat in self.matcher_patterns().items():
            m.add(key, [pat])
        return m


@lru_cache(maxsize=None)
def _load(sources: tuple[str, ...]) -> Lexicon:
    return Lexicon(load_queries(sources))


@lru_cache(maxsize=1)
def _reverse_lemmas() -> dict[str, set[str]]:
    path = resources.files("spacy_lookups_data") / "data" / "en_lemma_lookup.json.gz"
    rev: dict[str, set[str]] = defaultdict(set)
    for form, lem in json.loads(gzip.decompress(path.read_bytes())).items():
        if form == form.lower():
            rev[lem].add(form)
    return rev
