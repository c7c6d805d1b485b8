"""Ingest one large IATI file (real activities replicated with fresh ids) into a fresh store; report speed and memory.

    python bench/ingest_iati.py [--data ../shared/data/iati/activities] [--activities 50000] [--db URL] [--profile]

The file is built in a temp dir from every 2.0x activity of the real files (``--data`` and its
``by_country/``), each copy with a fresh ``iati-identifier`` (and its parent/child references moved
along, so hierarchies stay inside a copy).  The ingest runs in a child process, so its peak RSS
(``resource.getrusage``) measures the reader and loader only, not the building of the file.
Goal (issue #3): >= 2,000 activities/s on 2 cores into SQLite, peak RSS <= 400 MB whatever the size.
"""
from __future__ import annotations

from _rss import peak_rss_mb  # noqa: E402  (bench/ is the script folder)
import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def ingest(file: Path, url: str, profile: bool) -> dict:
    """Ingest ``file`` into ``url`` (this process); the numbers of one run."""
    from sqlalchemy import func, select
    from sqlmodel import Session

    from matcher import get_engine, import_file
    from matcher.models import Activity, MoneyFact

    engine = get_engine(url)
    t0 = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        summary = prof.runcall(import_file, engine, file, kind="iati")
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    else:
        summary = import_file(engine, file, kind="iati")
    elapsed = time.perf_counter() - t0
    with Session(engine) as s:
        acts = s.execute(select(func.count()).select_from(Activity)).one()[0]
        children = s.execute(select(func.count()).select_from(Activity).where(Activity.is_child.is_(True))).one()[0]  # type: ignore[attr-defined]
        facts = s.execute(select(func.count()).select_from(MoneyFact)).one()[0]
    return {"ok": summary.ok, "error": summary.error, "read": summary.read, "inserted": summary.inserted,
            "skipped": summary.skipped, "problems": summary.problems_total, "activities_stored": acts,
            "children_flagged": children, "money_facts": facts, "seconds": elapsed,
            "peak_rss_mb": peak_rss_mb()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/iati/activities")
    ap.add_argument("--activities", type=int, default=50000)
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in the temp dir)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the ingest to stderr")
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
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    cmd = [sys.executable, __file__, "--ingest-only", str(big), url] + (["--profile"] if args.profile else [])
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        print(run.stdout, run.stderr, file=sys.stderr)
        return 1
    if args.profile:
        print(run.stderr)
    r = json.loads(run.stdout.strip().splitlines()[-1])
    if not r["ok"]:
        print(f"FAILED: {r['error']}", file=sys.stderr)
        return 1
    rate = r["read"] / r["seconds"]
    print(f"backend: {url.split(':', 1)[0]}")
    print(f"activities read {r['read']:,}, stored {r['activities_stored']:,} ({r['children_flagged']:,} flagged as children), "
          f"money facts {r['money_facts']:,}, problems {r['problems']:,}")
    print(f"ingest: {r['seconds']:.1f} s -> {rate:,.0f} activities/s ({size / 1e6 / r['seconds']:.1f} MB/s); "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")
    ok = r["read"] == r["activities_stored"] == args.activities and rate >= 2000 and r["peak_rss_mb"] <= 400
    print("goal (>= 2,000 activities/s, <= 400 MB): " + ("MET" if ok else "NOT MET"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
