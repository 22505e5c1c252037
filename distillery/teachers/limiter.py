"""Global pacing of teacher calls, shared by every worker process and host: the schedule of
distillery/teachers/pacing.py, kept where every process sees it. With a Redis broker it
lives in Redis (one Lua script per step, using Redis's clock, so hosts need not agree on
time); in the embedded mode, in a SQLite file that the worker processes of the one machine
share.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import astuple, fields
from functools import lru_cache
from pathlib import Path
from typing import Protocol, TypeVar

from distillery.ratelimit import gcra
from distillery.teachers.clients import redis_client
from distillery.teachers.pacing import (
    BURST_S,
    CUT_HOLD_MAX_S,
    CUT_WINDOW_S,
    DECREASE,
    GUESS_GROWTH,
    GUESS_MARGIN,
    HEADROOM_CALLS,
    INCREASE,
    MIN_FACTOR,
    MIN_GUESS_RPM,
    MIN_SPAN_S,
    WINDOW_S,
    Cut,
    Limits,
    Schedule,
)

T = TypeVar("T")

STATE_TTL_S = 3600


class Limiter(Protocol):
    async def acquire(self, tokens: int) -> None:
        """Wait for this call's slot; `tokens` is the estimate (prompt + max_tokens)."""

    async def rate_limited(self, retry_after_s: float | None) -> Cut | None:
        """Note a 429; return the new pace when this 429 cut the rate."""

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        """Note a success: give back over-estimated tokens, learn limits from headers."""


# The calls a teacher accepted, counted over windows of WINDOW_S for a guess (the Schedule
# methods of the same names): before a guess, the calls sent less those refused (a
# success then costs no round trip); once guessing, the successes, each reported.
_WINDOW = """
local function window_load(key, now)
  local w = redis.call('HMGET', key, 'win_start', 'win_sent', 'win_refused', 'win_ok', 'prev_rate')
  return {start = tonumber(w[1]) or now, sent = tonumber(w[2]) or 0, refused = tonumber(w[3]) or 0,
          ok = tonumber(w[4]) or 0, prev = tonumber(w[5]) or 0}
end
local function window_accepted(w, guessing)
  if guessing then return w.ok end
  return w.sent - w.refused
end
local function window_restart(w, now, prev)
  w.prev, w.start, w.sent, w.refused, w.ok = prev, now, 0, 0, 0
end
local function window_roll(w, now, window_s, guessing)
  if now - w.start >= window_s then window_restart(w, now, window_accepted(w, guessing) / (now - w.start)) end
end
local function window_accepted_per_s(w, now, min_span, guessing)
  local span = now - w.start
  if span < min_span and w.prev > 0 then return w.prev end
  return window_accepted(w, guessing) / math.max(span, min_span)
end
local function window_store(key, w)
  redis.call('HSET', key, 'win_start', w.start, 'win_sent', w.sent, 'win_refused', w.refused, 'win_ok', w.ok,
             'prev_rate', w.prev)
end
"""

_RESERVE = (
    gcra.LUA
    + _WINDOW
    + """
local now = gcra_now()
local s = redis.call('HMGET', KEYS[1], 'tat_req', 'tat_tok', 'factor', 'rpm', 'tpm', 'cooldown', 'guess_rpm')
local factor = tonumber(s[3]) or 1
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tonumber(s[4]) and (rpm == 0 or tonumber(s[4]) < rpm) then rpm = tonumber(s[4]) end
if tonumber(s[5]) and (tpm == 0 or tonumber(s[5]) < tpm) then tpm = tonumber(s[5]) end
local guess = 0
if rpm == 0 then guess = tonumber(s[7]) or 0 end
local burst = 0
if factor >= 1 and guess == 0 then burst = tonumber(ARGV[5]) end
local at = math.max(now, tonumber(s[6]) or 0)
local function reserve(field, tat, cost)
  local slot, next_tat = gcra_reserve(tat, now, cost, math.max(0, burst - tonumber(ARGV[6]) * cost), at)
  redis.call('HSET', KEYS[1], field, next_tat)
  return slot
end
if rpm > 0 then at = reserve('tat_req', tonumber(s[1]), 60 / (rpm * factor))
elseif guess > 0 then at = reserve('tat_req', tonumber(s[1]), 60 / guess) end
if tpm > 0 then at = math.max(at, reserve('tat_tok', tonumber(s[2]), tonumber(ARGV[3]) * 60 / (tpm * factor))) end
if rpm == 0 and guess == 0 then
  local w = window_load(KEYS[1], now)
  window_roll(w, now, tonumber(ARGV[7]), false)
  w.sent = w.sent + 1
  window_store(KEYS[1], w)
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {tostring(at - now), tostring(factor), tostring(guess)}
"""
)

_RATE_LIMITED = (
    gcra.LUA
    + _WINDOW
    + """
local now = gcra_now()
local s = redis.call('HMGET', KEYS[1], 'factor', 'last_cut', 'cooldown', 'rpm', 'guess_rpm', 'tat_req', 'tat_tok')
local cooldown = now + tonumber(ARGV[1])
if cooldown > (tonumber(s[3]) or 0) then redis.call('HSET', KEYS[1], 'cooldown', cooldown) end
local known = tonumber(ARGV[5]) > 0 or tonumber(s[4]) ~= nil
local guessing = tonumber(s[5]) ~= nil
local w = nil
if not known then
  w = window_load(KEYS[1], now)
  window_roll(w, now, tonumber(ARGV[6]), guessing)
  w.refused = w.refused + 1
  window_store(KEYS[1], w)
end
if now - (tonumber(s[2]) or 0) < tonumber(ARGV[2]) then return false end
local factor = math.max(tonumber(ARGV[4]), (tonumber(s[1]) or 1) * tonumber(ARGV[3]))
local scheduled = math.max(now, tonumber(s[6]) or 0, tonumber(s[7]) or 0)
redis.call('HSET', KEYS[1], 'factor', factor, 'last_cut', math.min(scheduled, now + tonumber(ARGV[9])))
local guess = 0
if w then
  local accepted = window_accepted_per_s(w, now, tonumber(ARGV[7]), guessing) * 60
  local last = tonumber(s[5])
  if accepted > 0 then
    guess = accepted * tonumber(ARGV[10])
    if last and last < guess then guess = last end
  elseif last then
    guess = last * tonumber(ARGV[3])
  end
  if guess > 0 then
    guess = math.max(guess, tonumber(ARGV[8]))
    redis.call('HSET', KEYS[1], 'guess_rpm', guess)
    if not guessing then redis.call('HSET', KEYS[1], 'last_cut', now - tonumber(ARGV[2]) + tonumber(ARGV[7])) end
  end
  window_restart(w, now, accepted / 60)
  window_store(KEYS[1], w)
end
return {tostring(factor), tostring(guess)}
"""
)

_SUCCEEDED = (
    gcra.LUA
    + _WINDOW
    + """
local s = redis.call('HMGET', KEYS[1], 'factor', 'tat_tok', 'guess_rpm', 'rpm')
local factor = tonumber(s[1]) or 1
if factor < 1 then redis.call('HSET', KEYS[1], 'factor', math.min(1, factor + tonumber(ARGV[1]))) end
local tpm = tonumber(ARGV[3])
if tonumber(ARGV[2]) ~= 0 and tpm > 0 and tonumber(s[2]) then
  redis.call('HSET', KEYS[1], 'tat_tok', tonumber(s[2]) - tonumber(ARGV[2]) * 60 / (tpm * factor))
end
if tonumber(ARGV[4]) > 0 then redis.call('HSET', KEYS[1], 'rpm', ARGV[4]) end
if tonumber(ARGV[5]) > 0 then redis.call('HSET', KEYS[1], 'tpm', ARGV[5]) end
local known = tonumber(ARGV[7]) > 0 or tonumber(ARGV[4]) > 0 or tonumber(s[4]) ~= nil
if tonumber(s[3]) and not known then
  redis.call('HSET', KEYS[1], 'guess_rpm', tonumber(s[3]) + tonumber(ARGV[6]))
  local now = gcra_now()
  local w = window_load(KEYS[1], now)
  window_roll(w, now, tonumber(ARGV[8]), true)
  w.ok = w.ok + 1
  window_store(KEYS[1], w)
end
return 1
"""
)


class RedisLimiter:
    def __init__(self, url: str, teacher_id: str, limits: Limits) -> None:
        self._redis = redis_client(url)
        self._key = f"distillery:pacing:{teacher_id}"
        self._limits = limits
        self._reserve = self._redis.register_script(_RESERVE)
        self._cut = self._redis.register_script(_RATE_LIMITED)
        self._succeed = self._redis.register_script(_SUCCEEDED)
        # What this process last saw of the schedule: a success with nothing to tell it
        # (no cut to recover from, no guess to count it in, no tokens to give back, no new
        # limits) costs no round trip.
        self._factor = 1.0
        self._guessing = False
        self._learned = Limits(None, None)

    async def acquire(self, tokens: int) -> None:
        args = [self._limits.rpm or 0, self._limits.tpm or 0, tokens, STATE_TTL_S, BURST_S, HEADROOM_CALLS, WINDOW_S]
        wait, factor, guess = await self._reserve([self._key], args)
        self._factor, self._guessing = float(factor), float(guess) > 0
        if float(wait) > 0:
            await asyncio.sleep(float(wait))

    async def rate_limited(self, retry_after_s: float | None) -> Cut | None:
        args = [
            *(retry_after_s or 1.0, CUT_WINDOW_S, DECREASE, MIN_FACTOR),
            *(self._limits.rpm or 0, WINDOW_S, MIN_SPAN_S, MIN_GUESS_RPM, CUT_HOLD_MAX_S, GUESS_MARGIN),
        ]
        cut = await self._cut([self._key], args)
        if cut is None:
            return None
        factor, guess = float(cut[0]), float(cut[1])
        self._guessing = self._guessing or guess > 0
        return Cut(factor, guess or None)

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        tpm = learned.tpm or self._limits.tpm or 0
        quiet = self._factor >= 1 and not self._guessing
        if quiet and not (token_correction and tpm) and learned == self._learned:
            return
        self._learned = learned
        args = [INCREASE, token_correction, tpm, learned.rpm or 0, learned.tpm or 0]
        await self._succeed([self._key], [*args, 60 * GUESS_GROWTH, self._limits.rpm or 0, WINDOW_S])


_FIELDS = [f.name for f in fields(Schedule)]
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

    async def rate_limited(self, retry_after_s: float | None) -> Cut | None:
        return await self._update(lambda s: s.rate_limited(self._limits, retry_after_s, time.time()))

    async def succeeded(self, token_correction: int, learned: Limits) -> None:
        await self._update(lambda s: s.succeeded(self._limits, token_correction, learned, time.time()))

    async def _update(self, step: Callable[[Schedule], T]) -> T:
        return await asyncio.to_thread(self._update_now, step)

    def _update_now(self, step: Callable[[Schedule], T]) -> T:
        db, lock = self._db
        with lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute(_SELECT, (self._teacher_id,)).fetchone()
                schedule = Schedule(*found) if found else Schedule()
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
    # The schedule is soon-stale state, not data: a table of an older layout is replaced.
    found = [row[1] for row in db.execute("PRAGMA table_info(pacing)")]
    if found and found != ["teacher_id", *_FIELDS]:
        db.execute("DROP TABLE pacing")
    columns = ", ".join(f"{name} REAL" for name in _FIELDS)
    db.execute(f"CREATE TABLE IF NOT EXISTS pacing (teacher_id TEXT PRIMARY KEY, {columns})")
    return db, threading.Lock()


def make_limiter(redis_url: str | None, data_dir: Path, teacher_id: str, limits: Limits) -> Limiter:
    if redis_url:
        return RedisLimiter(redis_url, teacher_id, limits)
    return SqliteLimiter(data_dir / "pacing.db", teacher_id, limits)
