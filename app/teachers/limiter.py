"""Global pacing of teacher calls, shared by every worker process and host.

Each teacher has one schedule (GCRA used as a scheduler: a call reserves the next free
slot and sleeps until it, so N workers together send at the teacher's rate, with at most
BURST_S worth of calls at once after a pause). Requests and tokens are scheduled
separately; a call takes the later slot.
The rate is the configured `rpm`/`tpm`, lowered to what the provider's
`x-ratelimit-limit-*` headers say, times an AIMD factor: a 429 cuts it by a quarter (at
most once a second, so one burst is one cut) and pushes every caller's next slot past
`Retry-After`; each success adds a little back.

With a Redis broker the schedule lives in Redis (one Lua script per step, using Redis's
clock, so hosts need not agree on time); in the embedded mode it lives in the process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from app.teachers.clients import redis_client

DECREASE = 0.75  # AIMD multiplicative decrease on a 429
INCREASE = 0.005  # additive increase per success: 50 successes undo one cut
MIN_FACTOR = 0.05
CUT_WINDOW_S = 1.0  # one cut per burst of 429s
STATE_TTL_S = 3600
# A rested schedule may send this many seconds' worth of calls at once, as a provider's
# bucket allows, less two calls' worth kept as headroom for network jitter (at a low rate
# a late first call and an on-time second one would otherwise overfill the bucket);
# never while recovering from a 429.
BURST_S = 0.75
HEADROOM_CALLS = 2


@dataclass(frozen=True)
class Limits:
    rpm: int | None
    tpm: int | None


class Limiter(Protocol):
    async def acquire(self, tokens: int) -> None:
        """Wait for this call's slot; `tokens` is the estimate (prompt + max_tokens)."""

    async def rate_limited(self, retry_after_s: float | None) -> float | None:
        """Note a 429; return the new pacing factor when this 429 cut the rate."""

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        """Note a success: give back over-estimated tokens, learn limits from headers."""


_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local s = redis.call('HMGET', KEYS[1], 'tat_req', 'tat_tok', 'factor', 'rpm', 'tpm', 'cooldown')
local factor = tonumber(s[3]) or 1
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(s[4]) and (rpm == 0 or tonumber(s[4]) < rpm) then rpm = tonumber(s[4]) end
if tonumber(s[5]) and (tpm == 0 or tonumber(s[5]) < tpm) then tpm = tonumber(s[5]) end
local burst = 0
if factor >= 1 then burst = tonumber(ARGV[5]) end
local at = math.max(now, tonumber(s[6]) or 0)
local function reserve(field, tat, cost)
  tat = math.max(tat or 0, now)
  local slot = math.max(tat - math.max(0, burst - tonumber(ARGV[6]) * cost), at)
  redis.call('HSET', KEYS[1], field, math.max(tat, slot) + cost)
  return slot
end
if rpm > 0 then at = reserve('tat_req', tonumber(s[1]), 60 / (rpm * factor)) end
if tpm > 0 then at = math.max(at, reserve('tat_tok', tonumber(s[2]), tonumber(ARGV[3]) * 60 / (tpm * factor))) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return tostring(at - now)
"""

_RATE_LIMITED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local s = redis.call('HMGET', KEYS[1], 'factor', 'last_cut', 'cooldown')
local cooldown = now + tonumber(ARGV[1])
if cooldown > (tonumber(s[3]) or 0) then redis.call('HSET', KEYS[1], 'cooldown', cooldown) end
if now - (tonumber(s[2]) or 0) < tonumber(ARGV[2]) then return false end
local factor = math.max(tonumber(ARGV[4]), (tonumber(s[1]) or 1) * tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'factor', factor, 'last_cut', now)
return tostring(factor)
"""

_SUCCEEDED = """
local s = redis.call('HMGET', KEYS[1], 'factor', 'tat_tok')
local factor = tonumber(s[1]) or 1
if factor < 1 then redis.call('HSET', KEYS[1], 'factor', math.min(1, factor + tonumber(ARGV[1]))) end
local tpm = tonumber(ARGV[3])
if tonumber(ARGV[2]) ~= 0 and tpm > 0 and tonumber(s[2]) then
  redis.call('HSET', KEYS[1], 'tat_tok', tonumber(s[2]) - tonumber(ARGV[2]) * 60 / (tpm * factor))
end
if tonumber(ARGV[4]) > 0 then redis.call('HSET', KEYS[1], 'rpm', ARGV[4]) end
if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[1], 'tpm', ARGV[5]) end
return 1
"""


class RedisLimiter:
    def __init__(self, url: str, teacher_id: str, limits: Limits) -> None:
        self._redis = redis_client(url)
        self._key = f"distillery:pacing:{teacher_id}"
        self._limits = limits
        self._reserve = self._redis.register_script(_RESERVE)
        self._cut = self._redis.register_script(_RATE_LIMITED)
        self._succeed = self._redis.register_script(_SUCCEEDED)

    async def acquire(self, tokens: int) -> None:
        limits = [self._limits.rpm or 0, self._limits.tpm or 0, tokens, STATE_TTL_S, BURST_S, HEADROOM_CALLS]
        wait = float(await self._reserve([self._key], limits))
        if wait > 0:
            await asyncio.sleep(wait)

    async def rate_limited(self, retry_after_s: float | None) -> float | None:
        cut = await self._cut([self._key], [retry_after_s or 1.0, CUT_WINDOW_S, DECREASE, MIN_FACTOR])
        return float(cut) if cut is not None else None

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        tpm = learned.tpm or self._limits.tpm or 0
        await self._succeed([self._key], [INCREASE, token_correction, tpm, learned.rpm or 0, learned.tpm or 0])


@dataclass
class _Schedule:
    tat_req: float = 0.0
    tat_tok: float = 0.0
    factor: float = 1.0
    cooldown: float = 0.0
    last_cut: float = -CUT_WINDOW_S
    learned: Limits = field(default_factory=lambda: Limits(None, None))


class LocalLimiter:
    """The same schedule in one process, for the embedded mode (one machine)."""

    _schedules: dict[str, _Schedule] = {}

    def __init__(self, teacher_id: str, limits: Limits) -> None:
        self._s = self._schedules.setdefault(teacher_id, _Schedule())
        self._limits = limits

    def _rates(self) -> tuple[float, float]:
        def lower(configured: int | None, learned: int | None) -> float:
            values = [v for v in (configured, learned) if v]
            return float(min(values)) if values else 0.0

        return lower(self._limits.rpm, self._s.learned.rpm), lower(self._limits.tpm, self._s.learned.tpm)

    async def acquire(self, tokens: int) -> None:
        s, now = self._s, time.monotonic()
        rpm, tpm = self._rates()
        burst = BURST_S if s.factor >= 1 else 0.0
        at = max(now, s.cooldown)

        def reserve(tat: float, cost: float) -> tuple[float, float]:
            tat = max(tat, now)
            slot = max(tat - max(0.0, burst - HEADROOM_CALLS * cost), at)
            return slot, max(tat, slot) + cost

        if rpm:
            at, s.tat_req = reserve(s.tat_req, 60 / (rpm * s.factor))
        if tpm:
            slot, s.tat_tok = reserve(s.tat_tok, tokens * 60 / (tpm * s.factor))
            at = max(at, slot)
        if at > now:
            await asyncio.sleep(at - now)

    async def rate_limited(self, retry_after_s: float | None) -> float | None:
        s, now = self._s, time.monotonic()
        s.cooldown = max(s.cooldown, now + (retry_after_s or 1.0))
        if now - s.last_cut < CUT_WINDOW_S:
            return None
        s.factor, s.last_cut = max(MIN_FACTOR, s.factor * DECREASE), now
        return s.factor

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        s = self._s
        s.factor = min(1.0, s.factor + INCREASE)
        if learned.rpm or learned.tpm:
            s.learned = Limits(learned.rpm or s.learned.rpm, learned.tpm or s.learned.tpm)
        _, tpm = self._rates()
        if token_correction and tpm:
            s.tat_tok -= token_correction * 60 / (tpm * s.factor)


def make_limiter(redis_url: str | None, teacher_id: str, limits: Limits) -> Limiter:
    return RedisLimiter(redis_url, teacher_id, limits) if redis_url else LocalLimiter(teacher_id, limits)
