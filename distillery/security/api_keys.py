"""Tenant API keys: `dk_` + 32 random bytes; only the sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.base import new_id, utcnow
from distillery.db.models import ApiKey, Tenant


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, tenant_name: str) -> str:
    """Create the tenant if needed and a new key for it; return the key (shown once)."""
    tenant = session.scalar(select(Tenant).where(Tenant.name == tenant_name))
    if tenant is None:
        tenant = Tenant(id=new_id("ten"), name=tenant_name)
        session.add(tenant)
        session.flush()  # no ORM relationship orders the inserts: the tenant row goes first
    key = "dk_" + secrets.token_urlsafe(32)
    session.add(ApiKey(id=new_id("key"), tenant_id=tenant.id, key_hash=hash_key(key), prefix=key[:8]))
    session.flush()
    return key


def tenant_for_key(session: Session, key: str) -> str | None:
    return session.scalar(select(ApiKey.tenant_id).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)))


def revoke_key(session: Session, key_prefix: str) -> int:
    keys = session.scalars(select(ApiKey).where(ApiKey.prefix == key_prefix, ApiKey.revoked_at.is_(None)))
    count = 0
    for row in keys:
        row.revoked_at = utcnow()
        count += 1
    return count
