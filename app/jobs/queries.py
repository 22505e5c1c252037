"""Reading jobs, their events and records, always through the tenant's scope."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Job, JobEvent, Record
from app.db.scoping import get_owned, owned_by
from app.schemas.jobs import Budget, EventOut, JobOut, Progress, RecordOut, UsageOut


def to_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        name=job.name,
        method=job.method,
        teacher_id=job.teacher_id,
        status=job.status,  # type: ignore[arg-type]
        progress=Progress(
            total=job.total,
            completed=job.completed,
            accepted=job.accepted,
            rejected=job.rejected,
            failed=job.failed,
            skipped=job.skipped,
        ),
        usage=UsageOut(
            requests=job.requests,
            cached_requests=job.cached_requests,
            prompt_tokens=job.prompt_tokens,
            completion_tokens=job.completion_tokens,
            cost_usd=float(job.cost_usd),
        ),
        budget=Budget.model_validate(job.spec.get("budget", {})),
        dataset_id=job.dataset_id,
        stop_reason=job.stop_reason,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def get(session: Session, tenant_id: str, job_id: str) -> JobOut:
    return to_out(get_owned(session, Job, tenant_id, job_id, "job"))


def list_all(session: Session, tenant_id: str, limit: int, offset: int) -> list[JobOut]:
    rows = session.scalars(owned_by(Job, tenant_id).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset))
    return [to_out(j) for j in rows]


def events(session: Session, tenant_id: str, job_id: str, limit: int, offset: int) -> list[EventOut]:
    get_owned(session, Job, tenant_id, job_id, "job")
    rows = session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id).limit(limit).offset(offset)
    )
    return [EventOut.model_validate(e) for e in rows]


def records(
    session: Session, tenant_id: str, job_id: str, status: str | None, limit: int, offset: int
) -> list[RecordOut]:
    get_owned(session, Job, tenant_id, job_id, "job")
    stmt = select(Record).where(Record.job_id == job_id)
    if status is not None:
        stmt = stmt.where(Record.status == status)
    rows = session.scalars(stmt.order_by(Record.id).limit(limit).offset(offset))
    return [RecordOut.model_validate(r) for r in rows]
