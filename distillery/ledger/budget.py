"""Budget reservations and the cost ledger.

A call reserves its worst case before it is sent: one request and the cost of its
estimated prompt plus `max_tokens` at the teacher's prices. The reservation is held in the
job's row (`in_flight_requests`, `in_flight_cost_usd`) and given back once the reply is
charged (the spend is committed first, so a reader never sees neither) or the call failed.
So `max_requests` is exact and `max_cost_usd` is exceeded by at most one request's worst
case: a call whose worst case does not fit waits while others are in flight, and goes
alone only when nothing else is.

Each worker process's share of a job's reservations is kept beside it (`budget_holds`) and
renewed with the process's leases: a killed worker's reservations would otherwise stay
in flight and hold back every later call of the job. A reservation first gives back the
holds on its job that were not renewed for a lease's length (the worker that could
answer for them is dead; its items' leases ran out too).

Only jobs with a budget hold reservations (the gateway asks none for the others; whether
a job still takes work is asked before each attempt, distillery/ledger/closed_flag.py).
Reservations lock the job's row (FOR NO KEY UPDATE, which never conflicts with the
key-share locks that inserts of records and usage take) in short transactions of their
own, apart from the group commit: see distillery/jobs/execution.py.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.orm import Session

from distillery.db.base import utcnow
from distillery.db.models import BudgetHold, Job, Usage
from distillery.db.upsert import insert_for
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.schemas.status import ACTIVE_STATUSES
from distillery.settings import get_settings

# held: reserved in the job's row, to be released; free: the job has no budget to hold it;
# wait: it would not fit beside the calls in flight, ask again when they are settled;
# exhausted: the budget is spent; closed: the job takes no more work.
Verdict = Literal["held", "free", "wait", "exhausted", "closed"]


@dataclass(frozen=True)
class Reservation:
    job_id: str
    cost_usd: Decimal  # the call's worst case
    # A Batch API line's: held by its batch row, which any worker may finish, not by this
    # process.
    batched: bool = False


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
    # HTTP attempts it took, and how many of them got an error.
    attempts: int = 0
    errors: int = 0


def reserve(session: Session, asks: list[Reservation]) -> list[Verdict]:
    by_job: dict[str, list[int]] = defaultdict(list)
    for i, ask in enumerate(asks):
        by_job[ask.job_id].append(i)
    verdicts: list[Verdict] = ["closed"] * len(asks)
    for job_id in sorted(by_job):  # one lock order
        positions = by_job[job_id]
        for i, verdict in zip(positions, _reserve(session, job_id, [asks[i] for i in positions]), strict=True):
            verdicts[i] = verdict
    return verdicts


def _reserve(session: Session, job_id: str, asks: list[Reservation]) -> list[Verdict]:
    columns = (Job.status, Job.stop_reason, Job.max_requests, Job.max_cost_usd)
    job = session.execute(select(*columns).where(Job.id == job_id)).one_or_none()
    if job is None or job.status not in ACTIVE_STATUSES or job.stop_reason is not None:
        return ["closed"] * len(asks)
    if job.max_requests is None and job.max_cost_usd is None:
        return ["free"] * len(asks)
    # Lock first, then read the spend in a statement of its own: its snapshot then holds
    # every charge whose reservation was given back before this lock was granted.
    locked = session.execute(
        select(*columns, Job.in_flight_requests, Job.in_flight_cost_usd)
        .where(Job.id == job_id)
        .with_for_update(key_share=True)
    ).one()
    if locked.status not in ACTIVE_STATUSES or locked.stop_reason is not None:
        return ["closed"] * len(asks)
    spent = counters.of(session, job_id)
    in_flight, in_flight_cost = locked.in_flight_requests, locked.in_flight_cost_usd
    if in_flight:
        dead_requests, dead_cost = _forget_stale_holds(session, job_id)
        in_flight, in_flight_cost = max(0, in_flight - dead_requests), max(Decimal(0), in_flight_cost - dead_cost)
    verdicts: list[Verdict] = []
    for ask in asks:
        max_requests, max_cost = locked.max_requests, locked.max_cost_usd
        if (max_requests is not None and spent.requests >= max_requests) or (
            max_cost is not None and spent.cost_usd >= max_cost
        ):
            verdicts.append("exhausted")
            continue
        requests_fit = max_requests is None or spent.requests + in_flight < max_requests
        cost_fits = max_cost is None or spent.cost_usd + in_flight_cost + ask.cost_usd <= max_cost
        if requests_fit and (cost_fits or in_flight == 0):
            in_flight, in_flight_cost = in_flight + 1, in_flight_cost + ask.cost_usd
            verdicts.append("held")
        else:
            verdicts.append("wait")
    if (in_flight, in_flight_cost) != (locked.in_flight_requests, locked.in_flight_cost_usd):
        session.execute(
            update(Job).where(Job.id == job_id).values(in_flight_requests=in_flight, in_flight_cost_usd=in_flight_cost)
        )
    mine = [ask for ask, verdict in zip(asks, verdicts, strict=True) if verdict == "held" and not ask.batched]
    if mine:
        _hold(session, job_id, len(mine), sum((ask.cost_usd for ask in mine), Decimal(0)))
    return verdicts


_holders: dict[int, str] = {}


def holder() -> str:
    """This process as the holder of its reservations: host, pid and a random tag (a pid
    is reused after a restart)."""
    pid = os.getpid()
    if pid not in _holders:
        _holders[pid] = f"{socket.gethostname()[:50]}:{pid}:{secrets.token_hex(4)}"
    return _holders[pid]


def _hold(session: Session, job_id: str, requests: int, cost: Decimal) -> None:
    row = {"job_id": job_id, "holder": holder(), "requests": requests, "cost_usd": cost, "renewed_at": utcnow()}
    stmt = insert_for(session, BudgetHold).values(row)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["job_id", "holder"],
            set_={
                "requests": BudgetHold.requests + stmt.excluded.requests,
                "cost_usd": BudgetHold.cost_usd + stmt.excluded.cost_usd,
                "renewed_at": stmt.excluded.renewed_at,
            },
        )
    )


def _forget_stale_holds(session: Session, job_id: str) -> tuple[int, Decimal]:
    """Drop the job's holds that were not renewed for a lease's length; what they held."""
    cutoff = utcnow() - timedelta(seconds=get_settings().lease_seconds)
    gone = session.execute(
        delete(BudgetHold)
        .where(BudgetHold.job_id == job_id, BudgetHold.renewed_at < cutoff)
        .returning(BudgetHold.requests, BudgetHold.cost_usd)
    ).all()
    return sum(n for n, _ in gone), sum((cost for _, cost in gone), Decimal(0))


def renew_holds(session: Session, job_id: str) -> None:
    """This process still holds its reservations on the job (called with its lease renewals)."""
    session.execute(
        update(BudgetHold).where(BudgetHold.job_id == job_id, BudgetHold.holder == holder()).values(renewed_at=utcnow())
    )


def forget_holds(session: Session, job_id: str) -> None:
    """A job starting over (retry) holds nothing."""
    session.execute(delete(BudgetHold).where(BudgetHold.job_id == job_id))


def release(session: Session, holds: list[Reservation]) -> None:
    """Give back held reservations: their calls were charged, or failed for good."""
    totals: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for hold in holds:
        totals[hold.job_id][0] += 1
        totals[hold.job_id][1] += hold.cost_usd
    for job_id, (n, cost) in sorted(totals.items()):  # one lock order
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                in_flight_requests=_less(Job.in_flight_requests, n),
                in_flight_cost_usd=_less(Job.in_flight_cost_usd, cost),
            )
        )
    mine: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for hold in holds:
        if not hold.batched:
            mine[hold.job_id][0] += 1
            mine[hold.job_id][1] += hold.cost_usd
    me = holder()
    for job_id, (n, cost) in sorted(mine.items()):
        session.execute(
            update(BudgetHold)
            .where(BudgetHold.job_id == job_id, BudgetHold.holder == me)
            .values(requests=_less(BudgetHold.requests, n), cost_usd=_less(BudgetHold.cost_usd, cost))
        )


def _less(column: Any, n: int | Decimal) -> Any:
    # Never below zero: the reaper may already have cleared a dead worker's reservations.
    return case((column > n, column - n), else_=0)


def charge(session: Session, charges: list[Charge]) -> None:
    """Write calls to the usage ledger and the job's counters."""
    # On the table, not the entity: a plain executemany, without the ORM's bulk machinery.
    session.execute(
        insert(Usage.__table__),  # type: ignore[arg-type]  # __table__ is typed as a FromClause
        [
            {
                "job_id": c.job_id,
                "teacher_id": c.teacher_id,
                "request_hash": c.request_hash,
                "cached": c.cached,
                "prompt_tokens": c.prompt_tokens,
                "completion_tokens": c.completion_tokens,
                "cost_usd": c.cost_usd,
            }
            for c in charges
        ],
    )
    counters.add_usage(session, ((c.job_id, c.teacher_id, _counts(c)) for c in charges))


def _counts(c: Charge) -> Counts:
    if c.cached:
        return Counts(cached_requests=1)
    return Counts(
        sent_requests=c.attempts,
        requests=1,
        failed_requests=c.errors,
        prompt_tokens=c.prompt_tokens,
        completion_tokens=c.completion_tokens,
        cost_usd=c.cost_usd,
    )


def unpaid(session: Session, calls: list[tuple[str, str, int]]) -> None:
    """Count calls that got no usable reply: `(job_id, teacher_id, attempts)`, every
    attempt an error."""
    deltas = ((job_id, teacher_id, Counts(sent_requests=n, failed_requests=n)) for job_id, teacher_id, n in calls)
    counters.add_usage(session, deltas)
