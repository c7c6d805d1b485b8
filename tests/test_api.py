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
    # integers past what the database holds (schemathesis found a 500: SQLite's OverflowError)
    for params in ({"cycle": 10**20}, {"cycle": 0}, {"country": "KEN", "offset": 10**20}):
        path = "/disagreements" if "offset" in params else "/recommendations"
        assert client.get(path, params=params).status_code == 422, params


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

    assert r.text.startswith("\ufeff")  # a UTF-8 byte-order mark, so that Excel reads the accents right
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


def test_page_forms_sent_incomplete_answer_with_the_page(client, monkeypatch):
    from matcher import settings as settings_mod

    csv = b"text\nEliminate female genital mutilation\n"
    # the classify page's three forms: the page again, saying which field is missing (not the API's JSON)
    r = client.post("/classify-texts/evaluate", files={"file": ("mine.csv", csv, "text/csv")},
                    data={"text_column": "text"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "the label column: missing" in r.text and "Check the classifier" in r.text
    r = client.post("/classify-texts/file", data={"text_column": "text"})
    assert r.status_code == 422 and "the file: missing" in r.text and "<form" in r.text
    r = client.post("/classify-texts", data={"texts": "a text", "max_goals": "99"})
    assert r.status_code == 422 and "one SDG goal per text: Input should be less than or equal to 17" in r.text
    r = client.post("/upload", files={"file": ("fgm.csv", csv, "text/csv")}, data={"kind": "poems"})
    assert r.status_code == 422 and "the kind of file: String should match" in r.text and "the key: missing" in r.text
    link = client.get("/links", params={"limit": 1}).json()["data"][0]
    r = client.post(f"/recommendation/{link['recommendation_id']}/review", data={"link_id": link["id"]},
                    follow_redirects=False)
    assert r.status_code == 303 and "the%20decision%3A%20missing" in r.headers["location"]
    # the API keeps its JSON
    r = client.post("/classify/evaluate", files={"file": ("mine.csv", csv, "text/csv")}, data={"text_column": "text"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "label_column"
    # with reads closed, no page for a caller without the key cookie
    monkeypatch.setenv("UPR_ALIGN_API_READER_OPEN", "false")
    settings_mod.get_settings.cache_clear()
    try:
        for path, data in (("/classify-texts", {"texts": "a text", "max_goals": "99"}), ("/upload", {"kind": "x"})):
            r = client.post(path, data=data)
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/json")
    finally:
        monkeypatch.delenv("UPR_ALIGN_API_READER_OPEN")
        settings_mod.get_settings.cache_clear()


def test_classify_texts_with_evidence(client, monkeypatch):
    texts = ["Take effective measures to combat trafficking in persons, in particular women and children",
             "Eliminate female genital mutilation", ""]
    r = client.post("/classify", json={"texts": texts})
    assert r.status_code == 200
    body = r.json()
    assert body["model_version"] and [x["index"] for x in body["results"]] == [0, 1, 2]
    traffic, fgm, empty = body["results"]
    assert {"5.2", "8.7", "16.2"} <= set(traffic["sdg_targets"]) and "15.7" not in traffic["sdg_targets"]
    assert "trafficking" in traffic["themes"]
    assert "5.3" in fgm["sdg_targets"] and "5.2" not in fgm["sdg_targets"]
    assert empty["labels"] == [] and empty["sdg_goals"] == []
    for lab in traffic["labels"] + fgm["labels"]:  # every label carries its evidence
        assert lab["evidence"] and all(e["method"] in {"lexicon", "model", "crosswalk", "implied", "declared"}
                                       for e in lab["evidence"])
    phrases = [p["text"] for lab in fgm["labels"] for e in lab["evidence"] for p in e["detail"].get("phrases", [])]
    assert any("genital mutilation" in p.lower() for p in phrases)
    # the same labels as the CLI's classifier
    from matcher.classify import classify_texts

    assert [lab.code for lab in classify_texts(texts[:1])[0].labels] == [lab["code"] for lab in traffic["labels"]]
    assert len(traffic["sdg_goals"]) == 3  # 5, 8 and 16: with max_goals=1 only one of them
    one = client.post("/classify", json={"texts": texts[:1], "max_goals": 1}).json()["results"][0]
    assert len(one["sdg_goals"]) == 1 and set(one["sdg_goals"]) < set(traffic["sdg_goals"])
    # bounded: no texts, too many, too long
    from api.schemas import MAX_CHARS, MAX_TEXTS

    assert client.post("/classify", json={"texts": []}).status_code == 422
    assert client.post("/classify", json={"texts": ["a"] * (MAX_TEXTS + 1)}).status_code == 422
    r = client.post("/classify", json={"texts": ["ok", "x" * (MAX_CHARS + 1)]})
    assert r.status_code == 422 and "text 1" in r.text
    # reads closed: a reader key is needed
    monkeypatch.setenv("UPR_ALIGN_API_READER_OPEN", "false")
    settings_mod.get_settings.cache_clear()
    try:
        assert client.post("/classify", json={"texts": ["water"]}).status_code == 401
        assert client.post("/classify", json={"texts": ["water"]},
                           headers={"X-API-Key": client.keys["reader"]}).status_code == 200
    finally:
        monkeypatch.delenv("UPR_ALIGN_API_READER_OPEN")
        settings_mod.get_settings.cache_clear()


def test_classify_file_upload(client, monkeypatch):
    csv = ("id,text\n1,Ensure access to safe drinking water and sanitation in rural areas\n"
           "2,\"=HYPERLINK(\"\"http://x\"\",\"\"click\"\")\"\n3,\n").encode("utf-8")
    r = client.post("/classify/file", files={"file": ("recs.csv", csv, "text/csv")}, data={"text_column": "text"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="recs_classified.csv"' in r.headers["content-disposition"]
    import csv as csv_mod

    rows = list(csv_mod.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [row["id"] for row in rows] == ["1", "2", "3"]
    assert rows[0]["sdg_goals"] == "6" and "6." in rows[0]["sdg_targets"] and rows[0]["evidence"].startswith("{")
    assert rows[1]["text"].startswith("'=")  # formula neutralised
    assert rows[2]["sdg_goals"] == "" and rows[2]["evidence"] == "{}"  # an empty text: no label
    r = client.post("/classify/file", files={"file": ("recs.csv", csv, "text/csv")},
                    data={"text_column": "text", "format": "xlsx"})
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[1]] == ["id", "text", "sdg_goals", "sdg_targets", "themes", "sdg_scores", "evidence"]
    assert ws.cell(2, 3).value == "6"
    traffic = b"text\nTake effective measures to combat trafficking in persons, in particular women and children\n"
    r = client.post("/classify/file", files={"file": ("t.csv", traffic, "text/csv")},
                    data={"text_column": "text", "max_goals": "1"})
    assert r.status_code == 200 and len(list(csv_mod.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))[0]
                                        ["sdg_goals"].split(";")) == 1
    # bad input: missing column (named), not a table, too large
    r = client.post("/classify/file", files={"file": ("recs.csv", csv, "text/csv")}, data={"text_column": "txt"})
    assert r.status_code == 422 and "'txt'" in r.text and "'text'" in r.text
    r = client.post("/classify/file", files={"file": ("a.xml", b"<a/>", "text/xml")}, data={"text_column": "text"})
    assert r.status_code == 415
    monkeypatch.setenv("UPR_ALIGN_UPLOAD_MAX_BYTES", "50")
    settings_mod.get_settings.cache_clear()
    try:
        r = client.post("/classify/file", files={"file": ("recs.csv", csv, "text/csv")}, data={"text_column": "text"})
        assert r.status_code == 413
    finally:
        monkeypatch.delenv("UPR_ALIGN_UPLOAD_MAX_BYTES")
        settings_mod.get_settings.cache_clear()


def test_classify_page(client, monkeypatch):
    page = client.get("/classify-texts")
    assert page.status_code == 200 and 'action="/classify-texts/file"' in page.text and "Classify texts" in page.text
    r = client.post("/classify-texts", data={"texts": "Eliminate female genital mutilation\n\n<b>Ensure safe water</b>\n"})
    assert r.status_code == 200
    assert "Labels of text 1" in r.text and "Labels of text 2" in r.text and "Labels of text 3" not in r.text
    assert "5.3" in r.text and "genital mutilation" in r.text and "lexicon" in r.text
    assert "&lt;b&gt;Ensure safe water" in r.text and "<b>Ensure" not in r.text  # texts are escaped
    assert "crosswalk 0.00" not in r.text  # no evidence of weight 0
    from api.schemas import MAX_TEXTS

    r = client.post("/classify-texts", data={"texts": "water\n" * (MAX_TEXTS + 1)})
    assert r.status_code == 422 and "at most" in r.text
    monkeypatch.setenv("UPR_ALIGN_API_READER_OPEN", "false")
    settings_mod.get_settings.cache_clear()
    try:
        assert client.get("/classify-texts").status_code == 401
    finally:
        monkeypatch.delenv("UPR_ALIGN_API_READER_OPEN")
        settings_mod.get_settings.cache_clear()


def test_declared_and_predicted_goals_page(client, tmp_path):
    assert "/country/KEN/goals" in client.get("/country/KEN").text
    page = client.get("/country/KEN/goals")  # Kenya's recommendations declare no goals: predictions only
    assert page.status_code == 200 and "none with declared goals" in page.text and "<svg" in page.text
    assert "No item with declared goals gets other goals" in page.text
    # a recommendation whose declared goal its text does not support (15 on a torture text) is listed
    from matcher import import_file

    src = tmp_path / "tagged.csv"
    src.write_text("state_under_review,text,response,sdg_goals\nKenya,Adopt a law criminalising torture and "
                   "investigate all allegations of torture by the police,accepted,15\n", encoding="utf-8")
    assert import_file(client.app.state.engine, src, kind="upr").ok
    tagged = client.get("/country/KEN/goals")
    assert "1 items whose source declared SDG goals" in tagged.text and "none with declared" not in tagged.text
    assert "1 items whose declared goals differ" in tagged.text and "criminalising torture" in tagged.text
    row = tagged.text[tagged.text.index("criminalising torture"):].split("</tr>")[0]
    assert "<td>15</td>" in row and "16" in row  # declared 15, predicted 16 (justice), with its evidence
    assert client.get("/country/KEN/goals", params={"item_type": "activity"}).status_code == 200
    assert client.get("/country/KEN/goals", params={"item_type": "bogus"}).status_code == 422
    assert client.get("/country/Atlantis/goals").status_code == 404
