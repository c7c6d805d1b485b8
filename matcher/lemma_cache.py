"""Lemmas of item texts kept between matching runs (issue #5).

The text component of a link score is a TF-IDF space fitted on the texts matched together
(``matcher.tfidf``).  An incremental run that adds recommendations in many countries fits it on every
Cooperation Framework item and donor activity of those countries, and lemmatising their long texts again
was the largest step of such a run.  Their lemmas are kept in ``lemma_cache``, keyed by a hash of what
the analyser depends on (word pattern, stop words, lemma table version) and the text: a changed text or
analyser is a new key, so a cached entry is never stale.  A full run rewrites the cache from the items it
matched (entries of texts that are gone are dropped; between full runs the cache only grows, by the texts
of new or changed items).  Recommendations are not cached: an incremental run lemmatises only the new ones.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

from sqlalchemy import delete, select
from sqlmodel import Session

from .bulk import insert_columns
from .models import LemmaCache
from .profiles import CHUNK, fetch

SEPARATOR = " "


@lru_cache(maxsize=1)
def _version() -> str:
    """What the lemmas depend on: the word pattern, the stop words and the lemma table (its package version)."""
    from importlib.metadata import PackageNotFoundError, version

    from .model import _STOP, _WORD

    try:
        table = version("spacy-lookups-data")
    except PackageNotFoundError:  # pragma: no cover - a dependency of the project
        table = "?"
    digest = hashlib.sha1(f"{_WORD.pattern}|{'|'.join(sorted(_STOP))}|{table}".encode("utf-8")).hexdigest()[:12]
    return f"lemmas-1|{digest}"


def key(text: str, version: str) -> str:
    return hashlib.sha1(f"{version}|{text}".encode("utf-8")).hexdigest()


def lemmas(session: Session, texts: list[str], *, rewrite: bool = False) -> list[list[str]]:
    """``Analyzer.lemmas`` of each text, from the cache where it has them; the others are lemmatised here
    and added to it.  ``rewrite``: empty the cache first (a full run), so that it holds these texts only."""
    from .model import Analyzer

    version = _version()
    keys = [key(t or "", version) for t in texts]
    cached: dict[str, str] = {}
    if rewrite:
        session.execute(delete(LemmaCache))
    else:
        wanted = sorted(set(keys))
        for start in range(0, len(wanted), CHUNK):
            cached.update(fetch(session, select(LemmaCache.key, LemmaCache.lemmas)
                                .where(LemmaCache.key.in_(wanted[start:start + CHUNK]))))
    analyzer = Analyzer()
    out: list[list[str]] = []
    new: dict[str, str] = {}
    for k, t in zip(keys, texts):
        hit = cached.get(k)
        if hit is not None:
            out.append(hit.split(SEPARATOR) if hit else [])
            continue
        lem = analyzer.lemmas(t or "")
        out.append(lem)
        if k not in new and not any(SEPARATOR in w for w in lem):  # (a lemma with a space is not cached)
            new[k] = SEPARATOR.join(lem)
    if new:
        insert_columns(session, LemmaCache, {"key": list(new), "lemmas": list(new.values())})
    return out
