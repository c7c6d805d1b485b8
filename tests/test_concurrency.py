"""Concurrent imports and reads (issue #6): no lost data, no errors, on SQLite (WAL) and PostgreSQL."""
from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlmodel import Session

from matcher.keys import create_key


def test_concurrent_imports_and_reads_lose_nothing(engine, tmp_path):
    from api.app import create_app

    with Session(engine) as session:
        admin, _ = create_key(session, "admin", "loader")
    app = create_app(engine)
    files = []
    for k in range(6):
        rows = "\n".join(f"Kenya,Measure {k}-{j}: strengthen the national human rights institution {k} {j},accepted"
                         for j in range(40))
        files.append((f"batch{k}.csv", ("state_under_review,text,response\n" + rows + "\n").encode()))
    errors: list[str] = []
    done = threading.Event()

    def importer(part):
        c = TestClient(app)
        for name, data in part:
            r = c.post("/imports", files={"files": (name, data, "text/csv")}, data={"kind": "upr"},
                       headers={"X-API-Key": admin})
            if r.status_code != 200 or r.json()[0]["inserted"] != 40:
                errors.append(f"{name}: {r.status_code} {r.text[:200]}")

    def reader():
        c = TestClient(app)
        last = 0
        while not done.is_set():
            r = c.get("/recommendations", params={"country": "KEN", "limit": 5})
            if r.status_code != 200:
                errors.append(f"read: {r.status_code} {r.text[:200]}")
                return
            count = r.json()["count"]
            if count < last or count % 40:  # a reader sees whole files only, never fewer than before
                errors.append(f"read saw {count} after {last}")
            last = count

    importers = [threading.Thread(target=importer, args=(files[i::2],)) for i in range(2)]
    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers + importers:
        t.start()
    for t in importers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert not errors, errors[:5]
    assert TestClient(app).get("/stats").json()["recommendations"]["total"] == 240
