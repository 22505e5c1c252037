"""Creating and reading dataset versions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from app.db.base import new_id
from app.db.models import Dataset, DatasetRecord, Job, Record
from app.db.scoping import get_owned, owned_by
from app.schemas.datasets import DatasetOut


def create_from_job(session: Session, job: Job, kind: str) -> Dataset:
    version = (
        session.scalar(
            select(func.max(Dataset.version)).where(Dataset.tenant_id == job.tenant_id, Dataset.name == job.name)
        )
        or 0
    ) + 1
    dataset = Dataset(
        id=new_id("ds"),
        tenant_id=job.tenant_id,
        name=job.name,
        version=version,
        job_id=job.id,
        kind=kind,
        record_count=0,
        stats={},
    )
    session.add(dataset)
    session.flush()
    accepted = select(literal(dataset.id), func.row_number().over(order_by=Record.id) - 1, Record.id).where(
        Record.job_id == job.id, Record.status == "accepted"
    )
    session.execute(insert(DatasetRecord).from_select(["dataset_id", "position", "record_id"], accepted))
    dataset.record_count = job.accepted
    dataset.stats = _stats(session, job)
    return dataset


def _stats(session: Session, job: Job) -> dict[str, Any]:
    reasons = session.execute(
        select(Record.reject_reason, func.count())
        .where(Record.job_id == job.id, Record.status != "accepted")
        .group_by(Record.reject_reason)
    ).all()
    lengths = session.execute(
        select(
            func.avg(func.length(Record.instruction)),
            func.avg(func.length(Record.answer)),
            func.avg(func.length(Record.rationale)),
        ).where(Record.job_id == job.id, Record.status == "accepted")
    ).one()
    templates = Counter(
        dict(
            session.execute(
                select(Record.template_name, func.count())
                .where(Record.job_id == job.id, Record.status == "accepted")
                .group_by(Record.template_name)
            ).all()
        )
    )
    return {
        "accepted": job.accepted,
        "rejected": job.rejected,
        "failed": job.failed,
        "skipped": job.skipped,
        "reject_reasons": {reason or "unknown": count for reason, count in reasons},
        "mean_chars": {
            "instruction": round(float(lengths[0] or 0), 1),
            "answer": round(float(lengths[1] or 0), 1),
            "rationale": round(float(lengths[2] or 0), 1),
        },
        "templates": dict(templates),
        "cost_usd": float(job.cost_usd),
        "teacher_requests": job.requests,
    }


def to_out(row: Dataset) -> DatasetOut:
    return DatasetOut.model_validate(row)


def list_all(session: Session, tenant_id: str, limit: int, offset: int) -> list[DatasetOut]:
    rows = session.scalars(
        owned_by(Dataset, tenant_id).order_by(Dataset.created_at.desc(), Dataset.id).limit(limit).offset(offset)
    )
    return [to_out(r) for r in rows]


def get(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    return get_owned(session, Dataset, tenant_id, dataset_id, "dataset")


def records_of(session: Session, dataset_id: str, page: int = 1000) -> Iterator[Record]:
    """Every record of a version in order, a page at a time."""
    position = 0
    while rows := page_of_records(session, dataset_id, position, page):
        yield from rows
        position += len(rows)


def page_of_records(session: Session, dataset_id: str, after: int, size: int) -> list[Record]:
    """Records of a version in order, `size` at a time from position `after` (keyset paging)."""
    return list(
        session.scalars(
            select(Record)
            .join(DatasetRecord, DatasetRecord.record_id == Record.id)
            .where(DatasetRecord.dataset_id == dataset_id, DatasetRecord.position >= after)
            .order_by(DatasetRecord.position)
            .limit(size)
        )
    )
