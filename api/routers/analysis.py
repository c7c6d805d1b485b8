"""Gaps, funding, statistics, taxonomy, and re-running the matcher (admin)."""
from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, HTTPException, Path, Query, Request

from matcher import coverage, funding as funding_mod
from matcher.countries import to_iso3
from matcher.queries import stats as store_stats

from ..cache import cached_json
from ..deps import Admin, Reader, SessionDep
from ..schemas import Gaps, MatchOut, Page
from .common import page_params, unprocessable

router = APIRouter(tags=["analysis"])
By = Annotated[str, Query(pattern="^(theme|goal|target|action)$")]
ResponseQ = Annotated[str, Query(pattern="^(accepted|noted|partially_accepted|pending|voluntary_pledge|all)$")]


def country_or_422(country: str) -> str:
    iso3 = to_iso3(country)
    if iso3 is None:
        raise unprocessable(f"unknown country '{country}': use an ISO3 code (KEN) or a name (Kenya)",
                            ("query", "country"))
    return iso3


@router.get("/gaps", response_model=Gaps)
def gaps(session: SessionDep, _: Reader, country: str, by: By = "theme", response: ResponseQ = "accepted"):
    """Coverage of a country's recommendations and the gap table (most uncovered first), from materialised tables."""
    iso3 = country_or_422(country)

    def build():
        with page_params():
            summary = coverage.summary(session, iso3, response)
            rows = coverage.gaps(session, iso3, by, response)
        return {"summary": summary, "data": rows, "count": len(rows)}

    return cached_json(session, ("gaps", iso3, by, response), build)


@router.get("/goal-shares", response_model=dict[str, Any])
def goal_shares(session: SessionDep, _: Reader, country: str,
                item_type: Annotated[str, Query(pattern="^(recommendation|cf_item|activity)$")] = "recommendation",
                response: Optional[ResponseQ] = None, with_declared: bool = False):
    """Per SDG goal: items the sources declared it for, items whose text alone gets it (classified again without
    the declared tags, with the evidence kinds behind it), agreement, and each goal's share of all declared and
    predicted goals (as ``upr-align goal-shares``)."""
    from matcher.goal_shares import goal_shares as shares

    iso3 = country_or_422(country)
    if response and item_type != "recommendation":
        raise unprocessable("response applies to recommendations only", ("query", "response"))
    return shares(session, item_type=item_type, country=iso3, response=response, with_declared=with_declared)


@router.get("/disagreements", response_model=Page[dict[str, Any]])
def goal_disagreements(session: SessionDep, _: Reader, country: str,
                       item_type: Annotated[str, Query(pattern="^(recommendation|cf_item|activity)$")] = "recommendation",
                       response: Optional[ResponseQ] = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       offset: Annotated[int, Query(ge=0, le=10**9)] = 0):
    """Items whose declared SDG goals differ from what their text alone gets (as ``upr-align disagreements``)."""
    from matcher.goal_shares import goal_disagreements as find

    iso3 = country_or_422(country)
    if response and item_type != "recommendation":
        raise unprocessable("response applies to recommendations only", ("query", "response"))
    rows = find(session, item_type=item_type, country=iso3, response=response)
    return {"data": rows[offset:offset + limit], "count": len(rows)}


@router.get("/funding", response_model=Page[dict[str, Any]])
def funding(session: SessionDep, _: Reader, country: str,
            by: Annotated[str, Query(pattern="^(theme|goal|target|action|all)$")] = "theme",
            kind: Optional[str] = None, measure: Annotated[str, Query(pattern="^(attributed|touching)$")] = "attributed",
            usd: bool = False, per_year: bool = True,
            response: Annotated[str, Query(pattern="^(accepted|noted|partially_accepted|pending|voluntary_pledge|all)$")] = "all"):
    """Money aligned with recommendations per code, year and currency: one column per source and kind
    (``response``: only the money aligned with accepted, noted, ... recommendations; default all)."""
    iso3 = country_or_422(country)

    def build():
        with page_params():
            rows = funding_mod.funding(session, iso3, by=by, kind=kind, measure=measure, usd=usd, per_year=per_year,
                                       response=response)
        return {"data": rows, "count": len(rows)}

    return cached_json(session, ("funding", iso3, by, kind, measure, usd, per_year, response), build)


@router.get("/stats", response_model=dict[str, Any])
def stats(session: SessionDep, _: Reader):
    """Counts of everything in the store; money per source, kind and currency."""
    return store_stats(session)


@router.get("/taxonomy/{vocabulary}", response_model=Page[dict[str, Any]])
def taxonomy(vocabulary: Annotated[str, Path(pattern="^(goals|targets|themes)$")], _: Reader):
    """SDG goals, SDG targets (with EN/FR/ES titles where shipped) or UPR Info themes."""
    from mappings import table

    name = {"goals": "sdg_goals.csv", "targets": "sdg_targets.csv", "themes": "uprinfo_issues.csv"}.get(vocabulary)
    if name is None:
        raise HTTPException(404, "use goals, targets or themes")
    rows = [dict(r) for r in table(name)]
    return {"data": rows, "count": len(rows)}


@router.post("/match", response_model=MatchOut)
def match(request: Request, _: Admin, country: Optional[str] = None, full: bool = False):
    """Re-run the matcher (admin): classify what changed, relink, rebuild gaps and funding."""
    from matcher.linking import match_store

    iso3 = country_or_422(country) if country else None
    return match_store(request.app.state.engine, country=iso3, full=full).as_dict()
