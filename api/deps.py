"""Shared request dependencies: a database session per request and API-key roles."""
from __future__ import annotations

from typing import Annotated, Iterator, Optional

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlmodel import Session

from matcher.keys import role_allows, verify_key
from matcher.models import ApiKey
from matcher.settings import get_settings

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="An API key (`upr-align keys create --role editor`).")


def get_session(request: Request) -> Iterator[Session]:
    """One session per request on the app's engine."""
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


class Caller:
    """Who is calling: the key's row (None for an anonymous reader) and its role."""

    def __init__(self, key: Optional[ApiKey], role: str):
        self.key, self.role = key, role

    @property
    def name(self) -> str:
        if self.key is None:
            return "anonymous"
        return self.key.name or f"key {self.key.prefix}…"


def require(role: str):
    """Dependency: the caller must present a key of at least ``role`` (reader access may be open by setting)."""

    def dependency(session: SessionDep, key: Annotated[Optional[str], Security(api_key_header)] = None) -> Caller:
        row = verify_key(session, key) if key else None
        if row is None:
            # open reading means "no key needed", not "any key accepted": a wrong key is always refused
            if role == "reader" and get_settings().api_reader_open and key is None:
                return Caller(None, "reader")
            raise HTTPException(401, "a valid API key is needed (header X-API-Key)" if key is None
                                else "unknown or revoked API key", headers={"WWW-Authenticate": "API-Key"})
        if not role_allows(row.role, role):
            raise HTTPException(403, f"this needs a key with role '{role}' or higher; yours is '{row.role}'")
        return Caller(row, row.role)

    return dependency


Reader = Annotated[Caller, Depends(require("reader"))]
Editor = Annotated[Caller, Depends(require("editor"))]
Admin = Annotated[Caller, Depends(require("admin"))]
