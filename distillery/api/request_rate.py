"""Each tenant's API request rate: a token bucket of `tenant_burst` requests refilled at
`tenant_rps` per second (GCRA, `distillery.ratelimit.gcra.admit`: one timestamp per tenant, the
bucket's "theoretical arrival time"). A request over it is a 429 whose Retry-After says
when the next one fits.

With a Redis broker the timestamp lives in Redis (one Lua script, Redis's clock), so every
API process and host counts against the same bucket; in the embedded mode, in this process.
A Redis that cannot be reached lets requests through: the rate limit protects the service,
and refusing every request would be the outage it protects against.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

import redis

from distillery.errors import RateLimited
from distillery.ratelimit import gcra
from distillery.settings import get_settings

log = logging.getLogger(__name__)

KEY_TTL_S = 3600

_ADMIT = (
    gcra.LUA
    + """
local wait, tat = gcra_admit(tonumber(redis.call('GET', KEYS[1])), gcra_now(), tonumber(ARGV[1]), tonumber(ARGV[2]))
if tat == nil then return tostring(wait) end
redis.call('SET', KEYS[1], tat, 'EX', ARGV[3])
return '0'
"""
)


def enabled() -> bool:
    return get_settings().tenant_rps > 0


def admit(tenant_id: str) -> None:
    """Count one request of the tenant; RateLimited when its bucket is empty."""
    if not enabled():
        return
    settings = get_settings()
    interval = 1.0 / settings.tenant_rps
    tolerance = (max(1, settings.tenant_burst) - 1) * interval  # a full bucket's requests at once
    url = settings.pacing_redis_url
    wait = _redis_admit(url, tenant_id, interval, tolerance) if url else _local_admit(tenant_id, interval, tolerance)
    if wait > 0:
        raise RateLimited(settings.tenant_rps, wait)


def _redis_admit(url: str, tenant_id: str, interval: float, tolerance: float) -> float:
    try:
        return float(_script(url)(keys=[f"distillery:request-rate:{tenant_id}"], args=[interval, tolerance, KEY_TTL_S]))
    except redis.RedisError as exc:
        log.warning("request rate not checked, Redis unavailable: %s", type(exc).__name__)
        return 0.0


@lru_cache
def _script(url: str) -> redis.commands.core.Script:
    return redis.Redis.from_url(url, socket_timeout=2).register_script(_ADMIT)


_local: dict[str, float] = {}
_local_lock = threading.Lock()


def _local_admit(tenant_id: str, interval: float, tolerance: float) -> float:
    """The Lua script's arithmetic, for one process."""
    now = time.monotonic()
    with _local_lock:
        wait, tat = gcra.admit(_local.get(tenant_id), now, interval, tolerance)
        if tat is not None:
            _local[tenant_id] = tat
        return wait
