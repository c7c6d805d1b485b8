"""Speed of ``classify_texts`` on UPR Info recommendation texts (mappings/training), one core.

Run:  python bench/classify_speed.py [--n 100000] [--csv]
Prints texts/s on the distinct texts, then the time and peak RSS for N texts (the texts replicated).
The model is loaded (or trained and cached) before timing starts.  ``--csv`` also measures the whole command end to
end, CSV to CSV: ``upr-align classify N.csv --text-column text --out OUT.csv`` in a new process on one core (start-up,
model and lexicon loading, reading, classifying, writing the five result columns), wall clock and peak RSS.
Targets (issue #4): >= 2,000 texts/s on one core, end to end from CSV to CSV; 100,000 texts <= 60 s, peak RSS
<= 1.5 GiB.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
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
    ap.add_argument("--n", type=int, default=100_000, help="texts in the timed stream (and the CSV), the distinct "
                    "texts repeated; the 31,615 distinct texts are always timed first")
    ap.add_argument("--csv", action="store_true", help="also time `upr-align classify` on a CSV of N texts")
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core (children inherit it)
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
    if args.csv:
        csv_to_csv(big)


# the command in a child Python that reports its own peak RSS at exit (VmHWM of its own memory map: ru_maxrss of a
# child counts the parent's memory at fork, before exec)
_CHILD = ("import atexit, pathlib, sys; atexit.register(lambda: print(next((l.split()[1] for l in pathlib.Path("
          "'/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')), '0'), file=sys.stderr)); "
          "from cli.main import app; sys.argv[0] = 'upr-align'; app()")


def csv_to_csv(texts: list[str]) -> None:
    """The CLI on a CSV of these texts, in a new process on this process's core: wall clock and its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "texts.csv", Path(tmp) / "classified.csv"
        with src.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text"])
            w.writerows(enumerate(texts))
        t = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", _CHILD, "classify", str(src), "--text-column", "text", "--out",
                              str(dst)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
        if run.returncode:
            sys.exit(f"`upr-align classify` failed (exit {run.returncode}):\n{run.stderr}")
        dt = time.perf_counter() - t
        kb = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "0"
        rss = f"{int(kb) / 1024:,.0f} MB" if kb.isdigit() and int(kb) else "not measured (no /proc)"
        print(f"CSV to CSV, `upr-align classify` ({len(texts):,} rows, {dst.stat().st_size / 1e6:,.0f} MB out): "
              f"{dt:.1f} s wall including start-up ({len(texts) / dt:,.0f} texts/s), peak RSS {rss}")

if __name__ == "__main__":
    main()
