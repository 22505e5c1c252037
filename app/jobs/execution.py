"""Running a chunk of work items: claim under lease, run concurrently, store each outcome."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.batching import TransactionBatcher
from app.db.models import Job
from app.db.models import Teacher as TeacherRow
from app.db.session import unit_of_work
from app.errors import BudgetExhausted
from app.jobs import leases, lifecycle, progress
from app.jobs.events import emit
from app.jobs.progress import Outcome, RecordDraft
from app.methods.base import JobContext, WorkItemData
from app.methods.registry import METHODS
from app.observability import teacher_metrics
from app.security.secrets import decrypt
from app.settings import get_settings
from app.teachers.batch import BatchGateway
from app.teachers.gateway import Teacher, TeacherEndpoint, TeacherGateway

log = logging.getLogger(__name__)

METRICS_FLUSH_S = 5.0


def run_chunk(job_id: str, item_ids: list[int]) -> bool:
    """Process what is still unfinished of a chunk; True when the job is ready to finalize."""
    settings = get_settings()
    with unit_of_work() as session:
        loaded = _load(session, job_id)
    if loaded is not None:
        job, endpoints = loaded
        with unit_of_work() as session:
            claimed = leases.claim(session, job_id, item_ids, settings.lease_seconds)
        if claimed:
            _loop().run(_run_items(job, endpoints, [WorkItemData(**row) for row in claimed]))
    with unit_of_work() as session:
        return lifecycle.ready_to_finalize(session, job_id)


_runner: asyncio.Runner | None = None


def _loop() -> asyncio.Runner:
    """One event loop per worker process, kept across chunks so teacher and Redis
    connections are reused instead of reopened for every chunk."""
    global _runner
    if _runner is None:
        _runner = asyncio.Runner()
    return _runner


def _load(session: Session, job_id: str) -> tuple[JobContext, dict[str, TeacherEndpoint]] | None:
    job = session.scalar(select(Job).where(Job.id == job_id))
    if job is None or job.status != "running" or job.stop_reason is not None:
        return None
    wanted = [t["id"] for t in job.spec["teachers"]]
    teachers = {t.id: t for t in session.scalars(select(TeacherRow).where(TeacherRow.id.in_(wanted)))}
    missing = [t["name"] for t in job.spec["teachers"] if t["id"] not in teachers]
    if missing:
        lifecycle.fail(session, job_id, f"the job's teacher '{missing[0]}' was deleted")
        return None
    context = JobContext(job_id=job.id, method=job.method, skill=job.spec["skill"], params=job.spec["params"])
    return context, {tid: _endpoint(t) for tid, t in teachers.items()}


def _endpoint(teacher: TeacherRow) -> TeacherEndpoint:
    return TeacherEndpoint(
        id=teacher.id,
        name=teacher.name,
        tenant_id=teacher.tenant_id,
        base_url=teacher.base_url,
        model=teacher.model,
        api_key=decrypt(teacher.api_key_encrypted) if teacher.api_key_encrypted else None,
        max_concurrency=teacher.max_concurrency,
        rpm=teacher.rpm,
        tpm=teacher.tpm,
        input_price_per_mtok=teacher.input_price_per_mtok,
        output_price_per_mtok=teacher.output_price_per_mtok,
        batch_price_factor=teacher.batch_price_factor,
    )


async def _run_items(job: JobContext, endpoints: dict[str, TeacherEndpoint], items: list[WorkItemData]) -> None:
    settings = get_settings()

    db = TransactionBatcher()

    async def notify(kind: str, message: str) -> None:
        level = "warning" if kind in ("throttled", "batch_failed") else "info"
        await db.run(emit, job.job_id, kind, message, level=level)

    background = [
        asyncio.create_task(_keep_leases(db, items, settings.lease_seconds)),
        asyncio.create_task(_flush_metrics()),
    ]
    try:
        work = []
        for teacher_id in {item.teacher_id for item in items}:
            online = TeacherGateway(
                endpoints[teacher_id],
                job.job_id,
                db,
                timeout_s=settings.teacher_timeout_s,
                max_attempts=settings.teacher_max_attempts,
                redis_url=settings.pacing_redis_url,
                data_dir=settings.data_dir,
                on_throttle=lambda message: notify("throttled", message),
            )
            mine = [item for item in items if item.teacher_id == teacher_id]
            if job.params["mode"] == "batch":
                batched = BatchGateway(online, db, poll_s=settings.batch_poll_s, notify=notify)
                work.append(batched.run([_run_item(job, db, batched, item) for item in mine]))
            else:
                work.extend(_run_item(job, db, online, item) for item in mine)
        await asyncio.gather(*work)
    finally:
        for task in background:
            task.cancel()
        await db.drain()
        await asyncio.to_thread(_flush_metrics_now)


async def _keep_leases(db: TransactionBatcher, items: list[WorkItemData], lease_s: int) -> None:
    """Renew the chunk's leases while it runs, so only a dead worker's items expire."""
    ids = [item.id for item in items]
    while True:
        await asyncio.sleep(lease_s / 3)
        await db.run(leases.renew, ids, lease_s)


async def _flush_metrics() -> None:
    """Add this process's teacher-call tally to the shared counters every few seconds."""
    while True:
        await asyncio.sleep(METRICS_FLUSH_S)
        await asyncio.to_thread(_flush_metrics_now)


def _flush_metrics_now() -> None:
    # A transaction of its own: rolled back with a batch of other writes, the counts it
    # took from the tally would be lost.
    with unit_of_work() as session:
        teacher_metrics.flush(session)


async def _run_item(job: JobContext, db: TransactionBatcher, gateway: Teacher, item: WorkItemData) -> None:
    try:
        drafts = await METHODS[job.method](item, job, gateway)
    except BudgetExhausted:
        await db.run(lifecycle.stop_for_budget, job.job_id)
        await db.each(leases.release, item.id)
        return
    except Exception as exc:  # a bug must not stall the job: record it on the item
        log.exception("work item %s of job %s failed", item.id, job.job_id)
        drafts = [
            RecordDraft(
                step=job.method,
                instruction=item.payload.get("instruction", ""),
                status="failed",
                seed_ids=item.seed_ids,
                reject_reason="internal_error",
                reject_detail=type(exc).__name__,
            )
        ]
    ep = gateway.endpoint
    teacher = {"teacher_id": ep.id, "teacher_name": ep.name, "model": ep.model}
    await db.each(progress.complete_items, Outcome(job.job_id, item.id, drafts, job.method, teacher))
