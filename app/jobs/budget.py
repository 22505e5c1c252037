"""Budget and usage accounting, all in SQL so concurrent workers never overspend a count.

`max_requests` is exact. `max_cost_usd` is checked before each call against what has been
charged so far, so calls already in flight may exceed it by at most their own cost.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, or_, update
from sqlalchemy.orm import Session

from app.db.models import Job, Usage
from app.errors import BudgetExhausted


def reserve_request(session: Session, job_id: str) -> None:
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            or_(Job.max_requests.is_(None), Job.requests < Job.max_requests),
            or_(Job.max_cost_usd.is_(None), Job.cost_usd < Job.max_cost_usd),
        )
        .values(requests=Job.requests + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise BudgetExhausted(job_id)


def release_request(session: Session, job_id: str) -> None:
    """Give back a reservation whose call was never paid (it failed for good)."""
    session.execute(update(Job).where(Job.id == job_id).values(requests=Job.requests - 1))


def charge(
    session: Session,
    job_id: str,
    teacher_id: str,
    key: str,
    *,
    cached: bool,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: Decimal,
) -> None:
    session.execute(
        insert(Usage).values(
            job_id=job_id,
            teacher_id=teacher_id,
            request_hash=key,
            cached=cached,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
        )
    )
    if cached:
        session.execute(update(Job).where(Job.id == job_id).values(cached_requests=Job.cached_requests + 1))
    else:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                prompt_tokens=Job.prompt_tokens + prompt_tokens,
                completion_tokens=Job.completion_tokens + completion_tokens,
                cost_usd=Job.cost_usd + cost_usd,
            )
        )
