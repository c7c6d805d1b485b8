"""Speed of the lexicon layer (Aurora + human-rights queries) on every UPR Info recommendation text, one core.

    python bench/lexicon_speed.py [--data ../shared/data/upr/uprinfo/original] [--batch-size 1000]
                                  [--spacy-matcher N] [--profile]

Reports texts/s of ``Lexicon.match_many`` (tokenizer + phrase index + query evaluation), the same for a
fresh process-level cache (first pass) and a warm one (second pass), the share of texts with a hit, and
the most frequent targets. ``--spacy-matcher N`` also times the spaCy ``Matcher`` compilation of the
same phrases on the first N texts and checks that both give the same phrase hits.
"""
from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matcher.lexicon import Lexicon  # noqa: E402

FILES = ["1-5.csv", "6-9.csv", "10-13.csv", "14-17.csv", "voluntary.csv"]


def read_texts(folder: Path) -> list[str]:
    """The 'Text' column of every UPR Info export (Mac Roman, classic-Mac CR line ends)."""
    texts = []
    for name in FILES:
        raw = (folder / name).read_bytes().decode("mac_roman")
        texts.extend(row["Text"] for row in csv.DictReader(io.StringIO(raw, newline="")))
    return texts


def timed_pass(lex: Lexicon, texts: list[str], batch_size: int) -> tuple[float, float, list]:
    """Wall seconds, CPU seconds of this process (honest on a shared machine) and the hits."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = list(lex.match_many(texts, batch_size=batch_size))
    return time.perf_counter() - t0, time.process_time() - c0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/upr/uprinfo/original")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--spacy-matcher", type=int, default=0, metavar="N", help="compare with spaCy Matcher on N texts")
    ap.add_argument("--profile", action="store_true", help="print the top functions of a profiled pass")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as the target says
    texts = read_texts(args.data)
    words = sum(len(t.split()) for t in texts)
    t0 = time.perf_counter()
    lex = Lexicon.load()
    load_s = time.perf_counter() - t0
    print(f"texts: {len(texts)}  (mean {words / len(texts):.1f} words, {sum(map(len, texts)) / len(texts):.0f} chars)")
    print(f"lexicon: {len(lex.queries)} queries, {len(lex.phrase_terms)} phrases, {len(lex.terms)} terms; load {load_s:.2f} s")
    for label in ("first pass", "warm pass "):
        wall, cpu, out = timed_pass(lex, texts, args.batch_size)
        print(f"match_many {label}: wall {wall:.2f} s = {len(texts) / wall:,.0f} texts/s; "
              f"CPU {cpu:.2f} s = {len(texts) / cpu:,.0f} texts/s")
    with_hit = sum(1 for hits in out if hits)
    by_source = Counter(h.source for hits in out for h in hits)
    print(f"texts with >=1 hit: {with_hit} ({100 * with_hit / len(texts):.1f} %); hits by source: {dict(by_source)}")
    targets = Counter(t for hits in out for t in {h.target for h in hits})
    print("top targets (texts):", ", ".join(f"{t} {n}" for t, n in targets.most_common(20)))
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.spacy_matcher:
        sample = texts[: args.spacy_matcher]
        t0 = time.perf_counter()
        matcher = lex.spacy_matcher()
        build = time.perf_counter() - t0
        docs = list(lex.nlp.pipe(sample, disable=["lemmatizer"]))
        c0 = time.process_time()  # CPU time: wall clock is unreliable on a shared machine
        spacy_hits = [lex.spacy_phrase_hits(d, matcher) for d in docs]
        sp = time.process_time() - c0
        c0 = time.process_time()
        own_hits = [lex.phrase_hits(lex.words(d)[1]) for d in docs]
        own = time.process_time() - c0
        norm = lambda h: {k: sorted(set(v)) for k, v in h.items()}  # noqa: E731
        differ = sum(1 for a, b in zip(spacy_hits, own_hits) if norm(a) != norm(b))
        print(f"phrase finding on {len(sample)} tokenised texts: spaCy Matcher (REGEX for truncation) "
              f"{len(sample) / sp:,.0f} texts/s (build {build:.1f} s); phrase index {len(sample) / own:,.0f} texts/s; "
              f"texts whose phrase hits differ: {differ}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        list(lex.match_many(texts, batch_size=args.batch_size))
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
