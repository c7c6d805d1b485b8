"""The FastAPI application: read, review, import, export and the web page (issue #6).

``create_app(engine)`` builds it; ``upr-align serve`` runs it with uvicorn.  OpenAPI at /docs.
Errors never leak a stack trace: an unexpected one is logged and answered with a plain 500.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

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

    @app.middleware("http")
    async def bound_uploads(request: Request, call_next):
        # refuse an oversized upload before reading it (the per-file check in the router catches the rest)
        if request.method == "POST" and request.url.path.rstrip("/").endswith(("imports", "classify/file")):
            limit = s.upload_max_bytes * s.upload_max_files + 1_000_000
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                return JSONResponse({"detail": f"request larger than {limit:,} bytes"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error: the server log has the details"}, status_code=500)

    return app
