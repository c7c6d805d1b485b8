"""Ingest a large UN INFO Joint Work Plan export into a fresh SQLite store; report rows/s and peak RSS.

    python bench/ingest_uninfo.py [--data ../shared/data/uninfo] [--rows 20000] [--format xlsx|csv|both]

The export is built (in a temp dir) by replicating the real rows of the Africa XLSX (or the Arab
States CSV) with fresh UN INFO IDs and sub-output codes; each replica round is its own plan, so the
parent/sub-output ratio stays that of the real file.  Ingest runs in a child process so that its
peak RSS is not the builder's.  The store's sub-output count and money sums are checked against
sums computed here while building.  Goal (issue #3): >= 2,000 rows/s, peak RSS <= 400 MB.
"""
from __future__ import annotations

from _rss import peak_rss_mb  # noqa: E402  (bench/ is the script folder)
import argparse
import csv
import io
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from decimal import Decimal
from pathlib import Path

YEARLY = re.compile(r"^\d{4} (Required|Available|Expenditure)$")


def _replicas(header, rows, n):
    """n rows cycling through ``rows``; every one with a fresh ID, sub-output code and plan per round."""
    ci = {h: i for i, h in enumerate(header)}
    for k in range(n):
        rnd, src = divmod(k, len(rows))
        row = list(rows[src])
        row[ci["ID"]] = 50_000_000 + k
        row[ci["Sub-Output code"]] = f"{row[ci['Sub-Output code']]}-r{rnd}"
        row[ci["Plan name"]] = f"{row[ci['Plan name']]} (replica {rnd})"
        yield row


def _sums(header, row, acc):
    for i, h in enumerate(header):
        m = YEARLY.match(str(h))
        if m and row[i] not in (None, "", "-"):
            v = row[i]
            acc[m.group(1).lower()] = acc.get(m.group(1).lower(), Decimal(0)) + Decimal(repr(v) if isinstance(v, float) else str(v))


def build_xlsx(src: Path, out: Path, n: int) -> dict:
    from openpyxl import Workbook, load_workbook
    from openpyxl.utils import get_column_letter

    wb = load_workbook(src, read_only=True)
    rows = [r for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    header, body = rows[0], [r for r in rows[1:] if any(v is not None for v in r)]
    out_wb = Workbook(write_only=True)
    ws = out_wb.create_sheet("export")
    ws.append(list(header))
    acc: dict = {}
    for row in _replicas(header, body, n):
        _sums(header, row, acc)
        ws.append(row)
    out_wb.save(out)
    _add_dimension(out, f"A1:{get_column_letter(len(header))}{n + 1}")
    return acc


def _add_dimension(path: Path, ref: str) -> None:
    """Write the <dimension> element UN INFO's exports carry (openpyxl's write-only mode omits it, and
    without it openpyxl's read-only mode parses the whole sheet once more just to size it)."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            with src.open(info) as fh, dst.open(info.filename, "w") as out:
                head = fh.read(4096)
                if info.filename.startswith("xl/worksheets/"):
                    head = head.replace(b"</sheetPr>", f'</sheetPr><dimension ref="{ref}"/>'.encode(), 1)
                out.write(head)
                shutil.copyfileobj(fh, out, 1 << 20)
    tmp.replace(path)


def build_csv(src: Path, out: Path, n: int) -> dict:
    recs = list(csv.reader(io.StringIO(src.read_bytes().decode("utf-8"), newline="")))
    header, body = recs[0], recs[1:]
    acc: dict = {}
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(header)
        for row in _replicas(header, body, n):
            _sums(header, row, acc)
            w.writerow(row)
    return acc


def ingest(path: str, url: str) -> None:
    """Child process: ingest one file, print a JSON line with timings, counts and peak RSS."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from matcher import get_engine, import_file, stats
    from matcher.models import CFItem, MoneyFact

    engine = get_engine(url)
    cpu0 = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    t0 = time.perf_counter()
    summary = import_file(engine, path, kind="cf")
    secs = time.perf_counter() - t0
    # CPU seconds of the writing process and of its background reader: on a machine shared with other
    # work the wall time stretches, these much less
    cpu = [(u.ru_utime + u.ru_stime) - (b.ru_utime + b.ru_stime)
           for u, b in zip([resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)], cpu0)]
    with Session(engine) as s:
        subs = s.execute(select(func.count()).select_from(CFItem).where(CFItem.level == "sub_output")).one()[0]
        money = {m["kind"]: m["amount"] for m in stats(s)["money"] if m["source_type"] == "uninfo"}
        exact: dict = {}
        for kind, amount in s.execute(select(MoneyFact.kind, MoneyFact.amount)):
            exact[kind] = exact.get(kind, Decimal(0)) + Decimal(str(amount))
        exact = {k: float(v.quantize(Decimal("0.01"))) for k, v in exact.items()}
    print(json.dumps({"ok": summary.ok, "error": summary.error, "read": summary.read, "inserted": summary.inserted,
                      "problems": summary.problems_total, "seconds": secs, "sub_outputs": subs, "money": money, "exact": exact,
                      "peak_rss_mb": peak_rss_mb(), "cpu_writer": cpu[0], "cpu_reader": cpu[1]}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/uninfo")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--format", choices=["xlsx", "csv", "both"], default="both")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-uninfo-"))
    failed = False
    for fmt in (["xlsx", "csv"] if args.format == "both" else [args.format]):
        out = tmp / f"jwp_{args.rows}.{fmt}"
        t0 = time.perf_counter()
        if fmt == "xlsx":
            expected = build_xlsx(args.data / "jwp_export_africa_education_theme.xlsx", out, args.rows)
        else:
            expected = build_csv(args.data / "jwp_export_arab_states_education_theme.csv", out, args.rows)
        built = time.perf_counter() - t0
        url = f"sqlite:///{tmp / f'bench_{fmt}.db'}"
        res = subprocess.run([sys.executable, __file__, "--child", str(out), url], capture_output=True, text=True)
        if res.returncode:
            print(res.stderr, file=sys.stderr)
            return 1
        r = json.loads(res.stdout.strip().splitlines()[-1])
        want = {k: float(v.quantize(Decimal("0.01"))) for k, v in expected.items()}
        checks = r["ok"] and r["read"] == r["sub_outputs"] == args.rows and r["exact"] == want
        failed |= not checks
        print(f"{fmt}: {args.rows} rows, {out.stat().st_size / 1e6:.1f} MB (built in {built:.1f} s) -> "
              f"{r['inserted']} CF items in {r['seconds']:.1f} s = {args.rows / r['seconds']:,.0f} rows/s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB; CPU writer {r['cpu_writer']:.1f} s, reader {r['cpu_reader']:.1f} s; "
              f"counts and exact money sums "
              f"{'match' if checks else 'DIFFER: ' + json.dumps([r, want])}")
        if r["money"] != want:  # SQLite sums NUMERIC as binary floats: cents drift at 10^10 USD
            print(f"   note: stats --json money on SQLite {r['money']} vs exact {want}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        ingest(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(main())
