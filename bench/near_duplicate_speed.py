"""Speed of the near-duplicate check of ``upr-align evaluate FILE`` (and ``POST /classify/evaluate``).

Run:  python bench/near_duplicate_speed.py [--file F --text-column C --label-column L] [--repeat 3] [--cli 3]
      python bench/near_duplicate_speed.py --verify
The file's texts (merged as ``evaluate`` merges them; default the OHCHR Slovenia file) are checked against the
~36,000 training texts: ``near_duplicate_mask`` (the definition: TF-IDF fitted on both sets at every call), then
``seen_in_training`` and ``evaluate_file`` called --repeat times in this one process, as a server calls them (the
first call builds the per-process index of the training texts); both answers are compared text by text.  Prints
the memory the index holds (tracemalloc) and, with --cli N, the wall clock of N whole ``upr-align evaluate`` runs,
each a new process.  The model is loaded (or trained and cached) before anything is timed.

--verify compares the index's cosines with the definition's (``near_duplicate_cosines``), bit for bit, on batches
of real texts of ``shared/data``: both Slovenia parses, the labelled sentences and target texts as published, the UN
INFO sub-outputs and descriptions as exported (mis-decoded French included), the SDG texts in EN/FR, texts with
no word, and random samples of the training texts (each one with a word must be seen).
"""
import argparse
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _rss import peak_rss_mb  # noqa: E402

from matcher.file_evaluation import evaluate_file, read_labelled, seen_in_training  # noqa: E402
from matcher.model import default_examples, default_model  # noqa: E402
from matcher.splits import near_duplicate_cosines, near_duplicate_mask  # noqa: E402
from matcher.tables import read_table  # noqa: E402

DATA = ROOT.parent / "shared" / "data"  # beside the repository, as bench/scaled_store.py finds it
SLOVENIA = DATA / "upr" / "slovenia" / "upr_slovenia_recommendations_sdg_themes.csv"


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def index_memory_mb(texts: list[str]) -> tuple[float, float] | None:
    """MB the index of the training texts holds once built, and the most a call on ``texts`` adds while it runs
    (tracemalloc; None: this code has no index)."""
    try:
        from matcher.near_duplicates import NearDuplicateIndex
    except ImportError:
        return None
    training = [e.text for e in default_examples()]
    tracemalloc.start()
    index = NearDuplicateIndex(training)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    index.max_cosines(texts)
    call = tracemalloc.get_traced_memory()[1] - held
    tracemalloc.stop()
    return held / 1e6, call / 1e6


def _column(path: Path, *names: str) -> list[str]:
    table = read_table(path)
    cols = [table.columns.index(n) for n in names]
    return [str(cells[c]) for _, cells in table.rows for c in cols if cells[c] not in (None, "")]


def verify() -> bool:
    """The index's cosines equal to the definition's, bit for bit, on batches of real texts."""
    import random

    from matcher.near_duplicates import training_index
    from matcher.splits import near_duplicate_vectorizer

    training = [e.text for e in default_examples()]
    analyze = near_duplicate_vectorizer().build_analyzer()
    rng = random.Random(0)
    batches = {
        "Slovenia, recommendations with SDG goals": _column(SLOVENIA, "text"),
        "Slovenia, thematic lists c2-c4": _column(SLOVENIA.with_name("slovenia_upr_thematic_lists_c2-c4.csv"), "text"),
        "labelled sentences + target texts": _column(DATA / "lexicons/labelled_sentences/original_data.csv", "Text")
        + _column(DATA / "lexicons/labelled_sentences/targets.csv", "text"),
        "UN INFO sub-outputs + descriptions": [t for f in ("jwp_export_arab_states_education_theme.csv",
                                                           "jwp_export_africa_education_theme.xlsx")
                                               for t in _column(DATA / "uninfo" / f, "Sub-Output", "Description")],
        "SDG goals, targets and indicators EN/FR": _column(DATA / "sdg/sdg_goals_targets_indicators.csv",
                                                           "text_en", "text_fr"),
        "no word, one letter, punctuation": ["", " ", "a", "!!", "- . -", "x y z", "42"],
        "training texts, 2,000 at random": rng.sample(training, 2000),
        "training texts, 300 at random, with texts of no word": rng.sample(training, 300) + ["", "?"],
    }
    batches["all of the above at once"] = [t for b in batches.values() for t in b]
    index, ok = training_index(), True
    for name, texts in batches.items():
        fast, dt_fast = timed(index.max_cosines, texts)
        slow, dt_slow = timed(near_duplicate_cosines, texts, training)
        same = fast.dtype == slow.dtype and np.array_equal(fast, slow)
        check = "cosines bit for bit equal"
        if name.startswith("training"):  # each is a training text: seen, unless it has no word at all
            same &= all(c >= 0.7 for t, c in zip(texts, fast) if analyze(t))
            check += " and every text with a word seen"
        ok &= same
        print(f"{name}: {len(texts):,} texts, {int((fast >= 0.7).sum()):,} seen; {check}: {same} (max |difference| "
              f"{float(np.abs(fast - slow).max()) if len(texts) else 0.0}); index {dt_fast:.2f} s, "
              f"definition {dt_slow:.2f} s")
    return ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=SLOVENIA)
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column", default="sdg_goals")
    ap.add_argument("--repeat", type=int, default=3, help="calls in this process")
    ap.add_argument("--cli", type=int, default=0, help="also time N whole `upr-align evaluate` runs")
    ap.add_argument("--verify", action="store_true", help="compare the cosines with the definition on real texts")
    args = ap.parse_args()
    if args.verify:
        sys.exit(0 if verify() else "the index and the definition disagree")
    default_model()
    training = [e.text for e in default_examples()]
    items, _ = read_labelled(args.file, args.text_column, args.label_column)
    texts = [t.text for t in items]
    print(f"{args.file.name}: {len(texts)} texts against {len(training):,} training texts")
    for n in range(args.repeat):
        seen, dt = timed(seen_in_training, texts)
        print(f"seen_in_training, call {n + 1}: {dt:.3f} s ({sum(seen)} seen)")
    ref, dt = timed(near_duplicate_mask, texts, training)
    same = [bool(x) for x in ref] == seen
    print(f"near_duplicate_mask (fitted on both sets): {dt:.3f} s ({int(ref.sum())} seen); same answer: {same}")
    for n in range(args.repeat):
        _, dt = timed(evaluate_file, args.file, args.text_column, args.label_column)
        print(f"evaluate_file, call {n + 1}: {dt:.2f} s")
    print(f"peak RSS {peak_rss_mb():,.0f} MB")
    memory = index_memory_mb(texts)
    if memory is not None:
        print(f"the index of the training texts holds {memory[0]:,.1f} MB; a call on the file's texts adds at most "
              f"{memory[1]:,.1f} MB while it runs")
    cmd = [str(Path(sys.executable).with_name("upr-align")), "evaluate", str(args.file),
           "--text-column", args.text_column, "--label-column", args.label_column]
    for n in range(args.cli):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        print(f"upr-align evaluate, run {n + 1}: {time.perf_counter() - t:.2f} s wall")
    if not same:
        sys.exit("the index and near_duplicate_mask disagree")


if __name__ == "__main__":
    main()
