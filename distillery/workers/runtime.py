"""The worker process's runtime: a fresh DB engine after fork (never share pooled
connections across processes), connected before the first task arrives rather than during
it; and the process's one event loop, on which the sync Celery tasks run their coroutines
(`run_async`, the single sync/async bridge)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any, TypeVar

# Imported here, in the parent before it forks: datasketch (with scipy, half a second)
# would otherwise be imported by each child's first dataset build.
import datasketch  # noqa: F401
from celery.signals import worker_process_init
from sqlalchemy.orm import configure_mappers

from distillery.db.session import get_engine, reset_engine

T = TypeVar("T")

# Mapper configuration runs once, here in the parent, not in every child's first task.
configure_mappers()


@worker_process_init.connect
def _fresh_engine_after_fork(**_: object) -> None:
    reset_engine()
    try:
        get_engine().connect().close()  # the pool keeps it for the first task
    except Exception:  # the database may be down now and back later; tasks will say so
        return


_runner: asyncio.Runner | None = None


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to the end on this process's event loop. The loop is created on first use
    and kept across tasks, so teacher and Redis connections (one set per loop,
    distillery/teachers/clients.py) are reused instead of reopened for every chunk.

    `work` runs in a copy of the caller's context (by default a Runner would use the one it
    copied when it was made): what the task bound for its log lines (its job and request
    ids) is seen by the coroutine and everything it starts."""
    global _runner
    if _runner is None:
        _runner = asyncio.Runner()
    return _runner.run(work, context=contextvars.copy_context())
