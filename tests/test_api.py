"""HTTP API (issue #6): reads, review with keys and roles, uploads with limits, exports, errors — both backends."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session

from matcher import settings as settings_mod
from matcher.keys import create_key
from matcher.linking import match_store

DATA = Path(__file__).parent / "data"


@pytest.fixture
def client(kenya):
    from api.app import create_app

    match_store(kenya)
    with Session(kenya) as session:
        keys = {role: create_key(session, role, f"{role} tester")[0] for role in ("reader", "editor", "admin")}
    c = TestClient(create_app(kenya), raise_server_exceptions=False)
    c.keys = keys
    return c


def test_read_endpoints_answer_data_and_count(client):
    r = client.get("/recommendations", params={"country": "Kenya", "response": "accepted", "limit": 5})
    body = r.json()
    assert r.status_code == 200 and body["count"] == 144 and len(body["data"]) == 5
    page2 = client.get("/recommendations", params={"country": "KEN", "response": "accepted", "limit": 5, "offset": 5}).json()
    assert {d["id"] for d in page2["data"]}.isdisjoint(d["id"] for d in body["data"])
    assert client.get("/recommendations", params={"country": "KEN", "sdg": "5"}).json()["count"] > 0
    assert client.get("/recommendations", params={"country": "KEN", "theme": "justice", "cycle": 1}).json()["count"] > 0
    assert client.get("/cf-items", params={"country": "KEN"}).json()["count"] > 0
    assert client.get("/activities", params={"country": "KEN"}).json()["count"] == 11
    gaps = client.get("/gaps", params={"country": "KEN", "by": "goal"}).json()
    assert gaps["summary"]["recommendations"] == 144 and gaps["count"] == len(gaps["data"]) > 0
    funding = client.get("/funding", params={"country": "KEN", "by": "all", "usd": True}).json()
    assert funding["count"] > 0 and all(r["currency"] == "USD" for r in funding["data"])
    links = client.get("/links", params={"country": "KEN", "limit": 3}).json()
    assert links["count"] > 0 and all(l["explanation"] for l in links["data"])
    rec_id = links["data"][0]["recommendation_id"]
    detail = client.get(f"/recommendations/{rec_id}").json()
    assert detail["links"] and detail["predicted"] and detail["coverage"] in ("cf", "donor", "both")
    assert client.get("/taxonomy/targets").json()["count"] == 169
    assert client.get("/taxonomy/themes").json()["count"] >= 54
    assert client.get("/stats").json()["recommendations"]["total"] == 166


def test_docs_need_no_cdn(client):
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200 and "/static-docs/" in page.text
        assert "cdn." not in page.text and "fonts.googleapis" not in page.text
    assert client.get("/static-docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static-docs/redoc.standalone.js").status_code == 200
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")


def test_bad_requests_are_4xx_with_a_message(client):
    r = client.get("/recommendations", params={"country": "Atlantis"})
    assert r.status_code == 422 and "Atlantis" in r.text
    assert client.get("/gaps", params={"country": "KEN", "by": "colour"}).status_code == 422
    assert client.get("/recommendations/nope").status_code == 404
    assert client.get("/links/999999").status_code == 404
    assert client.get("/taxonomy/planets").status_code == 422
    assert client.get("/funding", params={"country": "KEN", "kind": "gift"}).status_code == 422


def test_review_needs_an_editor_key_and_persists(client):
    link = client.get("/links", params={"limit": 1}).json()["data"][0]
    url = f"/links/{link['id']}"
    assert client.patch(url, json={"decision": "confirmed"}).status_code == 401
    assert client.patch(url, json={"decision": "confirmed"}, headers={"X-API-Key": "upr_wrong"}).status_code == 401
    assert client.patch(url, json={"decision": "confirmed"},
                        headers={"X-API-Key": client.keys["reader"]}).status_code == 403
    r = client.patch(url, json={"decision": "rejected", "reason": "other measure"},
                     headers={"X-API-Key": client.keys["editor"]})
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reviewer"] == "editor tester"
    assert client.get(url).json()["status"] == "rejected"
    assert client.patch(url, json={"decision": "maybe"}, headers={"X-API-Key": client.keys["editor"]}).status_code == 422
    # admin may do what an editor may
    assert client.patch(url, json={"decision": "confirmed"}, headers={"X-API-Key": client.keys["admin"]}).status_code == 200


def test_match_and_keys_need_admin(client):
    assert client.post("/match").status_code == 401
    assert client.post("/match", headers={"X-API-Key": client.keys["editor"]}).status_code == 403
    r = client.post("/match", params={"country": "KEN"}, headers={"X-API-Key": client.keys["admin"]})
    assert r.status_code == 200 and r.json()["countries"] == 1
    admin = {"X-API-Key": client.keys["admin"]}
    new = client.post("/keys", json={"role": "editor", "name": "ann"}, headers=admin).json()
    assert new["key"].startswith("upr_") and "key_hash" not in new
    listed = client.get("/keys", headers=admin).json()
    assert all("key" not in k and "key_hash" not in k for k in listed)
    assert client.delete(f"/keys/{new['id']}", headers=admin).json()["revoked_at"]
    link = client.get("/links", params={"limit": 1}).json()["data"][0]
    assert client.patch(f"/links/{link['id']}", json={"decision": "confirmed"},
                        headers={"X-API-Key": new["key"]}).status_code == 401


def test_reader_key_required_when_not_open(client, monkeypatch):
    monkeypatch.setenv("UPR_ALIGN_API_READER_OPEN", "false")
    settings_mod.get_settings.cache_clear()
    try:
        assert client.get("/stats").status_code == 401
        assert client.get("/stats", headers={"X-API-Key": client.keys["reader"]}).status_code == 200
    finally:
        monkeypatch.delenv("UPR_ALIGN_API_READER_OPEN")
        settings_mod.get_settings.cache_clear()


def test_upload_imports_and_is_bounded(client, monkeypatch):
    admin = {"X-API-Key": client.keys["admin"]}
    csv = b"state_under_review,text,response\nKenya,Adopt a law against torture,accepted\n"
    files = {"files": ("recs.csv", csv, "text/csv")}
    assert client.post("/imports", files=files, data={"kind": "upr"}).status_code == 401
    assert client.post("/imports", files=files, data={"kind": "upr"},
                       headers={"X-API-Key": client.keys["editor"]}).status_code == 403
    r = client.post("/imports", files=files, data={"kind": "upr"}, headers=admin)
    assert r.status_code == 200 and r.json()[0]["inserted"] == 1
    # a file of another family, and bytes nobody reads: 415 with the reason, nothing written
    before = client.get("/stats").json()
    iati = (DATA / "iati_official_example_v203.xml").read_bytes()
    r = client.post("/imports", files={"files": ("a.xml", iati, "text/xml")}, data={"kind": "upr"}, headers=admin)
    assert r.status_code == 415 and "iati" in r.text.lower()
    r = client.post("/imports", files={"files": ("x.bin", b"\x00\x01garbage", "application/octet-stream")},
                    data={"kind": "cf"}, headers=admin)
    assert r.status_code == 415
    # XML entity attacks are refused as the CLI refuses them
    for bad in ("iati_billion_laughs.xml", "iati_xxe.xml"):
        r = client.post("/imports", files={"files": (bad, (DATA / bad).read_bytes(), "text/xml")},
                        data={"kind": "iati"}, headers=admin)
        assert r.status_code in (415, 422) and "Traceback" not in r.text
    assert client.get("/stats").json() == before
    # size and count limits
    monkeypatch.setenv("UPR_ALIGN_UPLOAD_MAX_BYTES", "100")
    monkeypatch.setenv("UPR_ALIGN_UPLOAD_MAX_FILES", "1")
    settings_mod.get_settings.cache_clear()
    try:
        big = {"files": ("big.csv", csv + b"x" * 200, "text/csv")}
        assert client.post("/imports", files=big, data={"kind": "upr"}, headers=admin).status_code == 413
        two = [("files", ("a.csv", csv, "text/csv")), ("files", ("b.csv", csv, "text/csv"))]
        assert client.post("/imports", files=two, data={"kind": "upr"}, headers=admin).status_code == 413
    finally:
        monkeypatch.delenv("UPR_ALIGN_UPLOAD_MAX_BYTES")
        monkeypatch.delenv("UPR_ALIGN_UPLOAD_MAX_FILES")
        settings_mod.get_settings.cache_clear()


def test_large_upload_becomes_a_job(client, monkeypatch):
    import time

    monkeypatch.setenv("UPR_ALIGN_UPLOAD_BACKGROUND_BYTES", "10")
    settings_mod.get_settings.cache_clear()
    try:
        csv = b"state_under_review,text,response\nKenya,Ratify the Optional Protocol to the Convention against Torture,noted\n"
        r = client.post("/imports", files={"files": ("job.csv", csv, "text/csv")}, data={"kind": "upr"},
                        headers={"X-API-Key": client.keys["admin"]})
        assert r.status_code == 202
        job_id = r.json()[0]["id"]
        for _ in range(100):
            job = client.get(f"/imports/{job_id}").json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["status"] == "done" and job["summary"]["inserted"] == 1
    finally:
        monkeypatch.delenv("UPR_ALIGN_UPLOAD_BACKGROUND_BYTES")
        settings_mod.get_settings.cache_clear()


def test_exports_are_formula_safe(client):
    csv = b"state_under_review,text,response\nKenya,\"=HYPERLINK(\"\"http://x\"\",\"\"click\"\") torture law\",accepted\n"
    client.post("/imports", files={"files": ("evil.csv", csv, "text/csv")}, data={"kind": "upr"},
                headers={"X-API-Key": client.keys["admin"]})
    client.post("/match", headers={"X-API-Key": client.keys["admin"]})
    r = client.get("/exports/gaps.csv", params={"country": "KEN"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    from matcher.report import GAP_COLUMNS

    assert r.text.lstrip("\ufeff").splitlines()[0].split(",") == GAP_COLUMNS  # the CLI's file columns
    r = client.get("/exports/gaps.xlsx", params={"country": "KEN", "by": "goal"})
    wb = load_workbook(io.BytesIO(r.content))
    assert wb.active.max_row > 1
    r = client.get("/exports/funding.xlsx", params={"country": "KEN", "measure": "touching"})
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[1]][:3] == ["country", "dimension", "measure"]
    for fmt in ("csv", "xlsx"):
        assert client.get(f"/exports/funding.{fmt}", params={"country": "KEN"}).status_code == 200
    assert client.get("/exports/gaps.pdf", params={"country": "KEN"}).status_code == 404
    # the text that starts with '=' never reaches a cell as a formula
    rec = client.get("/recommendations", params={"q": "hyperlink"}).json()["data"][0]
    assert rec["text"].startswith("=")
    from matcher.exports import safe_cell
    assert safe_cell(rec["text"]).startswith("'=")


def test_errors_never_leak_a_traceback(client, monkeypatch):
    from matcher import coverage

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(coverage, "summary", boom)
    r = client.get("/gaps", params={"country": "KEN"})
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text


def test_cors_is_off_by_default_and_configurable(kenya, monkeypatch):
    from api.app import create_app

    c = TestClient(create_app(kenya))
    r = c.get("/stats", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    monkeypatch.setenv("UPR_ALIGN_API_CORS_ORIGINS", '["https://ok.example"]')
    settings_mod.get_settings.cache_clear()
    try:
        c = TestClient(create_app(kenya))
        r = c.get("/stats", headers={"Origin": "https://ok.example"})
        assert r.headers["access-control-allow-origin"] == "https://ok.example"
    finally:
        monkeypatch.delenv("UPR_ALIGN_API_CORS_ORIGINS")
        settings_mod.get_settings.cache_clear()


def test_web_pages_render(client):
    assert "Kenya" in client.get("/").text
    page = client.get("/country/KEN").text
    assert "<svg" in page and "Uncovered accepted recommendations" in page
    narrowed = client.get("/country/KEN", params={"theme": "death-penalty"}).text
    assert narrowed.count("<tr>") < page.count("<tr>")
    link = client.get("/links", params={"limit": 1}).json()["data"][0]
    rec_page = client.get(f"/recommendation/{link['recommendation_id']}").text
    assert link["explanation"].split(";")[0][:20] in rec_page.replace("&#39;", "'")
    # a confirm through the page's form needs an editor key
    r = client.post(f"/recommendation/{link['recommendation_id']}/review",
                    data={"link_id": link["id"], "decision": "confirmed", "api_key": client.keys["reader"]},
                    follow_redirects=False)
    assert r.status_code == 303 and "error" in r.headers["location"]
    r = client.post(f"/recommendation/{link['recommendation_id']}/review",
                    data={"link_id": link["id"], "decision": "confirmed", "api_key": client.keys["editor"]},
                    follow_redirects=False)
    assert r.status_code == 303 and "confirmed" in r.headers["location"]
    assert client.get(f"/links/{link['id']}").json()["status"] == "confirmed"
    assert client.get("/upload").status_code == 200
    # an upload through the page, with "update links" ticked: the new recommendation is matched at once
    csv = ("state_under_review,text,response\nKenya,Adopt legislation criminalising female genital mutilation "
           "and protect girls at risk,accepted\n").encode()
    r = client.post("/upload", files={"file": ("fgm.csv", csv, "text/csv")},
                    data={"kind": "upr", "api_key": client.keys["admin"], "match": "true"})
    assert r.status_code == 200 and "inserted 1" in r.text and "gaps and funding are up to date" in r.text
    fgm = client.get("/recommendations", params={"country": "KEN", "q": "female genital mutilation"}).json()
    assert fgm["count"] >= 1
    assert client.get("/gaps", params={"country": "KEN"}).json()["summary"]["recommendations"] == 145
    r = client.post("/upload", files={"file": ("fgm.csv", csv, "text/csv")},
                    data={"kind": "upr", "api_key": client.keys["admin"]})
    assert r.status_code == 200 and "unchanged 1" in r.text and "not updated yet" in r.text
