"""Reading jobs, their events and records, always through the tenant's scope."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from distillery.db.models import Job, JobEvent, Record
from distillery.db.scoping import get_owned, owned_by
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.schemas.jobs import Budget, EventOut, JobOut, JobTeacher, Progress, RecordOut, TeacherUsage, UsageOut
from distillery.schemas.previews import RunningEstimate


def to_out(session: Session, job: Job) -> JobOut:
    return _outs(session, [job])[0]


def _outs(session: Session, jobs: list[Job]) -> list[JobOut]:
    rows = counters.by_teacher(session, [j.id for j in jobs])
    totals: dict[str, Counts] = {}
    teachers: dict[str, list[tuple[str, Counts]]] = {}
    for job_id, teacher_id, counts in rows:
        totals[job_id] = totals.get(job_id, counters.ZERO) + counts
        if teacher_id != counters.NO_TEACHER:
            teachers.setdefault(job_id, []).append((teacher_id, counts))
    return [_out(job, totals.get(job.id, counters.ZERO), teachers.get(job.id, [])) for job in jobs]


def projection(c: Counts, total: int) -> RunningEstimate | None:
    """The job's usage at completion, at its usage per finished item so far (None before
    the first item finishes): from the counters already read, so it costs no query."""
    to_run = total - c.skipped
    if c.completed == 0 or to_run <= 0:
        return None
    scale = to_run / c.completed
    return RunningEstimate(
        basis_items=c.completed,
        total_items=to_run,
        requests=round(c.requests * scale),
        prompt_tokens=round(c.prompt_tokens * scale),
        completion_tokens=round(c.completion_tokens * scale),
        cost_usd=float(c.cost_usd) * scale,
    )


def _out(job: Job, c: Counts, by_teacher: list[tuple[str, Counts]]) -> JobOut:
    spec = job.spec
    judge = spec.get("judge_teacher")
    named = [*spec["teachers"], *([judge] if judge else []), *(spec["params"].get("generators") or [])]
    names = {t["id"]: t["name"] for t in named}
    return JobOut(
        id=job.id,
        name=job.name,
        method=job.method,
        teacher_id=job.teacher_id,
        teachers=[JobTeacher(teacher_id=t["id"], name=t["name"], weight=t["weight"]) for t in spec["teachers"]],
        judge_teacher_id=judge["id"] if judge else None,
        mode=spec["params"]["mode"],
        status=job.status,
        progress=Progress(
            total=job.total,
            completed=c.completed,
            accepted=c.accepted,
            rejected=c.rejected,
            failed=c.failed,
            skipped=c.skipped,
        ),
        usage=UsageOut(
            requests=c.requests,
            sent_requests=c.sent_requests,
            failed_requests=c.failed_requests,
            cached_requests=c.cached_requests,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            cost_usd=float(c.cost_usd),
            by_teacher=[
                TeacherUsage(
                    teacher_id=tid,
                    teacher_name=names.get(tid),
                    requests=t.requests,
                    cached_requests=t.cached_requests,
                    prompt_tokens=t.prompt_tokens,
                    completion_tokens=t.completion_tokens,
                    cost_usd=float(t.cost_usd),
                )
                for tid, t in by_teacher
            ],
        ),
        estimate=projection(c, job.total),
        budget=Budget.model_validate(spec.get("budget", {})),
        dataset_id=job.dataset_id,
        stop_reason=job.stop_reason,
        error=job.error,
        request_id=job.request_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def get(session: Session, tenant_id: str, job_id: str) -> JobOut:
    return to_out(session, get_owned(session, Job, tenant_id, job_id, "job"))


def list_all(session: Session, tenant_id: str, limit: int, offset: int) -> list[JobOut]:
    rows = session.scalars(owned_by(Job, tenant_id).order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset))
    return _outs(session, list(rows))


def events(session: Session, tenant_id: str, job_id: str, limit: int, offset: int) -> list[EventOut]:
    get_owned(session, Job, tenant_id, job_id, "job")
    rows = session.scalars(
        select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id).limit(limit).offset(offset)
    )
    return [EventOut.model_validate(e) for e in rows]


@dataclass(frozen=True)
class RecordFilter:
    status: str | None = None
    reason: str | None = None
    # A case-insensitive substring of the instruction, input, answer, rationale or raw reply.
    text: str | None = None


def records(
    session: Session, tenant_id: str, job_id: str, where: RecordFilter, limit: int, offset: int
) -> list[RecordOut]:
    get_owned(session, Job, tenant_id, job_id, "job")
    stmt = select(Record).where(Record.job_id == job_id)
    if where.status:
        stmt = stmt.where(Record.status == where.status)
    if where.reason:
        stmt = stmt.where(Record.reject_reason == where.reason)
    if where.text:
        columns = (Record.instruction, Record.input, Record.answer, Record.rationale, Record.raw_response)
        stmt = stmt.where(or_(*(column.icontains(where.text, autoescape=True) for column in columns)))
    rows = session.scalars(stmt.order_by(Record.id).limit(limit).offset(offset))
    return [RecordOut.model_validate(r) for r in rows]
