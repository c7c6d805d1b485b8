"""Helpers shared by routers: engine errors as HTTP errors, links as dicts."""
from __future__ import annotations

from contextlib import contextmanager

from fastapi import HTTPException

from matcher.models import Link


def unprocessable(message: str, loc: tuple = ("query",), **ctx) -> HTTPException:
    """A 422 in the same shape as FastAPI's own validation errors (``detail``: a list of {loc, msg, type})."""
    error = {"loc": list(loc), "msg": message, "type": "value_error"}
    if ctx:
        error["ctx"] = ctx
    return HTTPException(422, [error])


@contextmanager
def page_params():
    """An engine ValueError (unknown country, bad filter value) is the caller's mistake: 422, with its message."""
    try:
        yield
    except ValueError as exc:
        raise unprocessable(str(exc)) from None


def link_out(link: Link) -> dict:
    d = link.model_dump()
    d["reviewed_at"] = link.reviewed_at.isoformat() if link.reviewed_at else None
    d["updated_at"] = link.updated_at.isoformat() if link.updated_at else None
    d["components"] = link.components or {}
    return d
