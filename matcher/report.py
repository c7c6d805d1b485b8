"""The country report: one XLSX workbook a UN country team can forward (issue #5, ``upr-align report``).

Sheets, in order: ``Summary`` (what data, coverage, money, four charts over small tables on the same
sheet: ``matcher.report_summary``), ``Gaps by theme|goal|target|action`` (``coverage.gaps`` rows, one block
per response, accepted first), ``Uncovered`` (every recommendation no link reaches), ``Links`` (every
non-rejected link with its explanation), ``Funding`` (``funding_cell`` as a long, pivot-ready table: both
measures, reported currency and USD on separate labelled rows) and ``Sources and method``
(``matcher.report_method``).  Everything is read from the materialised tables that ``match`` rebuilds;
nothing is matched here.  Data sheets are flat (header row, no merged cells), header frozen, autofilter
on; every text cell goes through ``matcher.exports.safe_cell`` and no cell holds a formula.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

from sqlalchemy import select
from sqlmodel import Session

from . import coverage, taxonomy
from .exports import write_sheet
from .models import Activity, CFItem, Coverage, FundingCell, Link, RecDimension, Recommendation, RecommendingState

# UPR Info action categories (mappings/action_verbs.csv): what the recommending state asks for.
ACTIONS = {"1": "minimal action", "2": "continuing action", "3": "considering action", "4": "general action",
           "5": "specific action"}
SOURCES = {"cf_item": "Cooperation Framework", "activity": "donor"}
MONEY_FORMAT = "#,##0.00"
GAP_COLUMNS = ["country", "dimension", "response", "code", "label", "recommendations", "uncovered",
               "uncovered_clusters", "uncovered_share", "covered_cf", "covered_donor", "covered_both"]
UNCOVERED_COLUMNS = ["country", "response", "recommendation_id", "session", "action_category", "themes", "goals",
                     "targets", "recommending_states", "cluster_id", "text"]
LINK_COLUMNS = ["country", "link_id", "recommendation_id", "response", "session", "recommendation_text", "themes",
                "goals", "targets", "source", "item_type", "item_id", "item_reference", "item_level", "item_publisher",
                "item_title", "score", "status", "rule", "explanation", "reviewer", "review_reason", "reviewed_at"]
FUNDING_COLUMNS = ["country", "dimension", "code", "label", "response", "source", "item_type", "kind", "year",
                   "measure", "currency_basis", "currency", "amount", "facts", "facts_without_usd", "items",
                   "recommendations"]


def code_label(dimension: str, code: str) -> str:
    """A readable name for a gap or funding code: theme label, SDG goal short name, target text, action name."""
    if code == coverage.NONE_CODE:
        return f"(no {dimension})"
    if dimension == "theme":
        return taxonomy.theme_label("uprinfo", code) or code
    if dimension == "goal":
        return taxonomy.goal_short(code) or code
    if dimension == "target":
        return taxonomy.target(code) or code
    if dimension == "action":
        return ACTIONS.get(code, code)
    return code


def responses(session: Session, country: str) -> list[str]:
    """Responses present among the country's matched recommendations, accepted and noted first."""
    present = set(session.execute(select(Coverage.response).where(Coverage.country == country).distinct()).scalars())
    return [r for r in coverage.RESPONSES if r in present]


def gap_rows(session: Session, country: str, by: str) -> list[dict]:
    """``coverage.gaps`` rows of every response present, each block sorted most uncovered first, with labels."""
    rows = []
    for response in responses(session, country):
        rows += [dict(r, label=code_label(by, r["code"])) for r in coverage.gaps(session, country, by, response)]
    return rows


def rec_dimensions(session: Session, country: str) -> dict[str, dict[str, list[str]]]:
    """recommendation id -> dimension -> its codes (``(none)`` left out), as materialised by coverage."""
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rec_id, dimension, code in session.execute(
            select(RecDimension.recommendation_id, RecDimension.dimension, RecDimension.code)
            .where(RecDimension.country == country).order_by(RecDimension.dimension, RecDimension.code)):
        if code != coverage.NONE_CODE:
            out[rec_id][dimension].append(code)
    return out


def _labels(dims: dict[str, list[str]]) -> dict[str, str]:
    return {"themes": "; ".join(code_label("theme", c) for c in dims.get("theme", [])),
            "goals": "; ".join(dims.get("goal", [])), "targets": "; ".join(dims.get("target", []))}


def _chunks(ids: Iterable[str], size: int = 5000):
    ids = sorted(set(ids))
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def uncovered_rows(session: Session, country: str) -> list[dict]:
    """Every recommendation of the country no (non-rejected) link reaches, per response, accepted first."""
    dims = rec_dimensions(session, country)
    rows = []
    for response in responses(session, country):
        rows += [dict(r, country=country, recommendation_id=r["id"], **_labels(dims.get(r["id"], {})))
                 for r in coverage.uncovered(session, country, response)]
    states: dict[str, list[str]] = defaultdict(list)
    for part in _chunks(r["recommendation_id"] for r in rows):
        for rec_id, name in session.execute(select(RecommendingState.recommendation_id, RecommendingState.name)
                                            .where(RecommendingState.recommendation_id.in_(part))
                                            .order_by(RecommendingState.recommendation_id, RecommendingState.position)):
            states[rec_id].append(name)
    for r in rows:
        r["recommending_states"] = "; ".join(states.get(r["recommendation_id"], []))
    return rows


def link_rows(session: Session, country: str) -> list[dict]:
    """Every non-rejected link of the country with the recommendation's text and codes and the item's title."""
    dims = rec_dimensions(session, country)
    links = session.execute(
        select(Link, Recommendation.text, Recommendation.response, Recommendation.session)
        .join(Recommendation, Recommendation.id == Link.recommendation_id)
        .where(Link.country == country, Link.status != "rejected")
        .order_by(Recommendation.session, Link.recommendation_id, Link.score.desc(), Link.id)).all()
    items = _items(session, {(link.item_type, link.item_id) for link, *_ in links})
    rows = []
    for link, text, response, upr_session in links:
        item = items.get((link.item_type, link.item_id), {})
        rows.append({"country": country, "link_id": link.id, "recommendation_id": link.recommendation_id,
                     "response": response, "session": upr_session, "recommendation_text": text,
                     **_labels(dims.get(link.recommendation_id, {})), "source": SOURCES.get(link.item_type),
                     "item_type": link.item_type, "item_id": link.item_id, **item, "score": round(link.score, 4),
                     "status": link.status, "rule": link.rule, "explanation": link.explanation,
                     "reviewer": link.reviewer, "review_reason": link.review_reason, "reviewed_at": link.reviewed_at})
    return rows


def _items(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """(item_type, item_id) -> reference, level, publisher and title of CF items and activities."""
    out = {}
    for part in _chunks(i for t, i in keys if t == "cf_item"):
        for i, code, level, agencies, title in session.execute(
                select(CFItem.id, CFItem.code, CFItem.level, CFItem.agencies, CFItem.title).where(CFItem.id.in_(part))):
            out[("cf_item", i)] = {"item_reference": code, "item_level": level, "item_title": title,
                                   "item_publisher": "; ".join(str(a) for a in agencies or [])}
    for part in _chunks(i for t, i in keys if t == "activity"):
        for i, ref, org, title in session.execute(
                select(Activity.id, Activity.iati_identifier, Activity.reporting_org_name, Activity.title)
                .where(Activity.id.in_(part))):
            out[("activity", i)] = {"item_reference": ref, "item_level": "activity", "item_title": title,
                                    "item_publisher": org}
    return out


def funding_rows(session: Session, country: str) -> list[dict]:
    """``funding_cell`` as a long table: per cell, one row per measure (attributed, touching) and currency basis
    (as reported, USD at each fact's ECB rate; a USD row only when some fact had a rate).  Amounts of rows with
    different ``measure``, ``currency_basis`` or ``currency`` must never be added together; ``response`` says
    whose money it is: ``all`` recommendations, or only the accepted (noted, ...) ones -- filter on one value."""
    order = {d: k for k, d in enumerate(coverage.DIMENSIONS + ("all",))}
    responses = {r: k for k, r in enumerate(("all",) + coverage.RESPONSES)}
    cells = sorted(session.execute(select(FundingCell).where(FundingCell.country == country)).scalars(),
                   key=lambda c: (order.get(c.dimension, 99), c.code, responses.get(c.response, 99), c.item_type,
                                  c.kind, c.year or 0, c.currency or ""))
    rows = []
    for c in cells:
        base = {"country": country, "dimension": c.dimension, "code": c.code,
                "label": code_label(c.dimension, c.code) if c.dimension != "all" else "all recommendations",
                "response": c.response,
                "source": SOURCES.get(c.item_type), "item_type": c.item_type, "kind": c.kind, "year": c.year,
                "facts": c.facts, "items": c.items, "recommendations": c.recommendations}
        for measure in ("attributed", "touching"):
            rows.append(dict(base, measure=measure, currency_basis="as reported", currency=c.currency,
                             amount=getattr(c, measure), facts_without_usd=None))
            usd = getattr(c, f"{measure}_usd")
            if usd is not None:
                rows.append(dict(base, measure=measure, currency_basis="USD at each fact's ECB rate", currency="USD",
                                 amount=usd, facts_without_usd=c.facts_without_usd))
    return rows


def write_report(session: Session, country_iso3: str, path: str | Path) -> dict:
    """Write the country workbook to ``path``; returns the number of data rows per sheet (and of charts).

    Reads only the materialised coverage, dimension, link and funding tables (run ``match`` first: a
    country never matched gets a workbook that says so, with empty data sheets).
    """
    from openpyxl import Workbook

    from .report_method import write_method
    from .report_summary import write_summary

    country = country_iso3.upper()
    wb = Workbook()
    counts: dict[str, int] = {}
    counts["charts"] = write_summary(wb.active, session, country)
    for by in coverage.DIMENSIONS:
        name = f"Gaps by {by}"
        counts[name] = write_sheet(wb.create_sheet(name), gap_rows(session, country, by), GAP_COLUMNS,
                                   {"uncovered_share": "0.0%"})
    counts["Uncovered"] = write_sheet(wb.create_sheet("Uncovered"), uncovered_rows(session, country), UNCOVERED_COLUMNS)
    counts["Links"] = write_sheet(wb.create_sheet("Links"), link_rows(session, country), LINK_COLUMNS, {"score": "0.00"})
    counts["Funding"] = write_sheet(wb.create_sheet("Funding"), funding_rows(session, country), FUNDING_COLUMNS,
                                    {"amount": MONEY_FORMAT})
    counts["Sources and method"] = write_method(wb.create_sheet("Sources and method"), session, country)
    for ws in wb.worksheets[1:]:
        _wrap(ws, ("text", "recommendation_text", "explanation", "item_title", "value"))
        ws.print_title_rows = "1:1"  # the header on every printed page
    for ws in wb.worksheets:
        ws.page_setup.orientation, ws.page_setup.paperSize = "landscape", ws.PAPERSIZE_A4
        ws.sheet_properties.pageSetUpPr.fitToPage = True  # one page wide, as many pages down as needed
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    wb.save(path)
    return counts


def _wrap(ws, columns: tuple[str, ...], width: int = 80) -> None:
    """Long text columns wrap at a readable width instead of running off the page (and the PDF)."""
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    wrap = Alignment(wrap_text=True, vertical="top")
    for k, cell in enumerate(next(ws.iter_rows(min_row=1, max_row=1)), start=1):
        if cell.value in columns:
            ws.column_dimensions[get_column_letter(k)].width = width
            for (c,) in ws.iter_rows(min_row=2, min_col=k, max_col=k):
                c.alignment = wrap
