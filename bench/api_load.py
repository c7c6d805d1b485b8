"""Load test of the HTTP API on loopback (issue #6): `upr-align serve` (one uvicorn worker) on the demo store.

    python bench/api_load.py [--db sqlite:///upr-align-demo.db] [--seconds 10] [--connections 8]
                             [--path "/gaps?country=KEN"] [--mixed]

Starts the server as a subprocess, warms it up, then keeps ``--connections`` HTTP/1.1 keep-alive
connections busy for ``--seconds`` with a small asyncio client (raw sockets: the client must cost less
than the server on a 2-core machine) and prints requests/s and latency p50 / p95 / p99.  Goal:
p50 <= 5 ms and >= 500 requests/s for /gaps?country=KEN from the materialised tables.

``--mixed`` also runs imports (POST /imports with an admin key) while reading, and checks afterwards that
every imported row is there and no request failed: concurrent imports and reads lose nothing.
The demo store is built first when missing (`upr-align demo`).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli() -> list[str]:
    beside = Path(sys.executable).with_name("upr-align")
    if beside.exists():
        return [str(beside)]
    exe = shutil.which("upr-align")
    return [exe] if exe else [sys.executable, "-m", "cli"]


async def _get(reader, writer, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def _worker(port: int, path: str, until: float, latencies: list, failures: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < until:
        t = time.perf_counter()
        status = await _get(reader, writer, path)
        latencies.append(time.perf_counter() - t)
        if status != 200:
            failures.append(status)
    writer.close()


async def _load(port: int, path: str, seconds: float, connections: int) -> tuple[list, list, float]:
    latencies: list[float] = []
    failures: list[int] = []
    start = time.perf_counter()
    await asyncio.gather(*[_worker(port, path, start + seconds, latencies, failures) for _ in range(connections)])
    return latencies, failures, time.perf_counter() - start


def _imports(base: str, key: str, n: int) -> tuple[int, list[str]]:
    import httpx

    errors, inserted = [], 0
    with httpx.Client(base_url=base, timeout=60) as c:
        for k in range(n):
            rows = "\n".join(f"Kenya,Load test {k}-{j}: train judges on the rights of the child {k} {j},accepted"
                             for j in range(50))
            r = c.post("/imports", files={"files": (f"load{k}.csv", f"state_under_review,text,response\n{rows}\n",
                                                    "text/csv")}, data={"kind": "upr"}, headers={"X-API-Key": key})
            if r.status_code != 200:
                errors.append(f"{r.status_code} {r.text[:200]}")
            else:
                inserted += r.json()[0]["inserted"]
    return inserted, errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=f"sqlite:///{ROOT / 'upr-align-demo.db'}")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--path", default="/gaps?country=KEN")
    ap.add_argument("--mixed", action="store_true", help="import files while reading; check nothing is lost")
    args = ap.parse_args()
    if args.db.startswith("sqlite:///") and not Path(args.db.removeprefix("sqlite:///")).exists():
        print("building the demo store first (upr-align demo)…", flush=True)
        subprocess.run(_cli() + ["demo", "--db", args.db], check=True, stdout=subprocess.DEVNULL)
    if args.mixed and args.db.startswith("sqlite:///"):
        # imports add rows: work on a copy so the demo store stays as the demo made it
        copy = Path(tempfile.mkdtemp()) / "load.db"
        shutil.copy(args.db.removeprefix("sqlite:///"), copy)
        args.db = f"sqlite:///{copy}"
    env = {**os.environ, "UPR_ALIGN_DATABASE_URL": args.db}
    key = None
    if args.mixed:
        key = subprocess.run(_cli() + ["keys", "create", "--role", "admin", "--name", "load test", "--db", args.db],
                             check=True, capture_output=True, text=True).stdout.strip()
    port = _free_port()
    server = subprocess.Popen(_cli() + ["serve", "--port", str(port), "--db", args.db], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    sys.exit(f"the server did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        asyncio.run(_load(port, args.path, 1.0, 2))  # warm-up: caches, first queries
        if args.mixed:
            import threading

            result: dict = {}
            t = threading.Thread(target=lambda: result.update(
                zip(("inserted", "errors"), _imports(f"http://127.0.0.1:{port}", key, 10))))
            t.start()
        latencies, failures, elapsed = asyncio.run(_load(port, args.path, args.seconds, args.connections))
        if args.mixed:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(f"{args.path}: {len(ms):,} requests in {elapsed:.1f} s over {args.connections} connections, one worker, "
          f"{args.db.split(':')[0]}")
    print(f"  {len(ms) / elapsed:,.0f} requests/s; latency p50 {q[49]:.2f} ms, p95 {q[94]:.2f} ms, p99 {q[98]:.2f} ms"
          f"; non-200 answers: {len(failures)}")
    if args.mixed:
        print(f"  concurrent imports: {result.get('inserted', 0)} rows inserted by 10 uploads of 50, "
              f"errors: {len(result.get('errors', []))} {result.get('errors', [])[:2]}")
        if result.get("errors") or result.get("inserted") != 500 or failures:
            sys.exit(1)


if __name__ == "__main__":
    main()
