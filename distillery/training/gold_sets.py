"""Gold sets: a user's evaluation dataset, whose records carry the answers the student is
scored against (an upload whose lines have `output`, or any dataset with answers). An
evaluate job scores on one; an sft or dpo job may evaluate on one (`evaluate.dataset_id`)
instead of its held-out split."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distillery.datasets import queries
from distillery.db.models import Dataset, DatasetRecord, Record
from distillery.errors import InvalidSpec, NotFound


def check(session: Session, tenant_id: str, dataset_id: str, field: str) -> Dataset:
    """The tenant's dataset `dataset_id`, if some of its records carry an answer; InvalidSpec
    on `field` otherwise."""
    try:
        dataset = queries.get(session, tenant_id, dataset_id)
    except NotFound:
        raise InvalidSpec(field, f"no dataset '{dataset_id}'") from None
    answered = session.scalar(
        select(func.count())
        .select_from(DatasetRecord)
        .join(Record, Record.id == DatasetRecord.record_id)
        .where(DatasetRecord.dataset_id == dataset.id, Record.answer.is_not(None), Record.answer != "")
    )
    if not answered:
        raise InvalidSpec(
            field,
            f"dataset '{dataset.id}' has no answers to score against; upload a gold set whose lines carry"
            " `output`, the gold answer",
        )
    return dataset
