"""API keys (admin): create (the key is shown once), list, revoke."""
from __future__ import annotations

from fastapi import APIRouter, HTTPException

from matcher.keys import create_key, list_keys, revoke_key
from matcher.models import ApiKey

from ..deps import Admin, SessionDep
from ..schemas import KeyIn, KeyOut, NewKey

router = APIRouter(prefix="/keys", tags=["keys"])


def key_out(row: ApiKey) -> dict:
    return {"id": row.id, "prefix": row.prefix, "role": row.role, "name": row.name,
            "created_at": row.created_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


@router.get("", response_model=list[KeyOut])
def keys(session: SessionDep, _: Admin):
    """Every key: prefix, role, name, dates (never the key or its hash)."""
    return [key_out(k) for k in list_keys(session)]


@router.post("", response_model=NewKey, status_code=201)
def new_key(body: KeyIn, session: SessionDep, _: Admin):
    """A new key of a role; the response is the only time the key is shown."""
    key, row = create_key(session, body.role, body.name)
    return {**key_out(row), "key": key}


@router.delete("/{key_id}", response_model=KeyOut)
def revoke(key_id: int, session: SessionDep, _: Admin):
    """Revoke a key: it is refused from now on."""
    if not -2**63 <= key_id < 2**63:
        raise HTTPException(404, f"no API key with id {key_id}")
    try:
        return key_out(revoke_key(session, key_id))
    except LookupError as exc:
        raise HTTPException(404, str(exc.args[0])) from None
