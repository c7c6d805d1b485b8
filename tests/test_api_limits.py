"""Classification over HTTP with odd or hostile input: body bounds (chunked too), encodings, file names, closed
reads on the page (found by a code review of the classify endpoints; each test failed before its fix)."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from matcher import settings as settings_mod


@pytest.fixture
def client(reader_client):
    """The API on an empty SQLite store (classification does not touch the store), with a reader key."""
    return reader_client


def _limit(monkeypatch, n: int) -> None:
    monkeypatch.setenv("UPR_ALIGN_UPLOAD_MAX_BYTES", str(n))
    settings_mod.get_settings.cache_clear()


def _upload(client, name, data, path="/classify/file", **form):
    return client.post(path, files={"file": (name, data, "text/csv")}, data={"text_column": "text", **form})


@pytest.mark.parametrize("data", [
    b"text\nEnsure safe water \x81 in rural areas\n",  # a byte cp1252 leaves undefined
    "text\n人身売買と戦う\n".encode("shift_jis"),
], ids=["cp1252-undefined-byte", "shift-jis"])
def test_a_file_in_an_unreadable_encoding_is_a_422_naming_it(client, data):
    r = _upload(client, "recs.csv", data)
    assert r.status_code == 422 and "recs.csv" in r.text and "UTF-8" in r.text


def test_a_file_name_outside_latin1_comes_back_named(client):
    r = _upload(client, "отчёт.csv", b"text\nEnsure access to safe drinking water\n")
    assert r.status_code == 200
    disposition = r.headers["content-disposition"]
    assert "filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82_classified.csv" in disposition
    from api.routers.classify import attachment

    assert attachment('a"b\\c.csv').startswith('attachment; filename="a_b_c.csv"; filename*=UTF-8\'\'a%22b%5Cc.csv')


def test_a_lone_surrogate_is_a_422(client):
    r = client.post("/classify", content=b'{"texts": ["ok", "combat trafficking \\ud800"]}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "text 1" in r.text


def test_the_page_spreadsheet_form_works_with_the_key_cookie_when_reads_are_closed(client, monkeypatch):
    monkeypatch.setenv("UPR_ALIGN_API_READER_OPEN", "false")
    settings_mod.get_settings.cache_clear()
    data = b"text\nEnsure access to safe drinking water\n"
    assert _upload(client, "recs.csv", data, path="/classify-texts/file").status_code == 401
    client.cookies.set("upr_align_key", client.reader)
    page = client.get("/classify-texts")
    assert page.status_code == 200 and 'action="/classify-texts/file"' in page.text
    r = _upload(client, "recs.csv", data, path="/classify-texts/file", format="csv", max_goals="1")
    assert r.status_code == 200 and r.text.lstrip("\ufeff").splitlines()[1].split(",")[1] == "6"
    r = _upload(client, "recs.csv", data, path="/classify-texts/file")  # the page's default: XLSX
    assert load_workbook(io.BytesIO(r.content)).active.cell(2, 2).value == "6"


@pytest.fixture
def spooled(monkeypatch):
    """How many bytes the framework had stored for the upload when the router's own size check ran."""
    import api.routers.classify as classify_router

    seen = {}
    original = classify_router._spool

    def spy(upload, limit, folder):
        seen["bytes"] = upload.size
        return original(upload, limit, folder)

    monkeypatch.setattr(classify_router, "_spool", spy)
    return seen


def test_a_chunked_upload_is_refused_while_it_streams(client, monkeypatch, spooled):
    _limit(monkeypatch, 1000)

    def body():  # no Content-Length
        yield (b'--B\r\nContent-Disposition: form-data; name="text_column"\r\n\r\ntext\r\n'
               b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
               b"Content-Type: text/csv\r\n\r\ntext\n")
        for _ in range(200):
            yield b"Ensure access to safe drinking water\n" * 100
        yield b"\r\n--B--\r\n"

    r = client.post("/classify/file", content=body(), headers={"content-type": "multipart/form-data; boundary=B"})
    assert r.status_code == 413 and "Traceback" not in r.text
    assert "bytes" not in spooled  # refused before the router saw it: at most the limit plus framing was read
    # the same stream to the import endpoint (admin, but the size check comes first) and to the page's form
    for path in ("/imports", "/classify-texts/file"):
        assert client.post(path, content=body(), headers={
            "content-type": "multipart/form-data; boundary=B"}).status_code in (401, 413)


def test_an_upload_over_the_limit_is_refused_by_its_length_before_it_is_read(client, monkeypatch, spooled):
    from api.app import MULTIPART_ROOM

    _limit(monkeypatch, 1000)
    r = _upload(client, "a.csv", b"text\n" + b"x" * (1000 + MULTIPART_ROOM))
    assert r.status_code == 413 and "bytes" not in spooled
    r = _upload(client, "a.csv", b"text\n" + b"x" * 2000)  # within the framing room: the router's count refuses it
    assert r.status_code == 413 and spooled["bytes"] > 1000


def test_json_and_form_bodies_are_bounded(client):
    for path, ctype in (("/classify", "application/json"), ("/classify-texts", "application/x-www-form-urlencoded"),
                        ("/keys", "application/json")):
        r = client.post(path, content=b'{"texts": ["water"]}',
                        headers={"content-type": ctype, "content-length": "1000000000"})
        assert r.status_code == 413, path


def test_xlsx_output_says_how_many_cells_were_cut(client, tmp_path):
    text = "Ensure access to safe drinking water and sanitation. " * 800  # 42,400 characters
    r = _upload(client, "a.csv", ("text\n" + text + "\nwater\n").encode(), format="xlsx")
    assert r.status_code == 200 and r.headers["x-cells-cut"] == "1"
    ws = load_workbook(io.BytesIO(r.content)).active
    assert len(ws.cell(2, 1).value) == 32767 and ws.cell(3, 1).value == "water"
    r = _upload(client, "a.csv", ("text\n" + text + "\n").encode(), format="csv")
    assert r.headers["x-cells-cut"] == "0" and text.strip() in r.text
    # the CLI says so too
    from typer.testing import CliRunner

    from cli.main import app

    src = tmp_path / "long.csv"
    src.write_text("text\n" + text + "\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["classify", str(src), "--text-column", "text", "--out", str(tmp_path / "o.xlsx")])
    assert out.exit_code == 0 and "1 cells longer than 32,767 characters were cut" in out.output


def test_goal_cap_ties_go_to_the_lower_goal_number():
    from matcher.classify import decide_goals

    assert list(decide_goals({"5": 0.5, "8": 0.5, "16": 0.5}, (0.1, 0.8, 1))) == ["5"]
    assert list(decide_goals({"16": 0.6, "5": 0.5}, (0.1, 0.8, 1))) == ["16"]


def test_xlsx_exports_say_when_a_cell_was_cut(tmp_path):
    from matcher.exports import XLSX_CELL_CHARS, to_xlsx

    long = "Adopt a comprehensive law against discrimination. " * 1000  # 50,000 characters
    to_xlsx(tmp_path / "x.xlsx", {"gaps": ([{"text": long, "n": 1}, {"text": "short", "n": 2}], ["text", "n"])})
    ws = load_workbook(tmp_path / "x.xlsx").active
    cut = ws.cell(2, 1).value
    assert len(cut) == XLSX_CELL_CHARS and cut.startswith(long[:1000]) and "cut: 50,000 characters" in cut
    assert ws.cell(3, 1).value == "short" and ws.cell(2, 2).value == 1
