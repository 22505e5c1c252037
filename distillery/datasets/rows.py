"""A version's records streamed in order, for exports, training data and job sources: a
page of plain tuples at a time, so a million records pass through in flat memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.models import DatasetRecord, Record


class RecordRow(NamedTuple):
    """What exports and sources read of a record: a plain tuple, not an ORM object or a
    SQLAlchemy Row, so a million records stream at the speed of the driver (attribute
    access on a Row costs more than the rest of an export row's making)."""

    id: int
    method: str
    instruction: str
    input: str
    system_prompt: str | None
    rationale: str | None
    answer: str | None
    parsed: dict[str, Any]


_ROW_COLUMNS = tuple(getattr(Record, name) for name in RecordRow._fields)


def records_of(session: Session, dataset_id: str, page: int = 1000) -> Iterator[RecordRow]:
    """Every record of a version in order, a page at a time."""
    position = 0
    while rows := page_of_records(session, dataset_id, position, page):
        yield from rows
        position += len(rows)


def page_of_records(session: Session, dataset_id: str, after: int, size: int) -> list[RecordRow]:
    """Records of a version in order, `size` at a time from position `after`. Positions run
    0..n-1 without gaps, so a page is a range of the primary key: the same cost at any depth,
    whatever the planner knows of the table."""
    # Core, not ORM, execution: no per-row bookkeeping.
    result = session.connection().execute(
        select(*_ROW_COLUMNS)
        .join(DatasetRecord, DatasetRecord.record_id == Record.id)
        .where(
            DatasetRecord.dataset_id == dataset_id,
            DatasetRecord.position >= after,
            DatasetRecord.position < after + size,
        )
        .order_by(DatasetRecord.position)
    )
    return list(map(RecordRow._make, result))
