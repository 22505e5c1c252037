"""Job lifecycle: queued → running → succeeded | failed | cancelled.

Transitions lock the job row, so two workers finishing the last chunks at once finalize
the job exactly once.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.datasets import versions
from app.datasets.exporters import ExportOptions, completion
from app.db.base import new_id, utcnow
from app.db.models import Job, Record, Seed, Tenant, WorkItem
from app.db.scoping import get_owned
from app.errors import Conflict, InvalidSpec, NotFound, TooManyActiveJobs
from app.jobs import planning
from app.jobs.events import emit
from app.methods.registry import method_for
from app.schemas.jobs import TERMINAL_STATUSES, JobCreate
from app.teachers import registry


def create(session: Session, tenant_id: str, spec: JobCreate, *, max_active: int) -> Job:
    """Store a queued job; TooManyActiveJobs when the tenant has `max_active` queued or
    running already (0: no limit)."""
    if max_active > 0:
        _check_active(session, tenant_id, max_active)
    field = "teacher" if spec.teacher is not None else "teachers"
    shares = [(registry.resolve(session, tenant_id, s.teacher, field), s.weight) for s in spec.shares()]
    if spec.params.mode == "batch":
        for teacher, _ in shares:
            if not teacher.supports_batch:
                raise InvalidSpec("params.mode", f"teacher '{teacher.name}' does not support the Batch API")
    judge = registry.resolve(session, tenant_id, spec.judge_teacher, "judge_teacher") if spec.judge_teacher else None
    versions.eval_sets(session, tenant_id, spec.curation)  # named eval sets exist: a 422 now, not at the end
    stored = spec.model_dump(mode="json", exclude={"seeds", "teacher"})
    stored["templates"] = spec.templates or {}
    stored["params"]["generators"] = [
        {"id": t.id, "name": t.name, "temperature": g.temperature}
        for g in spec.params.generators or []
        for t in [registry.resolve(session, tenant_id, g.teacher, "params.generators")]
    ]
    # Stored by id: renaming or re-creating a teacher later does not change a job.
    stored["teachers"] = [{"id": t.id, "name": t.name, "weight": w} for t, w in shares]
    stored["judge_teacher"] = {"id": judge.id, "name": judge.name} if judge else None
    job = Job(
        id=new_id("job"),
        tenant_id=tenant_id,
        teacher_id=shares[0][0].id,
        name=spec.name,
        method=spec.method,
        spec=stored,
        max_requests=spec.budget.max_requests,
        max_cost_usd=Decimal(str(spec.budget.max_cost_usd)) if spec.budget.max_cost_usd else None,
    )
    session.add(job)
    session.flush()
    seeds = [(seed.id, seed.model_dump(exclude={"id"}, exclude_none=True)) for seed in spec.seeds]
    if spec.source_dataset is not None:
        seeds += _dataset_seeds(session, tenant_id, spec.source_dataset)
    if seeds:
        session.execute(
            insert(Seed),
            [
                {"job_id": job.id, "position": i, "external_id": external_id or str(i), "data": data}
                for i, (external_id, data) in enumerate(seeds)
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
    session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    active = session.scalar(
        select(func.count()).select_from(Job).where(Job.tenant_id == tenant_id, Job.status.in_(("queued", "running")))
    )
    if (active or 0) >= max_active:
        raise TooManyActiveJobs(max_active)


def _dataset_seeds(session: Session, tenant_id: str, dataset_id: str) -> list[tuple[str, dict[str, Any]]]:
    """A dataset's records as seeds: their task, and their answer as a candidate response."""
    try:
        dataset = versions.get(session, tenant_id, dataset_id)
    except NotFound:
        raise InvalidSpec("source_dataset", f"no dataset '{dataset_id}'") from None
    seeds = []
    for record in versions.records_of(session, dataset.id):
        # Uploaded candidates are the responses to judge; a record's own answer is one.
        answer = completion(record, ExportOptions())
        candidates = record.parsed.get("candidates") or ([answer] if answer else [])
        data: dict[str, Any] = {"instruction": record.instruction, "input": record.input, "candidates": candidates}
        if record.method == "upload" and record.answer:
            data["answer"] = record.answer  # an uploaded seed's reference answer is its gold
        seeds.append((f"record:{record.id}", data))
    return seeds


def cancel(session: Session, tenant_id: str, job_id: str) -> Job:
    job = get_owned(session, Job, tenant_id, job_id, "job", for_update=True)
    if job.status in TERMINAL_STATUSES:
        raise Conflict(f"job '{job_id}' already {job.status}; only queued or running jobs can be cancelled")
    skipped = _skip_pending(session, job)
    job.status = "cancelled"
    job.finished_at = utcnow()
    emit(
        session,
        job.id,
        "cancelled",
        f"cancelled by the user; {skipped} unstarted items skipped; records made so far are kept",
    )
    return job


def stop_for_budget(session: Session, job_id: str) -> None:
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or job.stop_reason is not None or job.status != "running":
        return
    limits = []
    if job.max_requests is not None:
        limits.append(f"max_requests={job.max_requests}")
    if job.max_cost_usd is not None:
        limits.append(f"max_cost_usd={job.max_cost_usd.normalize()}")
    job.stop_reason = f"budget exhausted ({', '.join(limits)}): spent {job.requests} requests, ${job.cost_usd:.6f}"
    emit(session, job_id, "budget_exhausted", job.stop_reason, level="warning")


def ready_to_finalize(session: Session, job_id: str) -> bool:
    job = session.get(Job, job_id)
    return job is not None and _ready(session, job)


def _ready(session: Session, job: Job) -> bool:
    if job.status != "running":
        return False
    # A stopped job waits only for items in flight; a live one for every item.
    open_states = ("running",) if job.stop_reason else ("pending", "running")
    open_items = session.scalar(
        select(func.count()).select_from(WorkItem).where(WorkItem.job_id == job.id, WorkItem.status.in_(open_states))
    )
    return open_items == 0


def finalize(session: Session, job_id: str, *, chunk_size: int, lease_s: int) -> list[list[int]]:
    """Once every item is done: the next stage's chunks for a job that works in rounds,
    or else curate, version the dataset and close the job. Idempotent."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or not _ready(session, job):
        return []
    method = method_for(job.method, job.spec["params"])
    if method.advance is not None and job.stop_reason is None:
        stage = session.scalar(select(func.max(WorkItem.stage)).where(WorkItem.job_id == job_id)) or 0
        new = method.advance(session, job, stage)
        if new:
            return planning.add_items(session, job, new, stage=stage + 1, chunk_size=chunk_size, lease_s=lease_s)
    _close(session, job, method.dataset_kind)
    return []


def _close(session: Session, job: Job, dataset_kind: str) -> None:
    job_id = job.id
    _skip_pending(session, job)
    job.finished_at = utcnow()
    duplicate_seeds = planning.link_duplicate_seeds(session, job)
    # Failed only when every item failed; a job whose records were all rejected has an empty version.
    if job.accepted == 0 and job.rejected == duplicate_seeds and job.failed > 0:
        job.status = "failed"
        job.error = f"no record was accepted; {job.failed} items failed, mostly: {_top_failure(session, job_id)}"
        emit(session, job_id, "failed", job.error, level="error")
        return
    # Set-level curation runs as the version is made; it marks the records it rejects.
    dataset = versions.create_from_job(session, job, dataset_kind)
    job.dataset_id = dataset.id
    job.status = "succeeded"
    emit(
        session,
        job_id,
        "succeeded",
        f"dataset {dataset.id} v{dataset.version}: {dataset.record_count} records"
        f" ({job.rejected} rejected, {job.failed} failed, {job.skipped} skipped)",
        dataset_id=dataset.id,
    )


def fail(session: Session, job_id: str, error: str) -> None:
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or job.status in TERMINAL_STATUSES:
        return
    job.status = "failed"
    job.error = error
    job.finished_at = utcnow()
    emit(session, job_id, "failed", error, level="error")


def _skip_pending(session: Session, job: Job) -> int:
    skipped = session.execute(
        update(WorkItem).where(WorkItem.job_id == job.id, WorkItem.status == "pending").values(status="skipped")
    ).rowcount  # type: ignore[attr-defined]
    job.skipped += skipped
    return skipped


def _top_failure(session: Session, job_id: str) -> str:
    reasons = Counter(
        session.execute(
            select(Record.reject_reason, Record.reject_detail)
            .where(Record.job_id == job_id, Record.status == "failed")
            .limit(1000)
        ).tuples()
    )
    if not reasons:
        return "unknown"
    (reason, detail), _ = reasons.most_common(1)[0]
    return f"{reason} ({detail})" if detail else str(reason)
