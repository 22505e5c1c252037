"""Budget and usage accounting, in SQL under the job's row lock so concurrent workers
never overspend a count. Each function takes a batch (see app/db/batching.py).

`max_requests` is exact: a call reserves a request (`in_flight_requests`) before it is
sent, and the reservation becomes a paid request when its reply is charged, or is given back.
`max_cost_usd` is checked before each call against what has been charged so far, so calls
already in flight may exceed it by at most their own cost.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import case, insert, select, update
from sqlalchemy.orm import Session

from app.db.models import Job, Usage


@dataclass(frozen=True)
class Charge:
    """One teacher call a job made, or took from the cache (then free)."""

    job_id: str
    teacher_id: str
    request_hash: str
    cached: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


def reserve_requests(session: Session, job_ids: list[str]) -> list[bool]:
    """Reserve one paid request per entry; False where the job's budget is spent or the
    job no longer accepts work (cancelled, stopped)."""
    grants: dict[str, int] = {}
    for job_id, wanted in Counter(job_ids).items():
        job = session.execute(
            select(
                Job.status,
                Job.stop_reason,
                Job.requests,
                Job.in_flight_requests,
                Job.max_requests,
                Job.cost_usd,
                Job.max_cost_usd,
            )
            .where(Job.id == job_id)
            .with_for_update()
        ).one_or_none()
        open_ = job is not None and job.status == "running" and job.stop_reason is None
        granted = 0
        if open_ and (job.max_cost_usd is None or job.cost_usd < job.max_cost_usd):
            left = None if job.max_requests is None else job.max_requests - job.requests - job.in_flight_requests
            granted = wanted if left is None else max(0, min(wanted, left))
        if granted:
            session.execute(
                update(Job).where(Job.id == job_id).values(in_flight_requests=Job.in_flight_requests + granted)
            )
        grants[job_id] = granted
    results = []
    for job_id in job_ids:
        results.append(grants[job_id] > 0)
        grants[job_id] -= 1
    return results


def release_requests(session: Session, job_ids: list[str]) -> list[None]:
    """Give back reservations whose calls were never paid (they failed for good)."""
    for job_id, n in Counter(job_ids).items():
        session.execute(update(Job).where(Job.id == job_id).values(in_flight_requests=_less(n)))
    return [None] * len(job_ids)


def _less(n: int) -> Any:
    # Never below zero: the reaper may already have cleared a dead worker's reservations.
    return case((Job.in_flight_requests > n, Job.in_flight_requests - n), else_=0)


def charge(session: Session, charges: list[Charge]) -> list[None]:
    session.execute(insert(Usage), [asdict(c) for c in charges])
    totals: dict[str, list[int | Decimal]] = defaultdict(lambda: [0, 0, 0, 0, Decimal(0)])
    for c in charges:
        t = totals[c.job_id]
        t[0] += not c.cached
        t[1] += c.cached
        t[2] += c.prompt_tokens
        t[3] += c.completion_tokens
        t[4] += c.cost_usd
    for job_id, (paid, cached, prompt, completion, cost) in totals.items():
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                # A paid reply turns its reservation into a paid request.
                requests=Job.requests + paid,
                in_flight_requests=_less(int(paid)),
                cached_requests=Job.cached_requests + cached,
                prompt_tokens=Job.prompt_tokens + prompt,
                completion_tokens=Job.completion_tokens + completion,
                cost_usd=Job.cost_usd + cost,
            )
        )
    return [None] * len(charges)
