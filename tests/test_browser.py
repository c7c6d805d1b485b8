"""The web page in a real headless Chromium (issue #6): Debian's /usr/bin/chromium driven by Playwright.

No browser is downloaded: the test uses the system Chromium and skips when it is absent, unless
UPR_ALIGN_REQUIRE_BROWSER=1 (as in CI), where a missing browser fails.  Screenshots go to
``test-artifacts/`` (or $UPR_ALIGN_TEST_ARTIFACTS).
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from conftest import build_kenya

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("UPR_ALIGN_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


def _browser_or_skip():
    if CHROMIUM is None or not _playwright_available():
        if os.environ.get("UPR_ALIGN_REQUIRE_BROWSER") == "1":
            pytest.fail("UPR_ALIGN_REQUIRE_BROWSER=1 but no system Chromium / playwright package was found")
        pytest.skip("no system Chromium (apt-get install chromium) or playwright package")


def _playwright_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def server(engine):
    """upr-align's app under uvicorn on a free loopback port, with the matched Kenya data and an editor key."""
    import uvicorn

    from api.app import create_app
    from matcher.keys import create_key
    from matcher.linking import match_store

    build_kenya(engine)
    match_store(engine)
    with Session(engine) as session:
        key, _ = create_key(session, "editor", "browser tester")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", key, engine
    srv.should_exit = True
    thread.join(timeout=10)


def test_overview_chart_filter_and_confirm(server):
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    from matcher.models import Link

    base, key, engine = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{base}/")
        page.get_by_role("link", name="Kenya").click()
        page.wait_for_url(f"{base}/country/KEN")
        assert "144 accepted recommendations" in page.locator("#coverage-summary").inner_text()
        # the charts render: bars with a real size on screen
        bars = page.locator("svg.chart rect.bar")
        assert bars.count() > 10
        widths = [bars.nth(i).bounding_box()["width"] for i in range(min(bars.count(), 30))]
        assert max(widths) > 20
        page.screenshot(path=str(ARTIFACTS / "country_overview.png"), full_page=True)
        rows_all = page.locator("#uncovered tbody tr").count()
        assert rows_all > 0
        # a filter changes the table
        themes = page.locator("#theme option").all_inner_texts()
        target = next(t for t in themes if t != "all themes")
        page.select_option("#theme", label=target)
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(lambda url: "theme=" in url)
        rows_theme = page.locator("#uncovered tbody tr").count()
        assert rows_theme < rows_all
        assert all(target in t for t in page.locator("#uncovered tbody tr td:nth-child(2)").all_inner_texts())
        # sorting by a column heading works from the keyboard too
        page.get_by_role("button", name="Session").focus()
        page.keyboard.press("Enter")
        page.screenshot(path=str(ARTIFACTS / "country_filtered.png"), full_page=True)
        # a recommendation with links: read the explanation, confirm with an editor key
        with Session(engine) as session:
            link = session.execute(select(Link).order_by(Link.score.desc()).limit(1)).scalar_one()
        page.goto(f"{base}/recommendation/{link.recommendation_id}")
        article = page.locator(f"#link-{link.id}")
        assert "score" in article.locator(".why").inner_text()
        article.get_by_label("Reason").fill("the programme funds exactly this measure")
        article.get_by_label("Editor key").fill(key)
        article.get_by_role("button", name="Confirm").click()
        page.wait_for_url(lambda url: "done=" in url)
        assert page.locator(f"#link-{link.id} .status").inner_text() == "confirmed"
        page.screenshot(path=str(ARTIFACTS / "recommendation_confirmed.png"), full_page=True)
        # the API's try-it page renders from vendored assets: any request off this server is blocked
        offsite: list[str] = []
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                   else (offsite.append(route.request.url), route.abort()))
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=15000)
        assert page.locator(".opblock").count() > 10 and not offsite
        page.screenshot(path=str(ARTIFACTS / "api_docs.png"))
        browser.close()
    with Session(engine) as session:
        stored = session.get(Link, link.id)
        assert stored.status == "confirmed" and stored.reviewer == "browser tester"
        assert stored.review_reason == "the programme funds exactly this measure"
