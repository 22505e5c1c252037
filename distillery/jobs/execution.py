"""Running a chunk of work items: claim under lease, run concurrently, store each outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from jinja2 import TemplateError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from distillery.db.batching import TransactionBatcher
from distillery.db.models import Job
from distillery.db.models import Teacher as TeacherRow
from distillery.db.session import unit_of_work
from distillery.errors import BudgetExhausted, JobClosed, TeacherRefused
from distillery.jobs import leases, lifecycle
from distillery.ledger import records
from distillery.ledger.events import emit
from distillery.ledger.records import Outcome, RecordDraft
from distillery.methods import quality
from distillery.methods.base import JobContext, Teachers, WorkItemData
from distillery.methods.registry import method_for
from distillery.observability import teacher_metrics
from distillery.schemas.job_specs import rehydrate
from distillery.schemas.status import ACTIVE_STATUSES
from distillery.security import teacher_urls
from distillery.security.secrets import decrypt
from distillery.settings import get_settings
from distillery.teachers import registry
from distillery.teachers.batch import BatchGateway
from distillery.teachers.gateway import Teacher, TeacherEndpoint, TeacherGateway

log = logging.getLogger(__name__)

METRICS_FLUSH_S = 5.0

# Failures of the infrastructure (a dropped database connection, Redis restarting) that
# outlasted the retries below them.
TRANSIENT = (OperationalError, RedisConnectionError, RedisTimeoutError)


async def run_chunk(job_id: str, item_ids: list[int]) -> bool:
    """Process what is still unfinished of a chunk; True when the job is ready to finalize.
    Runs on the worker process's event loop (distillery/workers/runtime.py), its database work on threads."""
    claimed = await asyncio.to_thread(_claim, job_id, item_ids)
    if claimed is not None:
        await _run_items(*claimed)
    return await asyncio.to_thread(_ready_to_finalize, job_id)


def _claim(
    job_id: str, item_ids: list[int]
) -> tuple[JobContext, dict[str, TeacherEndpoint], list[WorkItemData]] | None:
    """The job and the chunk's unfinished items, leased to this worker; None when there is nothing to run."""
    with unit_of_work() as session:
        loaded = _load(session, job_id)
    if loaded is None:
        return None
    job, endpoints = loaded
    with unit_of_work() as session:
        claimed = leases.claim(session, job_id, item_ids, get_settings().lease_seconds)
    return (job, endpoints, [WorkItemData(**row) for row in claimed]) if claimed else None


def _ready_to_finalize(job_id: str) -> bool:
    with unit_of_work() as session:
        return lifecycle.ready_to_finalize(session, job_id)


def _load(session: Session, job_id: str) -> tuple[JobContext, dict[str, TeacherEndpoint]] | None:
    job = session.scalar(select(Job).where(Job.id == job_id))
    if job is None or job.status not in ACTIVE_STATUSES or job.stop_reason is not None:
        return None
    spec = rehydrate(job.spec)
    named = [*spec.teachers, *([spec.judge] if spec.judge else []), *spec.generators]
    teachers = {t.id: t for t in session.scalars(select(TeacherRow).where(TeacherRow.id.in_([t.id for t in named])))}
    missing = [t.name for t in named if t.id not in teachers]
    if missing:
        lifecycle.fail(session, job_id, f"the job's teacher '{missing[0]}' was deleted")
        return None
    # The allowlist may have changed since the teacher was created.
    for teacher in teachers.values():
        refused = teacher_urls.refusal(teacher.base_url)
        if refused:
            lifecycle.fail(session, job_id, f"teacher '{teacher.name}' may not be called: {refused}")
            return None
    context = JobContext(
        job_id=job.id,
        spec=spec.job,
        judge_id=spec.judge.id if spec.judge else None,
        budgeted=job.max_requests is not None or job.max_cost_usd is not None,
        generators=tuple(spec.generators),
    )
    return context, {tid: _endpoint(t) for tid, t in teachers.items()}


def _endpoint(teacher: TeacherRow) -> TeacherEndpoint:
    charged = registry.prices(teacher)
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
        input_price_per_mtok=charged.input_per_mtok,
        output_price_per_mtok=charged.output_per_mtok,
        batch_price_factor=teacher.batch_price_factor,
        structured_outputs=teacher.supports_structured_outputs,
    )


class _JobEvents:
    """What the gateways report, written as the job's events and status."""

    def __init__(self, job_id: str, job_row: TransactionBatcher) -> None:
        self.job_id = job_id
        self._job_row = job_row

    async def throttled(self, message: str) -> None:
        await self.notify("throttled", message)

    async def unavailable(self, teacher: str, cause: str) -> None:
        await self._job_row.run(lifecycle.pause, self.job_id, teacher, cause)

    async def available(self, teacher: str) -> None:
        await self._job_row.run(lifecycle.resume, self.job_id, teacher)

    async def notify(self, kind: str, message: str) -> None:
        level = "warning" if kind in ("throttled", "batch_failed") else "info"
        await self._job_row.run(emit, self.job_id, kind, message, level=level)


async def _run_items(job: JobContext, endpoints: dict[str, TeacherEndpoint], items: list[WorkItemData]) -> None:
    settings = get_settings()
    # Two lanes of writes: the group commit (records, items, cache, usage, counters) and
    # short transactions on the job's own row (reservations, status), which then never
    # hold that row while waiting for anything else.
    db, job_row = TransactionBatcher(), TransactionBatcher()
    events = _JobEvents(job.job_id, job_row)

    background = [
        asyncio.create_task(_keep_leases(db, job.job_id, items, settings.lease_seconds)),
        asyncio.create_task(_flush_metrics()),
    ]
    try:
        gateways: dict[str, Teacher] = {
            teacher_id: TeacherGateway(
                endpoint,
                job.job_id,
                db,
                job_row,
                events,
                budgeted=job.budgeted,
                timeout_s=settings.teacher_timeout_s,
                max_attempts=settings.teacher_max_attempts,
                redis_url=settings.pacing_redis_url,
                data_dir=settings.data_dir,
            )
            for teacher_id, endpoint in endpoints.items()
        }
        if job.params.mode == "batch":
            # Batch mode is for label jobs: one request per item, so each teacher's items
            # go out as one provider batch per round.
            work = []
            for teacher_id in {item.teacher_id for item in items}:
                batched = BatchGateway(gateways[teacher_id], db, poll_s=settings.batch_poll_s, notify=events.notify)  # type: ignore[arg-type]
                mine = [item for item in items if item.teacher_id == teacher_id]
                work.append(
                    batched.run(
                        [_run_item(job, db, job_row, _teachers(job, {teacher_id: batched}, i), i) for i in mine]
                    )
                )
            await _all(work)
        else:
            await _all([_run_item(job, db, job_row, _teachers(job, gateways, item), item) for item in items])
    finally:
        for task in background:
            task.cancel()
        await db.drain()
        await job_row.drain()
        await asyncio.to_thread(_flush_metrics_now)


async def _all(work: list[Coroutine[Any, Any, None]]) -> None:
    """Run all to the end, then raise the first failure. Plain gather would raise at once
    and leave the others pending on this process's loop, which is kept for the next task:
    frozen mid-call until then, with their requests reserved and their leases running out."""
    for result in await asyncio.gather(*work, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


async def _keep_leases(db: TransactionBatcher, job_id: str, items: list[WorkItemData], lease_s: int) -> None:
    """Renew the chunk's leases while it runs, so only a dead worker's items expire."""
    ids = [item.id for item in items]
    while True:
        await asyncio.sleep(lease_s / 3)
        try:
            await db.run(leases.renew, job_id, ids, lease_s)
        except TRANSIENT as exc:  # one missed renewal must not end them all: try again next time
            log.warning("renewing the leases of %d work items failed: %s", len(ids), type(exc).__name__)


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


def _failed_item(job: JobContext, item: WorkItemData, reason: str, detail: str) -> RecordDraft:
    instruction = item.payload.get("instruction", "")
    return RecordDraft(
        step=job.method,
        instruction=instruction,
        status="failed",
        seed_ids=item.seed_ids,
        reject_reason=reason,
        reject_detail=detail,
    )


def _teachers(job: JobContext, gateways: dict[str, Teacher], item: WorkItemData) -> Teachers:
    own = gateways[item.teacher_id]
    return Teachers(own=own, judge=gateways.get(job.judge_id or "", own), by_id=gateways)


async def _run_item(
    job: JobContext, db: TransactionBatcher, job_row: TransactionBatcher, teachers: Teachers, item: WorkItemData
) -> None:
    try:
        await _finish_item(job, db, job_row, teachers, item)
    except TRANSIENT as exc:
        # Not the item's fault, and nothing of it was stored: it stays unfinished under its
        # lease, which the reaper re-runs once it expires (the database or Redis back by
        # then); the replies it paid for are in the cache.
        log.warning("work item %s of job %s left for a retry: %s", item.id, job.job_id, type(exc).__name__)


async def _finish_item(
    job: JobContext, db: TransactionBatcher, job_row: TransactionBatcher, teachers: Teachers, item: WorkItemData
) -> None:
    output = None
    try:
        method = method_for(job.spec)
        produced = await method.run(item, job, teachers)
        drafts, output = produced.drafts, produced.output
        if job.curation.judge and method.quality_judged:
            await quality.score(teachers.judge, job, drafts)
    except BudgetExhausted:
        await job_row.run(lifecycle.stop_for_budget, job.job_id)
        await db.each(leases.release, item.id)
        return
    except JobClosed:
        await db.each(leases.release, item.id)
        return
    except TeacherRefused as refused:
        await job_row.run(lifecycle.fail, job.job_id, f"{refused.cause}; fix the teacher, then retry the job")
        await db.each(leases.release, item.id)
        return
    except TRANSIENT:
        raise
    except TemplateError as exc:  # the job's own template failed on this item's data
        drafts = [_failed_item(job, item, "template_error", str(exc)[:500])]
    except Exception as exc:  # a bug must not stall the job: record it on the item
        log.exception("work item %s of job %s failed", item.id, job.job_id)
        drafts = [_failed_item(job, item, "internal_error", type(exc).__name__)]
    ep = teachers.own.endpoint
    teacher: dict[str, str | None] = {"teacher_id": ep.id, "teacher_name": ep.name, "model": ep.model}
    await db.each(records.complete_items, Outcome(job.job_id, item.id, drafts, job.method, teacher, output))
