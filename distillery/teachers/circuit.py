"""A circuit breaker per teacher, shared by every worker process and host.

A teacher starts *unverified*: one call goes first and the others wait for it, so a wrong
key or model costs one request, not one per item. Its answer closes the circuit (calls
flow), or a 401, 403 or 404 marks the teacher *refused* for REFUSED_S: every caller gets
the reason at once and fails its job; so does a teacher that has never answered and fails
every first contact for FIRST_CONTACT_S (a wrong URL). Sustained transient failures of a
teacher that has answered before (FAILURES in a row over at least FAILING_S: connection
errors, timeouts, 5xx) open the circuit: an outage. Calls then wait without spending their
attempts while one probe at a time goes out, with exponential backoff, and the first
answer closes it again. 429s are pacing (see pacing.py), not failure.

The state is one small record per teacher, read before each call and written only when
it changes: with a Redis broker in Redis (an optimistic WATCH/MULTI transaction, Redis's
clock), in the embedded mode in the SQLite file of the pacing schedule.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from redis.exceptions import WatchError

from distillery.teachers.clients import redis_client

T = TypeVar("T")

FAILURES = 5
FAILING_S = 2.0
FIRST_CONTACT_S = 20.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# Long enough for every waiting caller to hear it; short enough that a fixed key is
# tried again by the next retry.
REFUSED_S = 5.0
# A waiting caller looks again this often; a first call is usually answered quickly.
POLL_S = 1.0
FIRST_CONTACT_POLL_S = 0.05
STATE_TTL_S = 7 * 24 * 3600
# A closed circuit seen this recently is taken as still closed: a healthy teacher costs
# no store round trip per call, and an outage is noticed this much later.
CLOSED_FRESH_S = 0.5

State = Literal["unverified", "closed", "open", "refused"]


class Refused(Exception):
    """Calling the teacher cannot help (401, 403, 404, or it never answered); `cause` is a
    predicate: "refused the requests (HTTP 401: ...)"."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass
class Circuit:
    state: State = "unverified"
    verified: bool = False  # the teacher has answered at least once
    failures: int = 0  # transient failures in a row
    first_failure: float = 0.0
    probe_at: float = 0.0  # unverified or open: when the next probe may go
    prober_until: float = 0.0  # a probe is in flight until then
    backoff: float = 0.0
    cause: str = ""
    refused_until: float = 0.0

    def admit(self, now: float, probe_s: float) -> float:
        """0 when a call may go now (as the probe, if the circuit is not closed), else how
        long to wait before asking again. Raises Refused."""
        if self.state == "refused":
            if now < self.refused_until:
                raise Refused(self.cause)
            self.state, self.probe_at, self.prober_until = "unverified", 0.0, 0.0
        if self.state == "closed":
            return 0.0
        if now >= self.probe_at and now >= self.prober_until:
            self.prober_until = now + probe_s
            return 0.0
        poll = FIRST_CONTACT_POLL_S if self.state == "unverified" else POLL_S
        return min(max(self.probe_at, self.prober_until) - now, poll)

    def withdraw(self) -> None:
        """The admitted probe was not sent: the next caller may probe at once."""
        if self.state != "closed":
            self.prober_until = 0.0

    def succeeded(self) -> None:
        self.state, self.verified, self.failures, self.first_failure = "closed", True, 0, 0.0
        self.probe_at = self.prober_until = self.backoff = 0.0
        self.cause = ""

    def failed(self, now: float, cause: str, *, transient: bool) -> None:
        if not transient:
            self.state, self.cause, self.refused_until = "refused", cause, now + REFUSED_S
            return
        self.failures += 1
        self.first_failure = self.first_failure or now
        self.prober_until = 0.0
        failing_s = now - self.first_failure
        if not self.verified and self.failures >= FAILURES and failing_s >= FIRST_CONTACT_S:
            self.state, self.cause, self.refused_until = "refused", f"never answered ({cause})", now + REFUSED_S
            return
        if self.state != "open" and self.verified and self.failures >= FAILURES and failing_s >= FAILING_S:
            self.state, self.backoff = "open", 0.0
        if self.state != "closed":
            self.cause = cause
            self.backoff = min(MAX_BACKOFF_S, self.backoff * 2 or FIRST_BACKOFF_S)
            self.probe_at = now + self.backoff

    @property
    def clean(self) -> bool:
        return self.state == "closed" and self.failures == 0


class Store(Protocol):
    async def update(self, step: Callable[[Circuit, float], T]) -> tuple[T, Circuit]:
        """Run `step(circuit, now)` atomically on the teacher's record; the result and the
        record after it."""


@dataclass(frozen=True)
class Admission:
    circuit: Circuit  # as it was while the caller waited (open: the teacher was down)
    probe: bool  # the call goes as the circuit's probe: it must be sent, or withdrawn


class Breaker:
    """A teacher's circuit as one gateway sees it. The gateway's callers share their looks
    at the store: a chunk's calls start together, and while the first contact or an outage
    keeps them waiting they would otherwise each poll it."""

    def __init__(self, store: Store, probe_s: float) -> None:
        self._store = store
        self._probe_s = probe_s
        self._seen = Circuit()
        # Until then `_seen` answers for the store: a closed circuit for CLOSED_FRESH_S,
        # a verdict to wait for as long as it said.
        self._fresh_until = 0.0
        self._looking = asyncio.Lock()

    async def admit(self, still_wanted: Callable[[], Awaitable[None]]) -> Admission:
        """Wait until a call may go. `still_wanted` is asked before each wait and raises
        when the call is no longer wanted (its job was cancelled). Raises Refused."""
        waited: Circuit | None = None
        while True:
            async with self._looking:
                if time.monotonic() >= self._fresh_until:
                    wait, circuit = await self._store.update(lambda c, now: c.admit(now, self._probe_s))
                    self._saw(circuit, wait)
                    if wait <= 0:  # this call goes: as the probe, unless the circuit is closed
                        return Admission(waited or circuit, probe=circuit.state != "closed")
            if self._seen.clean:
                return Admission(self._seen, probe=False)
            if self._seen.state == "open":
                waited = self._seen
            await still_wanted()
            await asyncio.sleep(max(0.0, self._fresh_until - time.monotonic()))

    def _saw(self, circuit: Circuit, wait: float = 0.0) -> None:
        self._seen = circuit
        if wait > 0:
            self._fresh_until = time.monotonic() + wait
        else:  # a probe, or a failing circuit, must not be taken for the next caller's answer
            self._fresh_until = time.monotonic() + CLOSED_FRESH_S if circuit.clean else 0.0

    async def withdraw(self) -> None:
        """Give back an admitted probe that will not be sent: callers waiting for its
        answer would otherwise wait out its whole timeout, one after another."""
        self._saw((await self._store.update(lambda c, _: c.withdraw()))[1])

    async def succeeded(self) -> None:
        if not self._seen.clean:
            self._saw((await self._store.update(lambda c, _: c.succeeded()))[1])

    async def failed(self, cause: str, *, transient: bool) -> Circuit:
        self._saw((await self._store.update(lambda c, now: c.failed(now, cause, transient=transient)))[1])
        return self._seen


class RedisStore:
    def __init__(self, url: str, teacher_id: str) -> None:
        self._redis = redis_client(url)
        self._key = f"distillery:circuit:{teacher_id}"

    async def update(self, step: Callable[[Circuit, float], T]) -> tuple[T, Circuit]:
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(self._key)
                    raw = await pipe.get(self._key)
                    seconds, micros = await pipe.time()
                    circuit = Circuit(**json.loads(raw)) if raw else Circuit()
                    before = asdict(circuit)
                    result = step(circuit, seconds + micros / 1e6)
                    if asdict(circuit) == before:
                        return result, circuit
                    pipe.multi()
                    pipe.set(self._key, json.dumps(asdict(circuit)), ex=STATE_TTL_S)
                    await pipe.execute()
                    return result, circuit
                except WatchError:
                    continue  # another caller changed it first: read again


class SqliteStore:
    """The embedded mode's: every worker process on the machine shares the file."""

    def __init__(self, path: Path, teacher_id: str) -> None:
        self._db = _sqlite(str(path))
        self._teacher_id = teacher_id

    async def update(self, step: Callable[[Circuit, float], T]) -> tuple[T, Circuit]:
        return await asyncio.to_thread(self._update_now, step)

    def _update_now(self, step: Callable[[Circuit, float], T]) -> tuple[T, Circuit]:
        db, lock = self._db
        with lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                found = db.execute("SELECT state FROM circuits WHERE teacher_id = ?", (self._teacher_id,)).fetchone()
                circuit = Circuit(**json.loads(found[0])) if found else Circuit()
                before = asdict(circuit)
                result = step(circuit, time.time())
                if asdict(circuit) != before:
                    db.execute(
                        "INSERT OR REPLACE INTO circuits (teacher_id, state) VALUES (?, ?)",
                        (self._teacher_id, json.dumps(asdict(circuit))),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return result, circuit


@lru_cache
def _sqlite(path: str) -> tuple[sqlite3.Connection, threading.Lock]:
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS circuits (teacher_id TEXT PRIMARY KEY, state TEXT)")
    return db, threading.Lock()


def make_breaker(redis_url: str | None, data_dir: Path, teacher_id: str, probe_s: float) -> Breaker:
    store: Store = RedisStore(redis_url, teacher_id) if redis_url else SqliteStore(data_dir / "pacing.db", teacher_id)
    return Breaker(store, probe_s)
