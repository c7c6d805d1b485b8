"""Read endpoints for recommendations, Cooperation Framework items and donor activities."""
from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, HTTPException, Query
from matcher.classification_store import item_labels
from matcher.linking import list_links
from matcher.models import Coverage
from matcher.queries import get_recommendation, list_activities, list_cf_items, list_recommendations

from ..deps import Reader, SessionDep
from ..schemas import Page
from .common import link_out, page_params

router = APIRouter(tags=["items"])
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, le=10**9)]


@router.get("/recommendations", response_model=Page[dict[str, Any]])
def recommendations(session: SessionDep, _: Reader, country: Optional[str] = None,
                    cycle: Annotated[Optional[int], Query(ge=1, le=99, description="UPR cycle (1, 2, 3, …).")] = None,
                    response: Annotated[Optional[str], Query(
                        pattern="^(accepted|noted|partially_accepted|pending|voluntary_pledge)$")] = None, theme: Optional[str] = None,
                    sdg: Annotated[Optional[str], Query(description="SDG goal (5) or target (5.2)")] = None,
                    action_category: Annotated[Optional[int], Query(ge=1, le=5)] = None,
                    q: Optional[str] = None, limit: Limit = 50, offset: Offset = 0):
    """Recommendations with their response, states and declared tags; themes and SDGs match declared or predicted labels."""
    with page_params():
        rows, count = list_recommendations(session, country=country, cycle=cycle, response=response, theme=theme,
                                           sdg=sdg, action_category=action_category, q=q, limit=limit, offset=offset)
    return {"data": rows, "count": count}


@router.get("/recommendations/{rec_id}", response_model=dict[str, Any])
def recommendation(rec_id: str, session: SessionDep, _: Reader):
    """One recommendation with its declared and predicted labels, its coverage and its links with explanations."""
    data = get_recommendation(session, rec_id)
    if data is None:
        raise HTTPException(404, f"no recommendation with id {rec_id}")
    labels = item_labels(session, "recommendation", rec_id)
    links, count = list_links(session, recommendation_id=rec_id, limit=1000)
    cov = session.get(Coverage, rec_id)
    return {"recommendation": data, "declared": labels["declared"], "predicted": labels["predicted"],
            "model_version": labels["model_version"], "coverage": cov.covered_by if cov else None,
            "links": [link_out(l) for l in links], "links_count": count}


@router.get("/cf-items", response_model=Page[dict[str, Any]])
def cf_items(session: SessionDep, _: Reader, country: Optional[str] = None, sdg: Optional[str] = None,
             level: Optional[str] = None, q: Optional[str] = None, limit: Limit = 50, offset: Offset = 0):
    """Cooperation Framework items (country incl. multi-country offices, declared SDG, level, text)."""
    with page_params():
        rows, count = list_cf_items(session, country=country, sdg=sdg, level=level, q=q, limit=limit, offset=offset)
    return {"data": rows, "count": count}


@router.get("/activities", response_model=Page[dict[str, Any]])
def activities(session: SessionDep, _: Reader, country: Optional[str] = None, sdg: Optional[str] = None,
               sector: Optional[str] = None, q: Optional[str] = None, limit: Limit = 50, offset: Offset = 0):
    """Donor activities (recipient country, declared SDG, DAC sector, text)."""
    with page_params():
        rows, count = list_activities(session, country=country, sdg=sdg, sector=sector, q=q, limit=limit,
                                      offset=offset)
    return {"data": rows, "count": count}
