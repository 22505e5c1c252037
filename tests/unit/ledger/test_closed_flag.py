"""The closed-flag check before each attempt: concurrent callers share one read of the flag,
and no caller is answered by a read sent before it asked."""

from __future__ import annotations

import asyncio

import pytest

from distillery.errors import JobClosed
from distillery.ledger.closed_flag import OpenCheck


class FlagStore:
    """Redis's EXISTS on the flag, slow enough for callers to overlap."""

    def __init__(self) -> None:
        self.up = False
        self.reads = 0

    async def exists(self, key: str) -> int:
        self.reads += 1
        up = self.up  # the flag as it is when the read arrives
        await asyncio.sleep(0.01)
        return int(up)


class ClosedJobRow:
    """The job's row, read only when the flag is up: the job was cancelled."""

    async def each(self, fn: object, job_id: str) -> bool:
        return False


def test_callers_that_ask_together_share_one_read():
    flags = FlagStore()
    check = OpenCheck("job_1", ClosedJobRow(), flags)  # type: ignore[arg-type]

    async def scenario() -> None:
        await asyncio.gather(*(check.ensure_open() for _ in range(50)))

    asyncio.run(scenario())
    assert flags.reads == 1


def test_a_caller_is_never_answered_by_a_read_sent_before_it_asked():
    flags = FlagStore()
    check = OpenCheck("job_1", ClosedJobRow(), flags)  # type: ignore[arg-type]

    async def scenario() -> None:
        early = asyncio.create_task(check.ensure_open())
        await asyncio.sleep(0.005)  # its read is on the wire when the job is cancelled
        flags.up = True
        with pytest.raises(JobClosed):
            await check.ensure_open()
        await early  # asked before the cancel: it may go

    asyncio.run(scenario())
    assert flags.reads == 2
