"""What the job page reads: the job, its events, and its records by status, reject reason
and text.

Records are filtered as the API's /records filters them; the page also counts the reasons
for its filter menu.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distillery.db.models import Job, Record
from distillery.db.scoping import get_owned
from distillery.jobs import queries
from distillery.schemas.jobs import EventOut, JobOut, RecordOut

RECORDS_PER_PAGE = 25
# Jobs log tens of events, not thousands; a page shows them all up to this.
EVENTS_SHOWN = 500


@dataclass(frozen=True)
class JobView:
    job: JobOut
    events: list[EventOut]
    reasons: dict[str, int]
    records: list[RecordOut]
    next_offset: int | None


def job_view(session: Session, tenant_id: str, job_id: str, where: queries.RecordFilter, offset: int) -> JobView:
    job = queries.get(session, tenant_id, job_id)
    page = queries.records(session, tenant_id, job_id, where, RECORDS_PER_PAGE, offset)
    return JobView(
        job=job,
        events=queries.events(session, tenant_id, job_id, EVENTS_SHOWN, 0),
        reasons=reasons(session, tenant_id, job_id),
        records=page,
        next_offset=offset + RECORDS_PER_PAGE if len(page) == RECORDS_PER_PAGE else None,
    )


def reasons(session: Session, tenant_id: str, job_id: str) -> dict[str, int]:
    """Reject and failure reasons of the job's records, most frequent first."""
    get_owned(session, Job, tenant_id, job_id, "job")
    rows = session.execute(
        select(Record.reject_reason, func.count())
        .where(Record.job_id == job_id, Record.reject_reason.is_not(None))
        .group_by(Record.reject_reason)
        .order_by(func.count().desc(), Record.reject_reason)
    )
    return {reason: count for reason, count in rows if reason is not None}
