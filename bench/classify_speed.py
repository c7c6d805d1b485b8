"""Speed of ``classify_texts`` on UPR Info recommendation texts (mappings/training), one core.

Run:  python bench/classify_speed.py [--n 100000]
Prints texts/s on the distinct texts, then the time and peak RSS for N texts (the texts replicated).
The model is loaded (or trained and cached) before timing starts.  Targets (issue #4): >= 2,000 texts/s,
100,000 texts <= 60 s, peak RSS <= 1.5 GiB.
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _rss import peak_rss_mb  # noqa: E402

from matcher.classify import classify_texts  # noqa: E402
from matcher.model import default_model, load_examples  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    t = time.perf_counter()
    default_model()
    classify_texts(["warm up the lexicon"])
    print(f"model + lexicon ready in {time.perf_counter() - t:.1f} s")
    texts = [e.text for e in load_examples("uprinfo")]
    t = time.perf_counter()
    res = classify_texts(texts)
    dt = time.perf_counter() - t
    print(f"{len(texts):,} distinct UPR Info texts: {dt:.1f} s, {len(texts) / dt:,.0f} texts/s, "
          f"{sum(len(r.labels) for r in res) / len(res):.1f} labels/text")
    big = (texts * (args.n // len(texts) + 1))[: args.n]
    t = time.perf_counter()
    done = 0
    for start in range(0, len(big), 10_000):  # streamed in chunks, as the CLI does: results are not all kept
        done += len(classify_texts(big[start:start + 10_000]))
    dt = time.perf_counter() - t
    print(f"{done:,} texts: {dt:.1f} s ({done / dt:,.0f} texts/s), peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
