"""Group commit for one event loop: the small writes of concurrent teacher calls run
together in one transaction, on one worker thread, and each caller resumes only after
its batch has committed.

This keeps "persisted before the next await" (a caller awaits its own commit) while a
chunk of N concurrent items costs about one transaction per round instead of N, and no
database work runs on the event loop. If an operation in a batch raises, the batch is
rolled back and each operation re-run in its own transaction, so one failure (say, a
budget that ran out) neither spoils nor is hidden by the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from app.db.session import unit_of_work

T = TypeVar("T")
MAX_BATCH = 256

_Op = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class TransactionBatcher:
    def __init__(self) -> None:
        self._pending: list[_Op] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(session, *args, **kwargs)` in the next batch and return its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, args, kwargs, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # A cancelled caller does not withdraw its write: it still commits with the batch.
        return await asyncio.shield(future)

    async def drain(self) -> None:
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            outcomes = await asyncio.to_thread(_execute, batch)
            for (*_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _call(session: Session, op: _Op) -> Any:
    fn, args, kwargs, _ = op
    return fn(session, *args, **kwargs)


def _execute(batch: list[_Op]) -> list[tuple[bool, Any]]:
    try:
        with unit_of_work() as session:
            return [(True, _call(session, op)) for op in batch]
    except Exception as exc:
        if len(batch) == 1:
            return [(False, exc)]
    outcomes: list[tuple[bool, Any]] = []
    for op in batch:
        try:
            with unit_of_work() as session:
                outcomes.append((True, _call(session, op)))
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes
