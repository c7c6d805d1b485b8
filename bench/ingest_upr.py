"""Ingest every UPR Info export into a fresh store; check counts against the files; report speed and memory.

    python bench/ingest_upr.py [--data ../shared/data/upr/uprinfo/original] [--db URL] [--repeat N]

The files' own counts are computed independently here (csv module on the Mac Roman text) and
compared with what the store holds: rows, accepted, noted, pledges, states that resolve to ISO3.
``--repeat N`` ingests N renamed copies of each file (fresh ids) to measure throughput at volume.
"""
from __future__ import annotations

from _rss import peak_rss_mb  # noqa: E402  (bench/ is the script folder)
import argparse
import csv
import io
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlmodel import Session

from matcher import get_engine, import_file, stats

FILES = ["1-5.csv", "6-9.csv", "10-13.csv", "14-17.csv", "voluntary.csv"]


def file_counts(path: Path) -> Counter:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("mac_roman"), newline="")))[1:]
    return Counter(r[7] for r in rows) + Counter(rows=len(rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/upr/uprinfo/original")
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in a temp dir)")
    ap.add_argument("--repeat", type=int, default=1, help="ingest each file this many times with distinct texts")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    engine = get_engine(url)
    expected = Counter()
    files = []
    for name in FILES:
        src = args.data / name
        expected += file_counts(src)
        files.append(src)
        for k in range(1, args.repeat):  # copies with a marker in every text -> new ids
            raw = src.read_bytes().decode("mac_roman").split("\r")
            copy = tmp / f"copy{k}-{name}"
            marked = [raw[0]] + [_mark(line, k) for line in raw[1:] if line]
            copy.write_bytes("\r".join(marked).encode("mac_roman"))
            files.append(copy)
    expected = Counter({k: v * args.repeat for k, v in expected.items()})
    t0 = time.perf_counter()
    read = 0
    for path in files:
        s = import_file(engine, path, kind="upr")
        if not s.ok:
            print(f"FAILED {s.error}", file=sys.stderr)
            return 1
        read += s.read
    elapsed = time.perf_counter() - t0
    with Session(engine) as session:
        st = stats(session)["recommendations"]
    rss_mb = peak_rss_mb()
    got = {"rows": st["total"], "Accepted": st["by_response"].get("accepted", 0),
           "Noted": st["by_response"].get("noted", 0), "Voluntary Pledge": st["by_response"].get("voluntary_pledge", 0)}
    print(f"backend: {engine.dialect.name}")
    print(f"rows read: {read}  in {elapsed:.1f} s  ->  {read / elapsed:,.0f} rows/s;  peak RSS {rss_mb:.0f} MB")
    ok = True
    for key in ("rows", "Accepted", "Noted", "Voluntary Pledge"):
        match = got[key] == expected[key]
        ok &= match
        print(f"  {key:17s} file {expected[key]:>7}  store {got[key]:>7}  {'OK' if match else 'MISMATCH'}")
    unresolved = st["by_state"].get("unresolved", 0)
    print(f"  states under review: {len(st['by_state']) - (1 if unresolved else 0)} resolved to ISO3, "
          f"{unresolved} rows unresolved")
    return 0 if ok and not unresolved else 1


def _mark(line: str, k: int) -> str:
    # the Text column is the 4th; prefix it inside its quotes or bare
    parts = next(csv.reader([line]))
    parts[3] = f"[copy {k}] {parts[3]}"
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(parts)
    return out.getvalue()


if __name__ == "__main__":
    sys.exit(main())
