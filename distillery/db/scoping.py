"""Tenant scoping is structural: every tenant-owned query starts from `owned_by`, so another
tenant's id is simply not found."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from distillery.errors import NotFound

Row = TypeVar("Row")


def owned_by(model: type[Row], tenant_id: str) -> Select[Row]:
    return select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


def get_owned(session: Session, model: type[Row], tenant_id: str, ident: str, kind: str, **lock: Any) -> Row:
    stmt = owned_by(model, tenant_id).where(model.id == ident)  # type: ignore[attr-defined]
    if lock.get("for_update"):
        # FOR NO KEY UPDATE: a row lock that does not wait for inserts referencing the row.
        stmt = stmt.with_for_update(key_share=True)
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(kind, ident)
    return row
