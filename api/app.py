"""The FastAPI application: read, review, import, export and the web page (issue #6).

``create_app(engine)`` builds it; ``upr-align serve`` runs it with uvicorn.  OpenAPI at /docs.
Errors never leak a stack trace: an unexpected one is logged and answered with a plain 500.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from matcher.settings import get_settings

from .routers import analysis, classify, exports, imports, items, keys, links
from .schemas import ERRORS
from . import web

log = logging.getLogger("upr_align.api")
STATIC = Path(__file__).parent / "static"


def _offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from the assets vendored in the fastapi-offline package: no CDN, so the
    try-it page works on a laptop without internet (FastAPI's defaults load them from cdn.jsdelivr.net)."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/static-docs", StaticFiles(directory=assets), name="static-docs")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui():
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="upr-align API",
                                   swagger_js_url="/static-docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static-docs/swagger-ui.css",
                                   swagger_favicon_url="/static-docs/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc():
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title="upr-align API",
                              redoc_js_url="/static-docs/redoc.standalone.js",
                              redoc_favicon_url="/static-docs/favicon.png", with_google_fonts=False)


JSON_BODY_LIMIT = 1_000_000  # any request body not listed in body_limit()
MULTIPART_ROOM = 65_536  # per file: boundaries, part headers and the small form fields beside it


def body_limit(path: str) -> int:
    """The largest request body accepted at ``path``, in bytes (uploads: the upload settings, plus room for the
    multipart framing; POST /classify: its texts in full; the page's text form: percent-encoded)."""
    from .schemas import MAX_CHARS, MAX_TEXTS

    s = get_settings()
    path = path.rstrip("/")
    if path.endswith("/imports"):
        return (s.upload_max_bytes + MULTIPART_ROOM) * s.upload_max_files
    if path in ("/classify/file", "/classify-texts/file", "/classify/evaluate", "/classify-texts/evaluate", "/upload"):
        return s.upload_max_bytes + MULTIPART_ROOM
    if path == "/classify":
        return MAX_TEXTS * MAX_CHARS + 1_000_000
    if path == "/classify-texts":
        return 3 * 2_000_000 + 10_000
    return JSON_BODY_LIMIT


class BodyLimit:
    """Refuse a request body over ``body_limit`` with 413: at once by its Content-Length, and while it streams
    in (chunked uploads carry no length), before the framework spools it to disk."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = body_limit(scope["path"])
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            response = JSONResponse({"detail": f"request larger than {limit:,} bytes"}, status_code=413)
            return await response(scope, receive, send)
        seen = 0

        async def bounded_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # raised inside the route's body parsing: answered as a 413
                    raise HTTPException(413, f"request larger than {limit:,} bytes")
            return message

        return await self.app(scope, bounded_receive, send)


def create_app(engine: Optional[Engine] = None) -> FastAPI:
    """The app on ``engine`` (default: the store of UPR_ALIGN_DATABASE_URL, migrated)."""
    from matcher import get_engine

    s = get_settings()
    app = FastAPI(title="upr-align", version="0.1.0", docs_url=None, redoc_url=None,
                  description="UPR recommendations, Cooperation Framework items and donor activities: links with "
                  "explanations, coverage gaps and aligned funding. Read endpoints (and POST /classify, which stores "
                  "nothing) are open unless "
                  "UPR_ALIGN_API_READER_OPEN=false; review needs an editor key, imports/match/keys an admin key "
                  "(header X-API-Key).")
    app.state.engine = engine if engine is not None else get_engine()
    for router in (items.router, links.router, analysis.router, classify.router, imports.router, exports.router,
                   keys.router):
        app.include_router(router, responses=ERRORS)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _offline_docs(app)
    if s.api_cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=s.api_cors_origins, allow_methods=["GET", "POST", "PATCH"],
                           allow_headers=["X-API-Key", "Content-Type"])

    def openapi() -> dict:
        # reads are open by default: say so in the schema (an empty requirement = no key needed), so that
        # clients and schemathesis know a missing key is fine there while a wrong one is refused
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            if get_settings().api_reader_open:
                for path, path_item in doc.get("paths", {}).items():
                    for op in (path_item.get("get"), path_item.get("post") if path.startswith("/classify") else None):
                        if op and op.get("security") and {} not in op["security"]:
                            op["security"] = [{}, *op["security"]]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi

    app.add_middleware(BodyLimit)
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        # the page's own forms answer with the page (in a thread: it may look up the key cookie)
        page = await run_in_threadpool(web.form_error_page, request, errors)
        return page if page is not None else JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error: the server log has the details"}, status_code=500)

    return app
