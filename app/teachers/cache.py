"""The response cache: a teacher reply by hash of everything that determines it."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import CachedResponse
from app.db.upsert import insert_for


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


def lookup(session: Session, key: str) -> CachedResponse | None:
    return session.scalar(select(CachedResponse).where(CachedResponse.request_hash == key))


def store(
    session: Session,
    key: str,
    tenant_id: str,
    model: str,
    response: dict[str, Any],
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    session.execute(
        insert_for(session, CachedResponse)
        .values(
            request_hash=key,
            tenant_id=tenant_id,
            model=model,
            response=response,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
        .on_conflict_do_nothing(index_elements=["request_hash"])
    )
