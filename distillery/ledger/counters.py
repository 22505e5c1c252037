"""A job's progress and usage counters, kept in shards so that workers never queue on
one row.

Each writing process adds its deltas to its own rows `(job_id, teacher_id, shard)` (the
shard is picked from the process id; usage is kept per teacher, progress under
NO_TEACHER), so concurrent group commits of different workers touch different rows; a
reader sums the shards. The job's own row is left to lifecycle
transitions and budget reservations (see distillery/ledger/budget.py), which are short
transactions of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from distillery.db.models import JobCounter
from distillery.db.upsert import prepared

SHARDS = 64
# The teacher key of counts that belong to no teacher (progress).
NO_TEACHER = ""


@dataclass(frozen=True)
class Counts:
    """Progress and usage of one job, or what a batch of writes adds to them."""

    completed: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    skipped: int = 0  # items not run: the job was stopped, cancelled or failed first
    # Teacher requests: sent (every HTTP attempt), paid (a usable reply was charged),
    # errored (an attempt that got an error or no answer), and replies from the cache.
    sent_requests: int = 0
    requests: int = 0
    failed_requests: int = 0
    cached_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


NAMES = tuple(f.name for f in fields(Counts))
ZERO = Counts()


def shard() -> int:
    return os.getpid() % SHARDS


def add(session: Session, deltas: Iterable[tuple[str, Counts]]) -> None:
    """Add `(job_id, counts)` deltas of progress to this process's shard of each job."""
    add_usage(session, ((job_id, NO_TEACHER, counts) for job_id, counts in deltas))


def add_usage(session: Session, deltas: Iterable[tuple[str, str, Counts]]) -> None:
    """Add `(job_id, teacher_id, counts)` deltas to this process's shard of each job."""
    merged: dict[tuple[str, str], Counts] = {}
    for job_id, teacher_id, counts in deltas:
        merged[job_id, teacher_id] = merged.get((job_id, teacher_id), ZERO) + counts
    mine = shard()
    # Sorted: several rows are locked in one order by every writer.
    rows = [
        {"job_id": job_id, "teacher_id": teacher_id, "shard": mine, **{n: getattr(c, n) for n in NAMES}}
        for (job_id, teacher_id), c in sorted(merged.items())
        if c != ZERO
    ]
    if rows:
        session.execute(prepared(session, _add_to_shard), rows)


def _add_to_shard(insert: Any) -> Any:
    # On the table, not the entity: a plain executemany, without the ORM's bulk machinery.
    stmt = insert(JobCounter.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["job_id", "teacher_id", "shard"],
        set_={n: getattr(JobCounter.__table__.c, n) + getattr(stmt.excluded, n) for n in NAMES},
    )


def _counts(row: Any) -> Counts:
    values: dict[str, Any] = {n: Decimal(v) if n == "cost_usd" else int(v) for n, v in zip(NAMES, row, strict=True)}
    return Counts(**values)


def totals(session: Session, job_ids: list[str]) -> dict[str, Counts]:
    """Each job's counters, summed over its shards (ZERO for a job with none yet)."""
    found: dict[str, Counts] = {}
    for job_id, _, counts in by_teacher(session, job_ids):
        found[job_id] = found.get(job_id, ZERO) + counts
    return {job_id: found.get(job_id, ZERO) for job_id in job_ids}


def by_teacher(session: Session, job_ids: list[str]) -> list[tuple[str, str, Counts]]:
    """`(job_id, teacher_id, counts)` summed over shards; NO_TEACHER holds the progress."""
    if not job_ids:
        return []
    rows = session.execute(_summed_by_teacher(), {"job_ids": job_ids}).all()
    return [(row[0], row[1], _counts(row[2:])) for row in rows]


@cache
def _summed_by_teacher() -> Select[Any]:
    # Built once: every job status read runs it (SQLAlchemy memoizes the statement's cache key).
    return (
        select(JobCounter.job_id, JobCounter.teacher_id, *(func.sum(getattr(JobCounter, n)) for n in NAMES))
        .where(JobCounter.job_id.in_(bindparam("job_ids", expanding=True)))
        .group_by(JobCounter.job_id, JobCounter.teacher_id)
        .order_by(JobCounter.job_id, JobCounter.teacher_id)
    )


def of(session: Session, job_id: str) -> Counts:
    return totals(session, [job_id])[job_id]


def teacher_usage(session: Session, teacher_ids: list[str]) -> dict[str, Counts]:
    """Each teacher's usage over every job that asked it (teachers never asked are left out)."""
    if not teacher_ids:
        return {}
    rows = session.execute(
        select(JobCounter.teacher_id, *(func.sum(getattr(JobCounter, n)) for n in NAMES))
        .where(JobCounter.teacher_id.in_(teacher_ids))
        .group_by(JobCounter.teacher_id)
    ).all()
    return {row[0]: _counts(row[1:]) for row in rows}
