"""Global pacing of teacher calls, shared by every worker process and host.

Each teacher has one schedule (GCRA used as a scheduler, `distillery.ratelimit.gcra.reserve`: a
call reserves the next free slot and sleeps until it, so N workers together send at the
teacher's rate, with at most BURST_S worth of calls at once after a pause). Requests and
tokens are scheduled separately; a call takes the later slot.
The rate is the configured `rpm`/`tpm`, lowered to what the provider's
`x-ratelimit-limit-*` headers say, times an AIMD factor: a 429 cuts it by a quarter (at
most once a second, so one burst is one cut) and pushes every caller's next slot past
`Retry-After`; each success adds a little back.

With a Redis broker the schedule lives in Redis (one Lua script per step, using Redis's
clock, so hosts need not agree on time); in the embedded mode, in a SQLite file that the
worker processes of the one machine share.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

from distillery.ratelimit import gcra
from distillery.teachers.clients import redis_client

T = TypeVar("T")

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


_RESERVE = (
    gcra.LUA
    + """
local now = gcra_now()
local s = redis.call('HMGET', KEYS[1], 'tat_req', 'tat_tok', 'factor', 'rpm', 'tpm', 'cooldown')
local factor = tonumber(s[3]) or 1
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(s[4]) and (rpm == 0 or tonumber(s[4]) < rpm) then rpm = tonumber(s[4]) end
if tonumber(s[5]) and (tpm == 0 or tonumber(s[5]) < tpm) then tpm = tonumber(s[5]) end
local burst = 0
if factor >= 1 then burst = tonumber(ARGV[5]) end
local at = math.max(now, tonumber(s[6]) or 0)
local function reserve(field, tat, cost)
  local slot, next_tat = gcra_reserve(tat, now, cost, math.max(0, burst - tonumber(ARGV[6]) * cost), at)
  redis.call('HSET', KEYS[1], field, next_tat)
  return slot
end
if rpm > 0 then at = reserve('tat_req', tonumber(s[1]), 60 / (rpm * factor)) end
if tpm > 0 then at = math.max(at, reserve('tat_tok', tonumber(s[2]), tonumber(ARGV[3]) * 60 / (tpm * factor))) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {tostring(at - now), tostring(factor)}
"""
)

_RATE_LIMITED = (
    gcra.LUA
    + """
local now = gcra_now()
local s = redis.call('HMGET', KEYS[1], 'factor', 'last_cut', 'cooldown')
local cooldown = now + tonumber(ARGV[1])
if cooldown > (tonumber(s[3]) or 0) then redis.call('HSET', KEYS[1], 'cooldown', cooldown) end
if now - (tonumber(s[2]) or 0) < tonumber(ARGV[2]) then return false end
local factor = math.max(tonumber(ARGV[4]), (tonumber(s[1]) or 1) * tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'factor', factor, 'last_cut', now)
return tostring(factor)
"""
)

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
        # What this process last saw of the schedule: a success with nothing to tell it
        # (no cut to recover from, no tokens to give back, no new limits) costs no round trip.
        self._factor = 1.0
        self._learned = Limits(None, None)

    async def acquire(self, tokens: int) -> None:
        limits = [self._limits.rpm or 0, self._limits.tpm or 0, tokens, STATE_TTL_S, BURST_S, HEADROOM_CALLS]
        wait, factor = await self._reserve([self._key], limits)
        self._factor = float(factor)
        if float(wait) > 0:
            await asyncio.sleep(float(wait))

    async def rate_limited(self, retry_after_s: float | None) -> float | None:
        cut = await self._cut([self._key], [retry_after_s or 1.0, CUT_WINDOW_S, DECREASE, MIN_FACTOR])
        return float(cut) if cut is not None else None

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        tpm = learned.tpm or self._limits.tpm or 0
        if self._factor >= 1 and not (token_correction and tpm) and learned == self._learned:
            return
        self._learned = learned
        await self._succeed([self._key], [INCREASE, token_correction, tpm, learned.rpm or 0, learned.tpm or 0])


@dataclass
class _Schedule:
    tat_req: float = 0.0
    tat_tok: float = 0.0
    factor: float = 1.0
    cooldown: float = 0.0
    last_cut: float = -CUT_WINDOW_S
    learned_rpm: float | None = None
    learned_tpm: float | None = None

    def rates(self, limits: Limits) -> tuple[float, float]:
        def lower(configured: float | None, learned: float | None) -> float:
            values = [v for v in (configured, learned) if v]
            return float(min(values)) if values else 0.0

        return lower(limits.rpm, self.learned_rpm), lower(limits.tpm, self.learned_tpm)

    def reserve(self, limits: Limits, tokens: int, now: float) -> float:
        """The time of this call's slot (the Lua _RESERVE, in Python)."""
        rpm, tpm = self.rates(limits)
        burst = BURST_S if self.factor >= 1 else 0.0
        at = max(now, self.cooldown)

        def slot(tat: float, cost: float) -> gcra.Slot:
            return gcra.reserve(tat, now, cost, max(0.0, burst - HEADROOM_CALLS * cost), at)

        if rpm:
            at, self.tat_req = slot(self.tat_req, 60 / (rpm * self.factor))
        if tpm:
            start, self.tat_tok = slot(self.tat_tok, tokens * 60 / (tpm * self.factor))
            at = max(at, start)
        return at

    def rate_limited(self, retry_after_s: float | None, now: float) -> float | None:
        self.cooldown = max(self.cooldown, now + (retry_after_s or 1.0))
        if now - self.last_cut < CUT_WINDOW_S:
            return None
        self.factor, self.last_cut = max(MIN_FACTOR, self.factor * DECREASE), now
        return self.factor

    def succeeded(self, limits: Limits, token_correction: int, learned: Limits) -> None:
        self.factor = min(1.0, self.factor + INCREASE)
        self.learned_rpm = learned.rpm or self.learned_rpm
        self.learned_tpm = learned.tpm or self.learned_tpm
        _, tpm = self.rates(limits)
        if token_correction and tpm:
            self.tat_tok -= token_correction * 60 / (tpm * self.factor)


_FIELDS = [f.name for f in fields(_Schedule)]
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM pacing WHERE teacher_id = ?"
_STORE = f"INSERT OR REPLACE INTO pacing (teacher_id, {', '.join(_FIELDS)}) VALUES (?{', ?' * len(_FIELDS)})"


class SqliteLimiter:
    """The same schedule in a SQLite file, for the embedded mode: every worker process on
    the machine shares it. BEGIN IMMEDIATE makes each read-modify-write atomic, and the
    wall clock is the one clock all processes agree on."""

    def __init__(self, path: Path, teacher_id: str, limits: Limits) -> None:
        self._db = _sqlite(str(path))
        self._teacher_id = teacher_id
        self._limits = limits

    async def acquire(self, tokens: int) -> None:
        now = time.time()
        at = await self._update(lambda s: s.reserve(self._limits, tokens, now))
        if at > now:
            await asyncio.sleep(at - now)

    async def rate_limited(self, retry_after_s: float | None) -> float | None:
        return await self._update(lambda s: s.rate_limited(retry_after_s, time.time()))

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        await self._update(lambda s: s.succeeded(self._limits, token_correction, learned))

    async def _update(self, step: Callable[[_Schedule], T]) -> T:
        return await asyncio.to_thread(self._update_now, step)

    def _update_now(self, step: Callable[[_Schedule], T]) -> T:
        db, lock = self._db
        with lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute(_SELECT, (self._teacher_id,)).fetchone()
                schedule = _Schedule(*found) if found else _Schedule()
                result = step(schedule)
                db.execute(_STORE, (self._teacher_id, *astuple(schedule)))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return result


@lru_cache
def _sqlite(path: str) -> tuple[sqlite3.Connection, threading.Lock]:
    """One connection per process and file; the lock serialises this process's threads."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    columns = ", ".join(f"{name} REAL" for name in _FIELDS)
    db.execute(f"CREATE TABLE IF NOT EXISTS pacing (teacher_id TEXT PRIMARY KEY, {columns})")
    return db, threading.Lock()


def make_limiter(redis_url: str | None, data_dir: Path, teacher_id: str, limits: Limits) -> Limiter:
    if redis_url:
        return RedisLimiter(redis_url, teacher_id, limits)
    return SqliteLimiter(data_dir / "pacing.db", teacher_id, limits)
