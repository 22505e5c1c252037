"""HTTP and Redis clients shared by every chunk a worker process runs on one event loop.

A client per chunk would open fresh connections (and a TLS handshake) for every chunk;
these keep them alive across chunks. Clients belong to the loop that made them, so they
are kept per loop and dropped with it.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo

from distillery.teachers.http import TeacherHTTP

_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def _shared(key: tuple[Any, ...], make: Any) -> Any:
    clients = _per_loop.setdefault(asyncio.get_running_loop(), {})
    if key not in clients:
        clients[key] = make()
    return clients[key]


def teacher_http(base_url: str, api_key: str | None, timeout_s: float) -> TeacherHTTP:
    return _shared(("teacher", base_url, api_key, timeout_s), lambda: TeacherHTTP(base_url, api_key, timeout_s))


# A Redis restart or failover takes seconds: the pacing calls wait it out (backoff from
# 0.1 s to 2 s, about a minute in all) instead of failing the teacher calls in flight.
# redis-py's default gives up after a second or two.
REDIS_OUTAGE_RETRY = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=35)


def redis_client(url: str) -> Redis:
    # DriverInfo() reads package metadata (milliseconds); build it once per client.
    return _shared(("redis", url), lambda: Redis.from_url(url, driver_info=DriverInfo(), retry=REDIS_OUTAGE_RETRY))


async def close_all() -> None:
    """Close this loop's clients (a worker process shutting down, a test's loop ending)."""
    for client in _per_loop.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose() if isinstance(client, Redis) else await client.close()
