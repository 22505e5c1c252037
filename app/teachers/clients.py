"""HTTP and Redis clients shared by every chunk a worker process runs on one event loop.

A client per chunk would open fresh connections (and a TLS handshake) for every chunk;
these keep them alive across chunks. Clients belong to the loop that made them, so they
are kept per loop and dropped with it.
"""

from __future__ import annotations

import asyncio
import ssl
import weakref
from functools import lru_cache
from typing import Any

import certifi
import openai
from openai import AsyncOpenAI
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo

_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


@lru_cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds; once per process is enough.
    return ssl.create_default_context(cafile=certifi.where())


def _shared(key: tuple[Any, ...], make: Any) -> Any:
    clients = _per_loop.setdefault(asyncio.get_running_loop(), {})
    if key not in clients:
        clients[key] = make()
    return clients[key]


def openai_client(base_url: str, api_key: str | None, timeout_s: float) -> AsyncOpenAI:
    return _shared(  # type: ignore[no-any-return]
        ("openai", base_url, api_key, timeout_s),
        lambda: AsyncOpenAI(
            base_url=base_url,
            # Simulators and local servers need no key; the SDK insists on a value.
            api_key=api_key or "no-key",
            max_retries=0,  # retries are ours: paced, and counted per item
            timeout=timeout_s,
            # The SDK's client follows redirects; ours follows none, so a teacher cannot
            # send our requests (its key in their headers, the prompts in their bodies) to
            # a host nobody vetted. A redirect is the teacher's answer: a non-retried
            # `teacher_http_3xx` failure. (A 301/302 would turn the POST into a GET anyway.)
            http_client=openai.DefaultAsyncHttpxClient(verify=_tls(), follow_redirects=False),
        ),
    )


# A Redis restart or failover takes seconds: the pacing calls wait it out (backoff from
# 0.1 s to 2 s, about a minute in all) instead of failing the teacher calls in flight.
# redis-py's default gives up after a second or two.
REDIS_OUTAGE_RETRY = Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=35)


def redis_client(url: str) -> Redis:
    # DriverInfo() reads package metadata (milliseconds); build it once per client.
    return _shared(  # type: ignore[no-any-return]
        ("redis", url), lambda: Redis.from_url(url, driver_info=DriverInfo(), retry=REDIS_OUTAGE_RETRY)
    )


async def close_all() -> None:
    """Close this loop's clients (a worker process shutting down, a test's loop ending)."""
    for client in _per_loop.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose() if isinstance(client, Redis) else await client.close()
