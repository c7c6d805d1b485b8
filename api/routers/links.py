"""Links with explanations, and the review workflow (editor key)."""
from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, HTTPException, Query

from matcher.linking import list_links, review_link
from matcher.models import Link

from ..deps import Editor, Reader, SessionDep
from ..schemas import LinkOut, Page, Review
from .common import link_out, page_params, unprocessable

router = APIRouter(prefix="/links", tags=["links"])


@router.get("", response_model=Page[LinkOut])
def links(session: SessionDep, _: Reader, country: Optional[str] = None, recommendation_id: Optional[str] = None,
          item_type: Annotated[Optional[str], Query(pattern="^(cf_item|activity)$")] = None,
          status: Annotated[Optional[str], Query(pattern="^(auto|confirmed|rejected)$")] = None,
          min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
          limit: Annotated[int, Query(ge=1, le=1000)] = 50, offset: Annotated[int, Query(ge=0, le=10**9)] = 0):
    """Links, the best first, each with its score, components and explanation."""
    from matcher.countries import to_iso3

    iso3 = None
    if country:
        iso3 = to_iso3(country)
        if iso3 is None:
            raise unprocessable(f"unknown country '{country}'", ("query", "country"))
    with page_params():
        rows, count = list_links(session, country=iso3, recommendation_id=recommendation_id, item_type=item_type,
                                 status=status, min_score=min_score, limit=limit, offset=offset)
    return {"data": [link_out(r) for r in rows], "count": count}


@router.get("/{link_id}", response_model=LinkOut)
def link(link_id: int, session: SessionDep, _: Reader):
    row = session.get(Link, link_id) if -2**63 <= link_id < 2**63 else None
    if row is None:
        raise HTTPException(404, f"no link with id {link_id}")
    return link_out(row)


@router.patch("/{link_id}", response_model=LinkOut)
def review(link_id: int, body: Review, session: SessionDep, caller: Editor):
    """Confirm or reject a link (editor key). The matcher never overrides the decision; gaps and funding update now."""
    if not -2**63 <= link_id < 2**63:
        raise HTTPException(404, f"no link with id {link_id}")
    try:
        row = review_link(session, link_id, decision=body.decision, reviewer=body.reviewer or caller.name,
                          reason=body.reason)
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
    except ValueError as exc:
        raise unprocessable(str(exc), ("body", "decision")) from None
    return link_out(row)
