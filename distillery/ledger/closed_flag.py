"""Whether a job still takes teacher calls, asked right before each HTTP attempt.

`budget.reserve` checks the job's row when a call reserves, but the call may then wait (its
teacher's circuit, a pacing slot, a retry's backoff) and start seconds after a cancel. So
the gateway asks again right before each attempt, and a closed job's call is not sent: it
raises JobClosed, and its item is released.

With a Redis broker, cancel and fail raise a flag in Redis inside their transaction, so it
is up before the API answers; an attempt reads it (one EXISTS, no database query) and, only
when it is up, confirms in the job's row: a flag may outlive a transaction that rolled
back, and a retry reopens the job (and drops the flag). In the embedded mode an attempt
reads the job's row (SQLite, one host's calls).
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache

import redis
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.batching import TransactionBatcher
from distillery.db.models import Job
from distillery.errors import JobClosed
from distillery.schemas.status import ACTIVE_STATUSES
from distillery.settings import get_settings

log = logging.getLogger(__name__)

KEY_PREFIX = "distillery:job-closed:"
# A closed job's calls end within minutes; the flag need not outlast them by much.
FLAG_TTL_S = 24 * 3600


def mark_closed(job_id: str) -> None:
    """Raise the job's flag (before its closing transaction commits)."""
    _set(job_id, closed=True)


def reopen(job_id: str) -> None:
    """Drop the job's flag: a retry runs it again."""
    _set(job_id, closed=False)


def _set(job_id: str, *, closed: bool) -> None:
    url = get_settings().pacing_redis_url
    if url is None:
        return
    try:
        client = _client(url)
        client.set(KEY_PREFIX + job_id, 1, ex=FLAG_TTL_S) if closed else client.delete(KEY_PREFIX + job_id)
    except redis.RedisError as exc:
        # The job's row still says it: new calls are refused when they reserve, only calls
        # already waiting may start.
        log.warning("job %s closed flag not %s, Redis unavailable: %s", job_id, "set" if closed else "dropped", exc)


@lru_cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _open(session: Session, job_ids: list[str]) -> list[bool]:
    statuses = dict(session.execute(select(Job.id, Job.status).where(Job.id.in_(set(job_ids)))).tuples().all())
    return [statuses.get(job_id) in ACTIVE_STATUSES for job_id in job_ids]


class OpenCheck:
    """One job's check, for its gateways on one event loop."""

    def __init__(self, job_id: str, job_row: TransactionBatcher, redis_client: Redis | None) -> None:
        self.job_id = job_id
        self._job_row = job_row
        self._redis = redis_client
        self._next_look: asyncio.Future[bool] | None = None

    async def ensure_open(self) -> None:
        """JobClosed when the job was cancelled or failed."""
        if self._redis is not None and not await self._flag_up():
            return
        if not await self._job_row.each(_open, self.job_id):
            raise JobClosed(self.job_id)

    async def _flag_up(self) -> bool:
        """Whether the flag is up, read after this call asked: the callers that ask in one
        turn of the event loop share one EXISTS, sent once they all have."""
        if self._next_look is None:
            self._next_look = asyncio.ensure_future(self._look())
        return await asyncio.shield(self._next_look)

    async def _look(self) -> bool:
        await asyncio.sleep(0)  # this turn's callers join
        self._next_look = None  # later callers need a later read
        assert self._redis is not None
        return bool(await self._redis.exists(KEY_PREFIX + self.job_id))
