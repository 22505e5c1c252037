"""Group commit for one event loop: the small writes of concurrent teacher calls run
together in one transaction, on one worker thread, and each caller resumes only after
its batch has committed.

This keeps "persisted before the next await" (a caller awaits its own commit) while a
chunk of N concurrent items costs a few statements per round instead of a few per item:
`each(bulk_fn, x)` queues `x` for one call `bulk_fn(session, [x, ...])` that handles all
queued values in set-based statements and returns one result per value, or None when it
only writes (each caller then gets None). `run(fn, ...)` is the one-off form. No
database work runs on the event loop. If a batch raises, it is rolled back and each
operation re-run in its own transaction, so one failure neither spoils nor is hidden by
the others, and a dropped connection costs a retry, not a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from distillery.db.session import unit_of_work

A = TypeVar("A")
T = TypeVar("T")
MAX_BATCH = 256
# Under load (the last batch held more than one operation), a batch waits this long for
# more to join, as Postgres' commit_delay does when commit_siblings are active: on a busy
# worker the cost of a transaction, not its latency, bounds the pace.
LINGER_S = 0.015
# An operation that failed in its batch is tried alone this many times, pausing 0.2 s,
# 0.4 s, ... between tries that lose the connection.
ALONE_ATTEMPTS = 4
ALONE_PAUSE_S = 0.2

BulkFn = Callable[[Session, list[Any]], Sequence[Any] | None]


@dataclass(eq=False)  # identity equality: each one-off is a group of its own
class _OneOff:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __call__(self, session: Session, _: list[None]) -> list[Any]:
        return [self.fn(session, *self.args, **self.kwargs)]


_Op = tuple[BulkFn, Any, "asyncio.Future[Any]"]


class TransactionBatcher:
    def __init__(self) -> None:
        self._pending: list[_Op] = []
        self._flusher: asyncio.Task[None] | None = None
        self._last_batch = 0

    @overload
    async def each(self, bulk_fn: Callable[[Session, list[A]], Sequence[T]], value: A) -> T: ...

    @overload
    async def each(self, bulk_fn: Callable[[Session, list[A]], None], value: A) -> None: ...

    async def each(self, bulk_fn: Callable[[Session, list[A]], Sequence[T] | None], value: A) -> T | None:
        """`bulk_fn(session, [value, ...])[i]` for this value (None for a write-only
        `bulk_fn`), run with the next batch."""
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._pending.append((bulk_fn, value, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # A cancelled caller does not withdraw its write: it still commits with the batch.
        return await asyncio.shield(future)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(session, *args, **kwargs)`, run with the next batch."""
        result: T = await self.each(_OneOff(fn, args, kwargs), None)
        return result

    async def drain(self) -> None:
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        if self._last_batch > 1:  # others are writing too: let them join this batch
            await asyncio.sleep(LINGER_S)
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            self._last_batch = len(batch)
            outcomes = await asyncio.to_thread(_execute, batch)
            for (*_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _apply(session: Session, batch: list[_Op]) -> list[Any]:
    groups: dict[BulkFn, list[int]] = {}
    for i, (fn, _, _) in enumerate(batch):
        groups.setdefault(fn, []).append(i)
    results: list[Any] = [None] * len(batch)
    for fn, positions in groups.items():
        values = fn(session, [batch[i][1] for i in positions])
        if values is None:  # a write-only bulk function: nothing to hand back
            continue
        for i, value in zip(positions, values, strict=True):
            results[i] = value
    return results


def _execute(batch: list[_Op]) -> list[tuple[bool, Any]]:
    try:
        with unit_of_work() as session:
            return [(True, value) for value in _apply(session, batch)]
    except Exception as exc:
        # A lost connection (or SQLite busy) is worth another try, on a fresh connection
        # (the pool pings before it lends one); one operation that failed alone for another
        # reason would fail the same way again.
        if len(batch) == 1 and not isinstance(exc, OperationalError):
            return [(False, exc)]
    return [_alone(op) for op in batch]


def _alone(op: _Op) -> tuple[bool, Any]:
    """One operation in transactions of its own, again (after a pause) while the database
    connection is what fails: a reply that cannot be stored would be paid for again."""
    tries = 0
    while True:
        tries += 1
        try:
            with unit_of_work() as session:
                value = _apply(session, [op])[0]
            # Only once committed: a commit that fails must not leave a success behind.
            return True, value
        except OperationalError as exc:
            if tries == ALONE_ATTEMPTS:
                return False, exc
            time.sleep(ALONE_PAUSE_S * 2 ** (tries - 1))
        except Exception as exc:
            return False, exc
