"""Job lifecycle: queued → running → succeeded | failed | cancelled.

Transitions lock the job row, so two workers finishing the last chunks at once finalize
the job exactly once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from distillery.curation.record_text import completion_text
from distillery.datasets import build, queries
from distillery.datasets.rows import records_of
from distillery.db.base import new_id, utcnow
from distillery.db.models import Job, Record, Seed, Tenant, WorkItem
from distillery.db.models import Teacher as TeacherRow
from distillery.db.scoping import get_owned
from distillery.errors import Conflict, InvalidSpec, NotFound, TooManyActiveJobs
from distillery.jobs import leases, planning
from distillery.ledger import closed_flag, counters
from distillery.ledger.budget import forget_holds
from distillery.ledger.counters import Counts
from distillery.ledger.events import emit
from distillery.methods.registry import method_for
from distillery.schemas.job_specs import GeneratorRef, ShareRef, TeacherRef, rehydrate, stored_form
from distillery.schemas.jobs import Budget, JobCreate
from distillery.schemas.status import (
    ACTIVE_STATUSES,
    OPEN_ITEM_STATUSES,
    TERMINAL_STATUSES,
    UNFINISHED_STATUSES,
    ItemStatus,
    JobKind,
    JobStatus,
    RecordStatus,
    move,
    transition,
)
from distillery.security.scrub import scrub
from distillery.teachers import registry


@dataclass(frozen=True)
class Resolved:
    """A submitted spec checked against the tenant's data: what a job of it would store."""

    shares: list[tuple[TeacherRow, float]]
    judge: TeacherRow | None
    stored: dict[str, Any]
    # Every teacher the spec names (shares, judge, generators), by id.
    named: dict[str, TeacherRow]
    # The job's seeds as their rows would hold them: (external id, data).
    seeds: list[tuple[str, dict[str, Any]]]


def resolve(session: Session, tenant_id: str, spec: JobCreate, *, max_active: int) -> Resolved:
    """Check `spec` as a submission is checked (InvalidSpec, TooManyActiveJobs) and resolve
    its teachers and seeds; stores nothing. A dry run stops here."""
    if max_active > 0:
        _check_active(session, tenant_id, max_active)
    field = "teacher" if spec.teacher is not None else "teachers"
    shares = [(registry.resolve(session, tenant_id, s.teacher, field), s.weight) for s in spec.shares()]
    if spec.params.mode == "batch":
        for teacher, _ in shares:
            if not teacher.supports_batch:
                raise InvalidSpec("params.mode", f"teacher '{teacher.name}' does not support the Batch API")
    judge = registry.resolve(session, tenant_id, spec.judge_teacher, "judge_teacher") if spec.judge_teacher else None
    build.eval_sets(session, tenant_id, spec.curation)  # named eval sets exist: a 422 now, not at the end
    generator_rows = [
        (registry.resolve(session, tenant_id, g.teacher, "params.generators"), g) for g in spec.generators()
    ]
    generators = [GeneratorRef(id=t.id, name=t.name, temperature=g.temperature) for t, g in generator_rows]
    from_dataset = []
    if spec.source_dataset is not None:
        from_dataset = _dataset_seeds(session, tenant_id, spec.source_dataset)
        try:
            spec.check_source([data for _, data in from_dataset])
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            raise InvalidSpec(field, problem) from None
    # Stored by id: renaming or re-creating a teacher later does not change a job.
    stored = stored_form(
        spec,
        [ShareRef(id=t.id, name=t.name, weight=w) for t, w in shares],
        TeacherRef(id=judge.id, name=judge.name) if judge else None,
        generators,
    )
    given = [(seed.id, seed.model_dump(exclude={"id"}, exclude_none=True)) for seed in spec.seeds] + from_dataset
    seeds = [(external_id or str(i), data) for i, (external_id, data) in enumerate(given)]
    named = {t.id: t for t in [*(t for t, _ in shares), *([judge] if judge else []), *(t for t, _ in generator_rows)]}
    return Resolved(shares, judge, stored, named, seeds)


def create(session: Session, tenant_id: str, spec: JobCreate, *, max_active: int, request_id: str | None = None) -> Job:
    """Store a queued job; TooManyActiveJobs when the tenant has `max_active` queued or
    running already (0: no limit). `request_id`: of the API request it comes from, which
    its workers' log lines carry."""
    resolved = resolve(session, tenant_id, spec, max_active=max_active)
    shares = resolved.shares
    job = Job(
        id=new_id("job"),
        tenant_id=tenant_id,
        teacher_id=shares[0][0].id,
        name=spec.name,
        method=spec.method,
        spec=resolved.stored,
        max_requests=spec.budget.max_requests,
        max_cost_usd=Decimal(str(spec.budget.max_cost_usd)) if spec.budget.max_cost_usd else None,
        request_id=request_id,
    )
    session.add(job)
    session.flush()
    if resolved.seeds:
        session.execute(
            insert(Seed),
            [
                {"job_id": job.id, "position": i, "external_id": external_id, "data": data}
                for i, (external_id, data) in enumerate(resolved.seeds)
            ],
        )
    names = ", ".join(f"'{t.name}'" for t, _ in shares)
    given = [
        f"{len(v)} {k}" for k, v in (("seeds", spec.seeds), ("topics", spec.topics), ("documents", spec.documents)) if v
    ]
    emit(session, job.id, "created", f"{spec.method} job created with {', '.join(given)} for teacher {names}")
    return job


def _check_active(session: Session, tenant_id: str, max_active: int) -> None:
    # The tenant's row lock serialises concurrent submissions, so two cannot both take
    # the last free place.
    session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(key_share=True))
    active = session.scalar(
        select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id, Job.status.in_(UNFINISHED_STATUSES))
    )
    if (active or 0) >= max_active:
        raise TooManyActiveJobs(max_active)


def _dataset_seeds(session: Session, tenant_id: str, dataset_id: str) -> list[tuple[str, dict[str, Any]]]:
    """A dataset's records as seeds: their task, and their answer as a candidate response."""
    try:
        dataset = queries.get(session, tenant_id, dataset_id)
    except NotFound:
        raise InvalidSpec("source_dataset", f"no dataset '{dataset_id}'") from None
    seeds = []
    for record in records_of(session, dataset.id):
        # Uploaded candidates are the responses to judge; a record's own answer is one.
        answer = completion_text(record)
        candidates = record.parsed.get("candidates") or ([answer] if answer else [])
        data: dict[str, Any] = {"instruction": record.instruction, "input": record.input, "candidates": candidates}
        # An uploaded seed's reference answer is its gold; a student's samples carry their
        # prompt's gold along.
        gold = record.answer if record.method == "upload" else record.parsed.get("gold_answer")
        if gold:
            data["answer"] = gold
        seeds.append((f"record:{record.id}", data))
    return seeds


def cancel(session: Session, tenant_id: str, job_id: str) -> Job:
    job = get_owned(session, Job, tenant_id, job_id, "job", for_update=True)
    if job.status in TERMINAL_STATUSES:
        raise Conflict(f"job '{job_id}' already {job.status}; only queued or running jobs can be cancelled")
    skipped = _skip_pending(session, job)
    move(job, JobStatus.CANCELLED, JobKind.SYNTHESIS)
    job.finished_at = utcnow()
    closed_flag.mark_closed(job.id)  # up before the API answers: no call starts after
    emit(
        session,
        job.id,
        "cancelled",
        f"cancelled by the user; {skipped} unstarted items skipped; records made so far are kept",
    )
    return job


def retry(
    session: Session, tenant_id: str, job_id: str, budget: Budget | None, *, chunk_size: int, lease_s: int
) -> tuple[Job, list[list[int]]]:
    """Run a finished job's failed and skipped items again (replies already paid come from
    the cache), with a new budget if one is given; returns the chunks to dispatch."""
    job = get_owned(session, Job, tenant_id, job_id, "job", for_update=True)
    if job.status not in TERMINAL_STATUSES:
        raise Conflict(f"job '{job_id}' is {job.status}; only a finished job can be retried")
    failed_items = select(Record.work_item_id).where(Record.job_id == job_id, Record.status == RecordStatus.FAILED)
    # A failed item's records go: its outcome is made again.
    gone = session.execute(
        delete(Record)
        .where(Record.job_id == job_id, Record.work_item_id.in_(failed_items))
        .returning(Record.status, Record.work_item_id)
    ).all()
    undone = Counter(status for status, _ in gone)
    items = {item_id for _, item_id in gone}
    leased_until = utcnow() + timedelta(seconds=lease_s)
    rerun = session.execute(
        update(WorkItem)
        .where(
            WorkItem.job_id == job_id,
            or_(WorkItem.id.in_(items), WorkItem.status.in_((ItemStatus.SKIPPED, ItemStatus.PENDING))),
        )
        .values(status=ItemStatus.PENDING, leased_until=leased_until)
        .returning(WorkItem.id, WorkItem.status)
    ).all()
    skipped = len(rerun) - len(items)
    undo = Counts(
        completed=-len(items),
        accepted=-undone[RecordStatus.ACCEPTED],
        rejected=-undone[RecordStatus.REJECTED],
        failed=-undone[RecordStatus.FAILED],
        skipped=-counters.of(session, job_id).skipped,
    )
    counters.add(session, [(job_id, undo)])
    if budget is not None:
        job.max_requests = budget.max_requests
        job.max_cost_usd = Decimal(str(budget.max_cost_usd)) if budget.max_cost_usd else None
        job.spec = {**job.spec, "budget": budget.model_dump(mode="json")}
    move(job, JobStatus.RUNNING, JobKind.SYNTHESIS)
    job.stop_reason, job.error, job.finished_at = None, None, None
    closed_flag.reopen(job_id)
    job.in_flight_requests, job.in_flight_cost_usd = 0, Decimal(0)
    forget_holds(session, job_id)
    emit(session, job_id, "retried", f"retrying {len(items)} failed and {skipped} skipped items")
    ids = sorted(item_id for item_id, _ in rerun)
    return job, leases.chunked(ids, rehydrate(job.spec).job.params.chunk_size or chunk_size)


BUDGET_STOP = "budget exhausted"


def stop_for_budget(session: Session, job_id: str) -> None:
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update(key_share=True))
    if job is None or job.stop_reason is not None or job.status not in ACTIVE_STATUSES:
        return
    job.stop_reason = _budget_stop(job, counters.of(session, job_id))
    emit(session, job_id, "budget_exhausted", job.stop_reason, level="warning")


def _budget_stop(job: Job, spent: Counts) -> str:
    limits = []
    if job.max_requests is not None:
        limits.append(f"max_requests={job.max_requests}")
    if job.max_cost_usd is not None:
        limits.append(f"max_cost_usd={job.max_cost_usd.normalize()}")
    return f"{BUDGET_STOP} ({', '.join(limits)}): spent {spent.requests} requests, ${spent.cost_usd:.6f}"


def pause(session: Session, job_id: str, teacher: str, cause: str) -> None:
    """The job's teacher stopped answering (its circuit opened): the job waits for it."""
    paused = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.RUNNING)
        .values(status=transition(JobStatus.RUNNING, JobStatus.PAUSED, JobKind.SYNTHESIS))
        .returning(Job.id)
    ).first()
    if paused:
        emit(
            session,
            job_id,
            "paused",
            f"paused: teacher '{teacher}' is not answering ({cause}); its items wait and are retried,"
            " and the job resumes by itself when the teacher answers again",
            level="warning",
            teacher=teacher,
        )


def resume(session: Session, job_id: str, teacher: str) -> None:
    resumed = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.PAUSED)
        .values(status=transition(JobStatus.PAUSED, JobStatus.RUNNING, JobKind.SYNTHESIS))
        .returning(Job.id)
    ).first()
    if resumed:
        emit(session, job_id, "resumed", f"resumed: teacher '{teacher}' answers again", teacher=teacher)


def ready_to_finalize(session: Session, job_id: str) -> bool:
    job = session.get(Job, job_id)
    return job is not None and _ready(session, job)


def _ready(session: Session, job: Job) -> bool:
    if job.status not in ACTIVE_STATUSES:
        return False
    # A stopped job waits only for items in flight; a live one for every item.
    open_states = (ItemStatus.RUNNING,) if job.stop_reason else OPEN_ITEM_STATUSES
    open_items = session.scalar(
        select(func.count()).select_from(WorkItem).where(WorkItem.job_id == job.id, WorkItem.status.in_(open_states))
    )
    return open_items == 0


def finalize(session: Session, job_id: str, *, chunk_size: int, lease_s: int) -> list[list[int]]:
    """Once every item is done: the next stage's chunks for a job that works in rounds,
    or else curate, version the dataset and close the job. Idempotent."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update(key_share=True))
    if job is None or not _ready(session, job):
        return []
    spec = rehydrate(job.spec)
    method = method_for(spec.job)
    if method.advance is not None and job.stop_reason is None:
        stage = session.scalar(select(func.max(WorkItem.stage)).where(WorkItem.job_id == job_id)) or 0
        new = method.advance(session, job, spec, stage)
        if new:
            return planning.add_items(session, job, spec, new, stage=stage + 1, chunk_size=chunk_size, lease_s=lease_s)
    _close(session, job, method.dataset_kind)
    return []


def _close(session: Session, job: Job, dataset_kind: str) -> None:
    job_id = job.id
    _skip_pending(session, job)
    duplicate_seeds = planning.link_duplicate_seeds(session, job)
    done = counters.of(session, job_id)
    if job.stop_reason is not None and job.stop_reason.startswith(BUDGET_STOP):
        job.stop_reason = _budget_stop(job, done)  # the final spend, calls in flight at the stop included
    failures = _failures(session, job_id) if done.failed else ""
    # Failed only when every item failed; a job whose records were all rejected has an empty version.
    if done.accepted == 0 and done.rejected == duplicate_seeds and done.failed > 0:
        move(job, JobStatus.FAILED, JobKind.SYNTHESIS)
        job.finished_at = utcnow()
        job.error = scrub(f"no record was accepted; {done.failed} items failed: {failures}")
        emit(session, job_id, "failed", job.error, level="error")
        return
    if done.failed:
        emit(
            session,
            job_id,
            "items_failed",
            f"{done.failed} items failed: {failures}; POST /v1/jobs/{job_id}/retry runs them again",
            level="warning",
        )
    # Set-level curation runs as the version is made; it marks the records it rejects.
    dataset = build.create_from_job(session, job, dataset_kind)
    job.dataset_id = dataset.id
    move(job, JobStatus.SUCCEEDED, JobKind.SYNTHESIS)
    job.finished_at = utcnow()  # after the build: a large job's dataset takes seconds
    done = counters.of(session, job_id)  # curation moved records from accepted to rejected
    emit(
        session,
        job_id,
        "succeeded",
        f"dataset {dataset.id} v{dataset.version}: {dataset.record_count} records"
        f" ({done.rejected} rejected, {done.failed} failed, {done.skipped} skipped)",
        dataset_id=dataset.id,
    )


def fail(session: Session, job_id: str, error: str) -> None:
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update(key_share=True))
    if job is None or job.status in TERMINAL_STATUSES:
        return
    _skip_pending(session, job)
    move(job, JobStatus.FAILED, JobKind.SYNTHESIS)
    closed_flag.mark_closed(job_id)
    job.error = scrub(error)
    job.finished_at = utcnow()
    emit(session, job_id, "failed", error, level="error")


def _skip_pending(session: Session, job: Job) -> int:
    skipped: int = session.execute(
        update(WorkItem)
        .where(WorkItem.job_id == job.id, WorkItem.status == ItemStatus.PENDING)
        .values(status=ItemStatus.SKIPPED)
    ).rowcount  # type: ignore[attr-defined]
    counters.add(session, [(job.id, Counts(skipped=skipped))])
    return skipped


def _failures(session: Session, job_id: str) -> str:
    """The failed records' reasons, most common first: "12 teacher_http_500 (Bad gateway), ..."."""
    rows = session.execute(
        select(Record.reject_reason, func.min(Record.reject_detail), func.count())
        .where(Record.job_id == job_id, Record.status == RecordStatus.FAILED)
        .group_by(Record.reject_reason)
        .order_by(func.count().desc())
        .limit(5)
    ).tuples()
    return ", ".join(f"{n} {reason}" + (f" ({detail})" if detail else "") for reason, detail, n in rows) or "unknown"
