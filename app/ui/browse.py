"""What the job page reads: the job, its events, and its records by status, reject reason
and text.

The API's /records pages by status only; the browser also narrows by reason and by a
search over the texts a person reads, and counts the reasons for its filter menu.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from app.db.models import Job, Record
from app.db.scoping import get_owned
from app.jobs import queries
from app.schemas.jobs import EventOut, JobOut, RecordOut

RECORDS_PER_PAGE = 25
# Jobs log tens of events, not thousands; a page shows them all up to this.
EVENTS_SHOWN = 500


@dataclass(frozen=True)
class RecordFilter:
    status: str | None = None
    reason: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class JobView:
    job: JobOut
    events: list[EventOut]
    reasons: dict[str, int]
    records: list[RecordOut]
    next_offset: int | None


def job_view(session: Session, tenant_id: str, job_id: str, where: RecordFilter, offset: int) -> JobView:
    job = queries.get(session, tenant_id, job_id)
    page = records(session, tenant_id, job_id, where, RECORDS_PER_PAGE, offset)
    return JobView(
        job=job,
        events=queries.events(session, tenant_id, job_id, EVENTS_SHOWN, 0),
        reasons=reasons(session, tenant_id, job_id),
        records=page,
        next_offset=offset + RECORDS_PER_PAGE if len(page) == RECORDS_PER_PAGE else None,
    )


def records(
    session: Session, tenant_id: str, job_id: str, where: RecordFilter, limit: int, offset: int
) -> list[RecordOut]:
    get_owned(session, Job, tenant_id, job_id, "job")
    stmt = _filtered(select(Record).where(Record.job_id == job_id), where)
    rows = session.scalars(stmt.order_by(Record.id).limit(limit).offset(offset))
    return [RecordOut.model_validate(r) for r in rows]


def reasons(session: Session, tenant_id: str, job_id: str) -> dict[str, int]:
    """Reject and failure reasons of the job's records, most frequent first."""
    get_owned(session, Job, tenant_id, job_id, "job")
    rows = session.execute(
        select(Record.reject_reason, func.count())
        .where(Record.job_id == job_id, Record.reject_reason.is_not(None))
        .group_by(Record.reject_reason)
        .order_by(func.count().desc(), Record.reject_reason)
    )
    return {reason: count for reason, count in rows}


def _filtered(stmt: Select[tuple[Record]], where: RecordFilter) -> Select[tuple[Record]]:
    if where.status:
        stmt = stmt.where(Record.status == where.status)
    if where.reason:
        stmt = stmt.where(Record.reject_reason == where.reason)
    if where.text:
        columns = (Record.instruction, Record.input, Record.answer, Record.rationale, Record.raw_response)
        stmt = stmt.where(or_(*(column.icontains(where.text, autoescape=True) for column in columns)))
    return stmt
