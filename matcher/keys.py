"""API keys with roles (issue #6): reader < editor < admin.

A key is ``upr_`` + 40 URL-safe random characters, shown once at creation; the store keeps its SHA-256
(a high-entropy secret needs no slow hash) and its first characters to tell keys apart in listings.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import select
from sqlmodel import Session

from .models import ApiKey

ROLES = ("reader", "editor", "admin")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    """True when ``role`` is at least ``needed`` (admin may do what an editor may, an editor what a reader may)."""
    return ROLES.index(role) >= ROLES.index(needed)


def create_key(session: Session, role: str, name: Optional[str] = None) -> tuple[str, ApiKey]:
    """A new key of ``role``: returns (the key, shown only now; its stored row)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    key = "upr_" + secrets.token_urlsafe(30)
    row = ApiKey(prefix=key[:12], key_hash=_digest(key), role=role, name=name,
                 created_at=datetime.now(timezone.utc))
    session.add(row)
    session.commit()
    session.refresh(row)
    return key, row


def verify_key(session: Session, key: Optional[str]) -> Optional[ApiKey]:
    """The live key row for a presented key, or None (unknown, revoked or malformed)."""
    if not key or not key.startswith("upr_") or len(key) > 100:
        return None
    digest = _digest(key)
    row = session.execute(select(ApiKey).where(ApiKey.prefix == key[:12])).scalars().all()
    for r in row:
        if hmac.compare_digest(r.key_hash, digest) and r.revoked_at is None:
            return r
    return None


def list_keys(session: Session) -> list[ApiKey]:
    """Every key (hashes never leave the store: callers show prefix, role, name, dates)."""
    return list(session.execute(select(ApiKey).order_by(ApiKey.id)).scalars())


def revoke_key(session: Session, key_id: int) -> ApiKey:
    """Revoke a key by id; it is refused from then on."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise LookupError(f"no API key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(timezone.utc)
        session.add(row)
        session.commit()
        session.refresh(row)
    return row
