"""Work-item leases: claim, release, and the reaper that re-dispatches expired ones."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session

from distillery.db.base import utcnow
from distillery.db.models import Job, WorkItem
from distillery.ledger import budget, counters
from distillery.ledger.counters import Counts
from distillery.schemas.status import ACTIVE_STATUSES, OPEN_ITEM_STATUSES, TERMINAL_STATUSES, ItemStatus, JobStatus


def claim(session: Session, job_id: str, item_ids: list[int], lease_s: int) -> list[dict[str, Any]]:
    """Lease the items of a chunk that nobody holds; a redelivery gets only unfinished ones."""
    now = utcnow()
    rows = session.execute(
        update(WorkItem)
        .where(
            WorkItem.job_id == job_id,
            WorkItem.id.in_(item_ids),
            or_(
                WorkItem.status == ItemStatus.PENDING,
                and_(WorkItem.status == ItemStatus.RUNNING, WorkItem.leased_until < now),
            ),
        )
        .values(
            status=ItemStatus.RUNNING, leased_until=now + timedelta(seconds=lease_s), attempts=WorkItem.attempts + 1
        )
        .returning(WorkItem.id, WorkItem.position, WorkItem.seed_ids, WorkItem.payload, WorkItem.teacher_id)
    )
    return [dict(row._mapping) for row in rows]


def release(session: Session, item_ids: list[int]) -> list[None]:
    """Hand unfinished items back: the job stopped taking work. A stopped job's are skipped
    when it is finalized, and a closed job's (failed, cancelled) are skipped now, since it
    was finalized already. Their lease is left expired, so that should the job run again
    meanwhile (a retry), the reaper dispatches them."""
    jobs = select(WorkItem.job_id).where(WorkItem.id.in_(item_ids)).distinct().scalar_subquery()
    # FOR SHARE waits for a cancel or a retry changing the job's status, so an item is not
    # skipped by a status that a retry, which leaves running items alone, already reopened.
    statuses = session.execute(
        select(Job.id, Job.status).where(Job.id.in_(jobs)).order_by(Job.id).with_for_update(read=True)
    ).all()
    closed = {job_id for job_id, status in statuses if status in TERMINAL_STATUSES}
    released = session.execute(
        update(WorkItem)
        .where(WorkItem.id.in_(item_ids), WorkItem.status == ItemStatus.RUNNING)
        .values(
            status=case((WorkItem.job_id.in_(closed), ItemStatus.SKIPPED), else_=ItemStatus.PENDING),
            leased_until=utcnow(),
        )
        .returning(WorkItem.job_id, WorkItem.status)
        .execution_options(synchronize_session=False)
    ).all()
    skipped = Counter(job_id for job_id, status in released if status == ItemStatus.SKIPPED)
    counters.add(session, ((job_id, Counts(skipped=n)) for job_id, n in skipped.items()))
    return [None] * len(item_ids)


def renew(session: Session, job_id: str, item_ids: list[int], lease_s: int) -> None:
    """Extend the lease of items still being worked on (a long chunk keeps its items), and
    this process's hold on the job's budget reservations with them."""
    session.execute(
        update(WorkItem)
        .where(WorkItem.id.in_(item_ids), WorkItem.status == ItemStatus.RUNNING)
        .values(leased_until=utcnow() + timedelta(seconds=lease_s))
    )
    budget.renew_holds(session, job_id)


def expired(session: Session, lease_s: int, chunk_size: int) -> dict[str, list[list[int]]]:
    """Items of live jobs whose lease ran out, re-leased for dispatch, as chunks per job.

    A stopped job's (budget spent) expired items go back to pending without a dispatch:
    finalizing skips them."""
    now = utcnow()
    rows = session.execute(
        select(WorkItem.job_id, WorkItem.id, Job.stop_reason.is_not(None))
        .join(Job, Job.id == WorkItem.job_id)
        .where(
            Job.status.in_(ACTIVE_STATUSES),
            WorkItem.status.in_(OPEN_ITEM_STATUSES),
            WorkItem.leased_until < now,
        )
        .order_by(WorkItem.job_id, WorkItem.id)
        .limit(10_000)
    ).all()
    by_job: dict[str, list[int]] = {}
    for job_id, item_id, stopped in rows:
        if not stopped:
            by_job.setdefault(job_id, []).append(item_id)
    until = now + timedelta(seconds=lease_s)
    ids = [item_id for _, item_id, _ in rows]
    if ids:
        # Back to pending, so the re-dispatched chunk can claim them.
        session.execute(
            update(WorkItem).where(WorkItem.id.in_(ids)).values(status=ItemStatus.PENDING, leased_until=until)
        )
    return {job_id: chunked(ids, chunk_size) for job_id, ids in by_job.items()}


def stalled_jobs(session: Session, lease_s: int) -> tuple[list[str], list[str]]:
    """Jobs whose doorbell was lost: queued but never planned, or running with nothing
    left to do (or stopped) but never finalized. Finalizing re-checks under a lock."""
    cutoff = utcnow() - timedelta(seconds=lease_s)
    unplanned = list(session.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED, Job.created_at < cutoff)))
    open_items = select(WorkItem.id).where(WorkItem.job_id == Job.id, WorkItem.status.in_(OPEN_ITEM_STATUSES))
    unfinished = list(
        session.scalars(
            select(Job.id).where(
                Job.status.in_(ACTIVE_STATUSES),
                Job.started_at < cutoff,
                or_(Job.stop_reason.is_not(None), ~open_items.exists()),
            )
        )
    )
    return unplanned, unfinished


def chunked(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
