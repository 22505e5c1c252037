"""The response cache: a teacher reply by hash of everything that determines it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.models import CachedResponse
from distillery.db.upsert import prepared


def request_hash(
    tenant_id: str, base_url: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> str:
    # The tenant is part of the key: one tenant's cache never answers another's prompt.
    canonical = json.dumps(
        {"tenant": tenant_id, "base_url": base_url, "model": model, "messages": messages, "params": params},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(session: Session, keys: list[str]) -> dict[str, CachedResponse]:
    rows = session.scalars(select(CachedResponse).where(CachedResponse.request_hash.in_(set(keys))))
    return {row.request_hash: row for row in rows}


def store(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert replies (columns of CachedResponse); one already there is kept."""
    session.execute(prepared(session, _insert_replies), rows)


def _insert_replies(insert: Any) -> Any:
    # On the table, not the entity: a plain executemany, without the ORM's bulk machinery.
    return insert(CachedResponse.__table__).on_conflict_do_nothing(index_elements=["request_hash"])
