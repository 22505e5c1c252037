"""Reading dataset versions, as the API and the UI list and show them: always through the
tenant's own rows, so another tenant's version is simply not found."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.models import Dataset, DatasetRejection
from distillery.db.scoping import get_owned, owned_by
from distillery.schemas.datasets import DatasetOut, RejectionOut


def to_out(row: Dataset) -> DatasetOut:
    return DatasetOut.model_validate(row)


def list_all(session: Session, tenant_id: str, limit: int, offset: int) -> list[DatasetOut]:
    rows = session.scalars(
        owned_by(Dataset, tenant_id).order_by(Dataset.created_at.desc(), Dataset.id).limit(limit).offset(offset)
    )
    return [to_out(r) for r in rows]


def get(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    return get_owned(session, Dataset, tenant_id, dataset_id, "dataset")


def rejections(session: Session, tenant_id: str, dataset_id: str, limit: int, offset: int) -> list[RejectionOut]:
    dataset = get(session, tenant_id, dataset_id)
    rows = session.scalars(
        select(DatasetRejection)
        .where(DatasetRejection.dataset_id == dataset.id)
        .order_by(DatasetRejection.record_id)
        .limit(limit)
        .offset(offset)
    )
    return [RejectionOut.model_validate(r) for r in rows]
