"""Ingest one large IATI file (real activities replicated with fresh ids) into a fresh store; report speed and memory.

    python bench/ingest_iati.py [--data ../shared/data/iati/activities] [--activities 50000] [--runs 3] [--db URL] [--profile]

The file is built in a temp dir from every 2.0x activity of the real files (``--data`` and its
``by_country/``), each copy with a fresh ``iati-identifier`` (and its parent/child references moved
along, so hierarchies stay inside a copy).  The ingest runs in a child process, so its peak RSS
(``resource.getrusage``) measures the reader and loader only, not the building of the file.
Besides the wall-clock rate it reports the CPU time of the writing process and of its background
reader: on a shared machine the wall clock depends on the other load, the CPU time much less so,
and activities per CPU-second of the busier process is what two idle cores could sustain.
Goal (issue #3): >= 2,000 activities/s on 2 cores into SQLite, peak RSS <= 400 MB whatever the size.
"""
from __future__ import annotations

from _rss import peak_rss_mb  # noqa: E402  (bench/ is the script folder)
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from lxml import etree

ROOT_OPEN = b'<iati-activities version="2.03" generated-datetime="2026-11-28T00:00:00">\n'
DPORTAL_VERSION = "{http://d-portal.org/xmlns/iati-activities}version"


def templates(folder: Path) -> list[tuple[str, bytes]]:
    """(identifier, serialised activity) for every 2.0x activity in the folder's files."""
    out, seen = [], set()
    for path in sorted(folder.glob("*.xml")) + sorted((folder / "by_country").glob("*.xml")):
        for _, el in etree.iterparse(str(path), tag="iati-activity", resolve_entities=False, no_network=True):
            wrapper = el.getparent()
            version = el.get("version") or el.get(DPORTAL_VERSION) or (wrapper.get("version") if wrapper is not None else "")
            ident = " ".join((el.findtext("iati-identifier") or "").split())
            if (version or "").startswith("2.") and ident and ident not in seen:  # multi-country: in several files
                seen.add(ident)
                if el.get("version") is None:
                    el.set("version", version)  # the copy has no d-portal wrapper to inherit it from
                out.append((ident, etree.tostring(el)))
            el.clear()
    return out


def build(path: Path, n: int, folder: Path) -> int:
    """Write ``n`` activities (copies of the templates, fresh ids) to ``path``; returns its size in bytes."""
    tpl = templates(folder)
    ids = {ident for ident, _ in tpl}
    ref = re.compile(rb'(<related-activity\b[^>]*\bref=")([^"]*)(")')
    with open(path, "wb") as fh:
        fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n' + ROOT_OPEN)
        for i in range(n):
            ident, body = tpl[i % len(tpl)]
            copy = f"~{i // len(tpl)}"
            body = re.sub(rb"<iati-identifier>[^<]*</iati-identifier>",
                          b"<iati-identifier>" + (ident + copy).replace("&", "&amp;").replace("<", "&lt;").encode() + b"</iati-identifier>",
                          body, count=1)
            body = ref.sub(lambda m: m.group(1) + (m.group(2) + copy.encode() if m.group(2).decode(errors="replace") in ids else m.group(2)) + m.group(3), body)
            fh.write(body + b"\n")
        fh.write(b"</iati-activities>\n")
    return path.stat().st_size


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _profiled_reader(path: Path) -> None:
    """Profile the background reader process too: its cProfile stats go to ``path``."""
    import cProfile

    from matcher import prefetch

    send = prefetch._send

    def profiled(batch, queue):
        prof = cProfile.Profile()
        try:
            prof.runcall(send, batch, queue)
        finally:
            prof.dump_stats(str(path))

    prefetch._send = profiled


def ingest(file: Path, url: str, profile: bool) -> dict:
    """Ingest ``file`` into ``url`` (this process, plus its background reader); the numbers of one run."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from matcher import get_engine, import_file
    from matcher.models import Activity, MoneyFact

    engine = get_engine(url)
    cpu0 = _cpu_seconds(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        reader_stats = Path(tempfile.mkdtemp(prefix="bench-iati-prof-")) / "reader.prof"
        _profiled_reader(reader_stats)
        prof = cProfile.Profile()
        summary = prof.runcall(import_file, engine, file, kind="iati")
        print("=== writing process (loads, builds records, writes) ===", file=sys.stderr)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        if reader_stats.exists():
            print("=== background reader process (parses the XML) ===", file=sys.stderr)
            pstats.Stats(str(reader_stats), stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        summary = import_file(engine, file, kind="iati")
    elapsed = time.perf_counter() - t0
    cpu_writer = _cpu_seconds(resource.RUSAGE_SELF) - cpu0
    cpu_reader = _cpu_seconds(resource.RUSAGE_CHILDREN)  # the reader process, joined by now
    with Session(engine) as s:
        acts = s.execute(select(func.count()).select_from(Activity)).one()[0]
        children = s.execute(select(func.count()).select_from(Activity).where(Activity.is_child.is_(True))).one()[0]  # type: ignore[attr-defined]
        facts = s.execute(select(func.count()).select_from(MoneyFact)).one()[0]
    return {"ok": summary.ok, "error": summary.error, "read": summary.read, "inserted": summary.inserted,
            "skipped": summary.skipped, "problems": summary.problems_total, "activities_stored": acts,
            "children_flagged": children, "money_facts": facts, "seconds": elapsed,
            "cpu_writer_s": cpu_writer, "cpu_reader_s": cpu_reader, "peak_rss_mb": peak_rss_mb()}


def run_once(big: Path, url: str, profile: bool) -> Optional[dict]:
    """One ingest in a fresh child process (so that its peak RSS is the ingest's alone)."""
    cmd = [sys.executable, __file__, "--ingest-only", str(big), url] + (["--profile"] if profile else [])
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        print(run.stdout, run.stderr, file=sys.stderr)
        return None
    if profile:
        print(run.stderr)
    r = json.loads(run.stdout.strip().splitlines()[-1])
    if not r["ok"]:
        print(f"FAILED: {r['error']}", file=sys.stderr)
        return None
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/iati/activities")
    ap.add_argument("--activities", type=int, default=50000)
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in the temp dir)")
    ap.add_argument("--runs", type=int, default=1, help="ingest the built file this many times (fresh database each)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of both processes of the ingest")
    ap.add_argument("--ingest-only", nargs=2, metavar=("FILE", "URL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ingest_only:
        print(json.dumps(ingest(Path(args.ingest_only[0]), args.ingest_only[1], args.profile)))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-iati-"))
    big = tmp / "iati_bench.xml"
    t0 = time.perf_counter()
    size = build(big, args.activities, args.data)
    print(f"built {big}: {args.activities:,} activities, {size / 1e6:,.0f} MB in {time.perf_counter() - t0:.0f} s")
    print(f"load average before the runs: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores; above ~0.5 the machine is shared)")
    runs = []
    for i in range(args.runs):
        url = args.db or f"sqlite:///{tmp / f'bench{i}.db'}"
        r = run_once(big, url, args.profile)
        if not args.db:
            (tmp / f"bench{i}.db").unlink(missing_ok=True)  # ~12 KB per activity
        if r is None:
            return 1
        runs.append(r)
        rate = r["read"] / r["seconds"]
        busier = max(r["cpu_writer_s"], r["cpu_reader_s"])
        print(f"run {i + 1}: {r['seconds']:.1f} s -> {rate:,.0f} activities/s ({size / 1e6 / r['seconds']:.1f} MB/s); "
              f"CPU writer {r['cpu_writer_s']:.1f} s, reader {r['cpu_reader_s']:.1f} s "
              f"(busier process alone: {r['read'] / busier:,.0f} activities per CPU-second); "
              f"peak RSS {r['peak_rss_mb']:.0f} MB; load average {os.getloadavg()[0]:.1f}")
        if args.db:
            break  # a given database is not emptied between runs
    r = runs[0]
    rates = sorted(x["read"] / x["seconds"] for x in runs)
    print(f"backend: {(args.db or 'sqlite').split(':', 1)[0]}")
    print(f"activities read {r['read']:,}, stored {r['activities_stored']:,} ({r['children_flagged']:,} flagged as children), "
          f"money facts {r['money_facts']:,}, problems {r['problems']:,}")
    print(f"ingest: best {rates[-1]:,.0f} activities/s, median {statistics.median(rates):,.0f} over {len(rates)} run(s); "
          f"peak RSS at most {max(x['peak_rss_mb'] for x in runs):.0f} MB")
    ok = (all(x["read"] == x["activities_stored"] == args.activities for x in runs) and rates[-1] >= 2000
          and max(x["peak_rss_mb"] for x in runs) <= 400)
    big.unlink()
    print("goal (>= 2,000 activities/s, <= 400 MB): " + ("MET" if ok else "NOT MET"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
