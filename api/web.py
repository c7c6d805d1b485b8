"""The web page (server-rendered, Jinja2; works offline): country overview, recommendation with its links, upload."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Optional
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from matcher import coverage, funding as funding_mod
from matcher.classification_store import item_labels
from matcher.countries import to_iso3
from matcher.keys import role_allows, verify_key
from matcher.linking import list_links, review_link
from matcher.models import Activity, CFItem, Coverage, Recommendation
from matcher.queries import get_recommendation
from matcher.report import code_label
from matcher.settings import get_settings, goal_cap_settings

from .charts import PALETTE, Series, bar_chart
from .deps import SessionDep

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
KEY_COOKIE = "upr_align_key"


def _reader_gate(request: Request, session) -> None:
    """With UPR_ALIGN_API_READER_OPEN=false the pages need a key too (from the cookie set by a form)."""
    if get_settings().api_reader_open:
        return
    if verify_key(session, request.cookies.get(KEY_COOKIE)) is None:
        raise HTTPException(401, "this site needs an API key: ask an administrator")


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep):
    _reader_gate(request, session)
    rows = session.execute(select(Recommendation.state_under_review, func.count())
                           .where(Recommendation.state_under_review.is_not(None))
                           .group_by(Recommendation.state_under_review)
                           .order_by(func.count().desc())).all()
    matched = dict(session.execute(select(Coverage.country, func.count()).group_by(Coverage.country)).all())
    countries = [{"iso3": c, "name": _name(c), "recommendations": n, "matched": matched.get(c, 0)} for c, n in rows]
    return templates.TemplateResponse(request, "index.html", {"countries": countries})


def _name(iso3: str) -> str:
    import pycountry

    c = pycountry.countries.get(alpha_3=iso3)
    return getattr(c, "common_name", None) or (c.name if c else iso3)


@router.get("/country/{country}", response_class=HTMLResponse)
def country_page(request: Request, session: SessionDep, country: str, response: str = "accepted",
                 theme: Optional[str] = None, goal: Optional[str] = None):
    _reader_gate(request, session)
    iso3 = to_iso3(country)
    if iso3 is None:
        raise HTTPException(404, f"unknown country '{country}'")
    if response not in coverage.RESPONSES:
        raise HTTPException(422, f"response must be one of {', '.join(coverage.RESPONSES)}")
    summary = coverage.summary(session, iso3, response)
    by_theme = coverage.gaps(session, iso3, "theme", response)
    by_goal = coverage.gaps(session, iso3, "goal", response)
    cov = summary["coverage"]
    charts = {
        "coverage": bar_chart(f"Coverage of {response} recommendations", ["recommendations"],
                              [Series(label, [cov[k]["recommendations"]], PALETTE[k]) for k, label in
                               (("cf", "Cooperation Framework only"), ("donor", "donors only"), ("both", "both"),
                                ("none", "nothing"))], stacked=True, bar_height=28),
        "themes": _gap_chart(f"Uncovered {response} recommendations by theme (top 15)", by_theme[:15], "theme"),
        "goals": _gap_chart(f"Uncovered {response} recommendations by SDG goal", sorted(
            by_goal, key=lambda r: (len(r["code"]) > 2, int(r["code"]) if r["code"].isdigit() else 99)), "goal"),
    }
    money = funding_mod.funding(session, iso3, by="theme", usd=True, per_year=False, item_type="cf_item",
                                response=response)
    money = sorted(money, key=lambda r: -float(r.get("cf_required", 0) or 0))[:12]
    if money:
        charts["money"] = bar_chart(
            f"Cooperation Framework money attributed to {response} recommendations, by theme (USD, all years)",
            [code_label("theme", r["code"]) for r in money],
            [Series(label, [float(r.get(f"cf_{k}", 0) or 0) for r in money], PALETTE[k])
             for k, label in (("required", "required"), ("available", "available"), ("expenditure", "spent"))])
    table = _uncovered(session, iso3, response, theme, goal)
    return templates.TemplateResponse(request, "country.html", {
        "iso3": iso3, "name": _name(iso3), "response": response, "responses": coverage.RESPONSES, "summary": summary,
        "charts": charts, "by_theme": by_theme, "by_goal": by_goal, "uncovered": table, "theme": theme or "",
        "goal": goal or "", "theme_label": code_label("theme", theme) if theme else "",
        "goal_label": _goal_label(goal) if goal else "",
        "themes": sorted(((r["code"], code_label("theme", r["code"])) for r in by_theme), key=lambda t: t[1].lower()),
        "goals": [(r["code"], _goal_label(r["code"])) for r in by_goal],
        "money": money})


ITEM_TYPE_LABELS = (("recommendation", "UPR recommendations"), ("cf_item", "Cooperation Framework items"),
                    ("activity", "donor activities"))


@router.get("/country/{country}/goals", response_class=HTMLResponse)
def goals_page(request: Request, session: SessionDep, country: str, item_type: str = "recommendation"):
    """Declared SDG goals beside what the texts alone get (``upr-align goal-shares`` and ``disagreements``)."""
    from matcher.goal_shares import disagreements_of, judged_items, shares_of

    _reader_gate(request, session)
    iso3 = to_iso3(country)
    if iso3 is None:
        raise HTTPException(404, f"unknown country '{country}'")
    if item_type not in dict(ITEM_TYPE_LABELS):
        raise HTTPException(422, f"item_type must be one of {', '.join(dict(ITEM_TYPE_LABELS))}")
    judged = list(judged_items(session, item_type=item_type, country=iso3))  # one classification pass
    declared = [j for j in judged if j[2]]
    # compare on the same texts when the source declared goals; else show what the texts get
    shares = shares_of(declared or judged)
    rows = [r for r in shares["data"] if r["declared"] or r["predicted"]]
    chart = bar_chart("Share of all declared / predicted SDG goals (%)", [_goal_label(r["goal"]) for r in rows], [
        Series("declared by the source", [round(100 * r["declared_share"], 1) for r in rows], PALETTE["donor"]),
        Series("predicted from the text", [round(100 * r["predicted_share"], 1) for r in rows], PALETTE["cf"])],
        unit="%")
    found = disagreements_of(declared, item_type)
    return templates.TemplateResponse(request, "goals.html", {
        "iso3": iso3, "name": _name(iso3), "item_type": item_type, "item_types": ITEM_TYPE_LABELS, "shares": shares,
        "chart": chart, "disagreements": found, "shown": found[:100]})


def _goal_label(code: str) -> str:
    label = code_label("goal", code)
    return label if label == code or not code.isdigit() else f"{code} {label}"


def _gap_chart(title: str, rows: list[dict], dimension: str) -> str:
    labels = [_goal_label(r["code"]) if dimension == "goal" else code_label(dimension, r["code"]) for r in rows]
    return bar_chart(title, labels, [
        Series("uncovered", [r["uncovered"] for r in rows], PALETTE["none"]),
        Series("covered", [r["recommendations"] - r["uncovered"] for r in rows], PALETTE["both"])], stacked=True)


def _uncovered(session, iso3: str, response: str, theme: Optional[str], goal: Optional[str]) -> list[dict]:
    from matcher.models import RecDimension

    rows = coverage.uncovered(session, iso3, response)
    for dimension, code in (("theme", theme), ("goal", goal)):
        if code:
            ids = set(session.execute(select(RecDimension.recommendation_id).where(
                RecDimension.country == iso3, RecDimension.dimension == dimension, RecDimension.code == code)).scalars())
            rows = [r for r in rows if r["id"] in ids]
    themes: dict[str, list[str]] = {}
    for rec_id, code in session.execute(select(RecDimension.recommendation_id, RecDimension.code).where(
            RecDimension.country == iso3, RecDimension.dimension == "theme")):
        themes.setdefault(rec_id, []).append(code)
    for r in rows:
        r["themes"] = ", ".join(sorted(code_label("theme", c) for c in themes.get(r["id"], [])))
    return rows


@router.get("/recommendation/{rec_id}", response_class=HTMLResponse)
def recommendation_page(request: Request, session: SessionDep, rec_id: str, done: Optional[str] = None,
                        error: Optional[str] = None):
    _reader_gate(request, session)
    rec = get_recommendation(session, rec_id)
    if rec is None:
        raise HTTPException(404, f"no recommendation with id {rec_id}")
    links, _ = list_links(session, recommendation_id=rec_id, limit=100)
    titles = _titles(session, links)
    labels = item_labels(session, "recommendation", rec_id)
    cov = session.get(Coverage, rec_id)
    return templates.TemplateResponse(request, "recommendation.html", {
        "rec": rec, "links": links, "titles": titles, "labels": labels, "coverage": cov.covered_by if cov else None,
        "done": done, "error": error, "has_key": bool(request.cookies.get(KEY_COOKIE))})


def _titles(session, links) -> dict:
    out = {}
    for model, kind in ((CFItem, "cf_item"), (Activity, "activity")):
        ids = [l.item_id for l in links if l.item_type == kind]
        if ids:
            out.update({(kind, i): t for i, t in session.execute(select(model.id, model.title).where(model.id.in_(ids)))})
    return out


@router.post("/recommendation/{rec_id}/review")
def review_form(request: Request, session: SessionDep, rec_id: str, link_id: Annotated[int, Form()],
                decision: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
                reason: Annotated[Optional[str], Form(max_length=2000)] = None,
                api_key: Annotated[Optional[str], Form(max_length=100)] = None,
                remember: Annotated[Optional[str], Form()] = None):
    key = api_key or request.cookies.get(KEY_COOKIE)
    row = verify_key(session, key)
    if row is None or not role_allows(row.role, "editor"):
        msg = "an editor key is needed to review links" if row is None else f"a {row.role} key cannot review links"
        return RedirectResponse(f"/recommendation/{rec_id}?error={msg}", status_code=303)
    try:
        link = review_link(session, link_id, decision=decision, reviewer=row.name or f"key {row.prefix}…",
                           reason=reason or None)
    except (LookupError, ValueError) as exc:
        return RedirectResponse(f"/recommendation/{rec_id}?error={exc.args[0]}", status_code=303)
    resp = RedirectResponse(f"/recommendation/{rec_id}?done=link {link.id} {link.status}#link-{link.id}",
                            status_code=303)
    if remember and api_key:
        # a session cookie (no Max-Age): gone when the browser closes
        resp.set_cookie(KEY_COOKIE, api_key, httponly=True, samesite="strict")
    return resp


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, session: SessionDep):
    _reader_gate(request, session)
    return templates.TemplateResponse(request, "upload.html", {"result": None, "error": None})


@router.post("/upload", response_class=HTMLResponse)
def upload_form(request: Request, session: SessionDep, file: UploadFile,
                kind: Annotated[str, Form(pattern="^(upr|cf|iati|donor)$")],
                api_key: Annotated[str, Form(max_length=100)],
                match: Annotated[bool, Form()] = False):
    from matcher import import_file

    from .routers.imports import _check_type, _spool

    row = verify_key(session, api_key)
    if row is None or not role_allows(row.role, "admin"):
        return templates.TemplateResponse(request, "upload.html", {
            "result": None, "error": "an admin key is needed to import files"}, status_code=403)
    folder = Path(tempfile.mkdtemp(prefix="upr-align-upload-"))
    try:
        path = _spool(file, get_settings().upload_max_bytes, folder)
        _check_type(path, kind, None)
        summary = import_file(request.app.state.engine, path, kind=kind, background=False)
    except HTTPException as exc:
        return templates.TemplateResponse(request, "upload.html", {"result": None, "error": exc.detail},
                                          status_code=exc.status_code)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    matched = None
    if summary.ok and match:
        from matcher.linking import match_store

        # incremental: only the new or changed items' pairs are scored, then gaps and funding are rebuilt
        matched = match_store(request.app.state.engine).as_dict()
    return templates.TemplateResponse(request, "upload.html", {"result": summary.as_dict(), "error": summary.error,
                                                               "matched": matched},
                                      status_code=200 if summary.ok else 422)


@router.get("/classify-texts", response_class=HTMLResponse)
def classify_page(request: Request, session: SessionDep):
    _reader_gate(request, session)
    return _classify_response(request, "", [], None)


@router.post("/classify-texts", response_class=HTMLResponse)
def classify_form(request: Request, session: SessionDep, texts: Annotated[str, Form(max_length=2_000_000)],
                  max_goals: Annotated[Optional[int], Form(ge=0, le=17)] = None):
    """Labels with evidence for each non-empty line of the form (bounded as POST /classify is)."""
    from .schemas import MAX_CHARS, MAX_TEXTS

    _reader_gate(request, session)
    lines = [t.strip() for t in texts.splitlines() if t.strip()]
    error = None
    if len(lines) > MAX_TEXTS:
        error = f"{len(lines):,} texts: at most {MAX_TEXTS:,} at a time (or upload them as a spreadsheet below)"
    elif any(len(t) > MAX_CHARS for t in lines):
        error = f"a text is longer than {MAX_CHARS:,} characters"
    if error:
        return _classify_response(request, texts, [], error, status_code=422)
    from matcher.classify import classify_texts

    results = []
    dimension = {"sdg_goal": "goal", "sdg_target": "target", "uprinfo": "theme"}
    for text, res in zip(lines, classify_texts(lines, settings=goal_cap_settings(max_goals)) if lines else []):
        results.append({"text": text, "language": res.language, "labels": [
            {"vocabulary": lab.vocabulary, "code": lab.code, "score": lab.score,
             "name": code_label(dimension.get(lab.vocabulary, lab.vocabulary), lab.code),
             "evidence": [e.summary() for e in lab.evidence]} for lab in res.labels]})
    return _classify_response(request, texts, results, None, one_goal=max_goals == 1)


@router.post("/classify-texts/file")
def classify_file_form(request: Request, session: SessionDep, file: UploadFile,
                       text_column: Annotated[str, Form(min_length=1, max_length=500)],
                       out_format: Annotated[str, Form(alias="format", pattern="^(csv|xlsx)$")] = "xlsx",
                       max_goals: Annotated[Optional[int], Form(ge=0, le=17)] = None,
                       sheet: Annotated[Optional[str], Form(max_length=200)] = None):
    """The page's spreadsheet form: as POST /classify/file, with the page's access (the key cookie when reads are
    closed) instead of an API key header; a file that cannot be classified comes back as the page saying why."""
    from .routers.classify import _annotate

    _reader_gate(request, session)
    workbook = (file.filename or "").lower().endswith(".xlsx")  # a sheet named for an earlier workbook: not a CSV's
    try:
        return _annotate(file, text_column, out_format, goal_cap_settings(max_goals),
                         (sheet or None) if workbook else None)
    except HTTPException as exc:
        return _classify_response(request, "", [], None, status_code=exc.status_code, file_error=exc.detail,
                                  file_form={"text_column": text_column, "sheet": sheet or ""})


@router.post("/classify-texts/evaluate", response_class=HTMLResponse)
def evaluate_file_form(request: Request, session: SessionDep, file: UploadFile,
                       text_column: Annotated[str, Form(min_length=1, max_length=500)],
                       label_column: Annotated[str, Form(min_length=1, max_length=500)],
                       vocabulary: Annotated[str, Form(pattern="^(sdg|uprinfo)$")] = "sdg",
                       max_goals: Annotated[Optional[int], Form(ge=0, le=17)] = None,
                       empty_is_none: Annotated[bool, Form()] = False,
                       sheet: Annotated[Optional[str], Form(max_length=200)] = None):
    """The page's 'check against your labels' form: the scores of POST /classify/evaluate as tables on the page."""
    from matcher.file_evaluation import describe_skipped

    from .routers.classify import evaluate_labelled

    _reader_gate(request, session)
    form = {"text_column": text_column, "label_column": label_column, "sheet": sheet or "", "vocabulary": vocabulary,
            "max_goals": max_goals, "empty_is_none": empty_is_none}  # the form comes back as it was sent
    try:
        workbook = (file.filename or "").lower().endswith(".xlsx")  # a sheet named for an earlier workbook: not a CSV's
        report = evaluate_labelled(file, text_column, label_column, vocabulary, empty_is_none,
                                   goal_cap_settings(max_goals), sheet=(sheet or None) if workbook else None)
    except HTTPException as exc:
        return _classify_response(request, "", [], None, status_code=exc.status_code, evaluation_error=exc.detail,
                                  eval_form=form)
    dimension = "goal" if vocabulary == "sdg" else "theme"
    for row in next(iter(report["per_label"].values())):
        row["name"] = code_label(dimension, row["code"])
    report["skipped_text"] = describe_skipped(report, "tick “An empty label cell means no label” to read them so")
    return _classify_response(request, "", [], None, evaluation=report, eval_form=form)


EVAL_FORM = {"text_column": "text", "label_column": "sdg", "sheet": "", "vocabulary": "sdg", "max_goals": None,
             "empty_is_none": False}  # the 'check against your labels' form as first shown


def _classify_response(request: Request, texts: str, results: list, error: Optional[str], status_code: int = 200,
                       one_goal: bool = False, evaluation: Optional[dict] = None,
                       evaluation_error: Optional[str] = None, eval_form: Optional[dict] = None,
                       file_error: Optional[str] = None, file_form: Optional[dict] = None):
    from matcher.model import model_version

    from .schemas import MAX_TEXTS

    return templates.TemplateResponse(request, "classify.html", {
        "texts": texts, "results": results, "error": error, "max_texts": MAX_TEXTS, "one_goal": one_goal,
        "model_version": model_version(), "evaluation": evaluation, "evaluation_error": evaluation_error,
        "eval_form": {**EVAL_FORM, **(eval_form or {})}, "file_error": file_error,
        "file_form": {"text_column": "text", "sheet": "", **(file_form or {})}},
        status_code=status_code)


# --------------------------------------------------------------------------- a form sent incomplete
_FIELD_NAMES = {"file": "the file", "texts": "the texts", "text_column": "the text column",
                "label_column": "the label column", "kind": "the kind of file", "api_key": "the key",
                "format": "the output format", "max_goals": "one SDG goal per text", "vocabulary": "the labels' kind",
                "link_id": "the link", "decision": "the decision", "reason": "the reason", "sheet": "the sheet",
                "empty_is_none": "an empty label cell means “no label”"}


def form_error_page(request: Request, errors: list[dict]) -> Optional[HTMLResponse | RedirectResponse]:
    """A page form sent with a field missing or out of range answers with its page and a sentence saying which
    field, not the API's JSON; None for any other request (the API keeps its JSON 422)."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    if request.method != "POST" or endpoint not in (upload_form, classify_form, classify_file_form,
                                                    evaluate_file_form, review_form):
        return None
    parts = []
    for e in errors:
        field = str(e["loc"][-1]) if e.get("loc") else ""
        what = "missing" if e.get("type") == "missing" else e.get("msg", "not valid")
        parts.append(f"{_FIELD_NAMES.get(field, field or 'the form')}: {what}")
    message = "a field of the form is missing or not valid: " + "; ".join(dict.fromkeys(parts))
    if endpoint is not review_form and not get_settings().api_reader_open:
        from sqlmodel import Session

        # closed reads: a page only for a key holder, as its GET (the review form's redirect goes to a gated page)
        with Session(request.app.state.engine) as session:
            if verify_key(session, request.cookies.get(KEY_COOKIE)) is None:
                return None
    if endpoint is upload_form:
        return templates.TemplateResponse(request, "upload.html", {"result": None, "error": message},
                                          status_code=422)
    if endpoint is review_form:
        rec_id = request.path_params.get("rec_id", "")
        return RedirectResponse(f"/recommendation/{quote(rec_id, safe='')}?error={quote(message)}", status_code=303)
    if endpoint is evaluate_file_form:
        return _classify_response(request, "", [], None, status_code=422, evaluation_error=message)
    return _classify_response(request, "", [], message, status_code=422)
