"""The group commit on the embedded database: concurrent writers share one transaction,
each resumes with its own result once it committed, and a failing value fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from distillery.db.batching import TransactionBatcher
from distillery.db.models import JobEvent
from distillery.db.session import unit_of_work
from tests.support.ledger_db import create_job, seeds

pytestmark = pytest.mark.usefixtures("embedded_db")


class Events:
    """A bulk write that stores one event per value and remembers each call's values."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.calls: list[list[str]] = []

    def __call__(self, session: Session, values: list[str]) -> Sequence[str]:
        self.calls.append(list(values))
        session.execute(insert(JobEvent), [{"job_id": self.job_id, "type": "note", "message": v} for v in values])
        if "bad" in values:
            raise ValueError("a bad value")
        return [v.upper() for v in values]


def stored_messages(job_id: str) -> list[str]:
    with unit_of_work() as session:
        query = select(JobEvent.message).where(JobEvent.job_id == job_id, JobEvent.type == "note")
        return sorted(session.scalars(query))


@pytest.fixture
def job_id() -> str:
    with unit_of_work() as session:
        return create_job(session, seeds(1))


def test_many_concurrent_writers_share_one_transaction_and_each_gets_its_result(job_id):
    write = Events(job_id)

    async def main() -> list[str]:
        db = TransactionBatcher()
        return await asyncio.gather(*(db.each(write, f"v{n:02}") for n in range(50)))

    assert asyncio.run(main()) == [f"V{n:02}" for n in range(50)]
    assert write.calls == [[f"v{n:02}" for n in range(50)]]
    assert stored_messages(job_id) == [f"v{n:02}" for n in range(50)]


def test_a_failing_value_fails_alone_and_the_others_commit_once(job_id):
    write = Events(job_id)

    async def main() -> list[object]:
        db = TransactionBatcher()
        values = ["a", "bad", "b"]
        return await asyncio.gather(*(db.each(write, v) for v in values), return_exceptions=True)

    a, bad, b = asyncio.run(main())
    assert (a, b) == ("A", "B") and isinstance(bad, ValueError)
    # The batch was rolled back, then each value ran in a transaction of its own.
    assert write.calls == [["a", "bad", "b"], ["a"], ["bad"], ["b"]]
    assert stored_messages(job_id) == ["a", "b"]


def test_different_writes_and_one_offs_run_in_the_same_batch(job_id):
    first, second = Events(job_id), Events(job_id)

    def count_notes(session: Session, job: str) -> int:
        return len(list(session.scalars(select(JobEvent.id).where(JobEvent.job_id == job, JobEvent.type == "note"))))

    async def main() -> list[object]:
        db = TransactionBatcher()
        return await asyncio.gather(
            db.each(first, "x"), db.each(second, "y"), db.each(first, "z"), db.run(count_notes, job_id)
        )

    assert asyncio.run(main()) == ["X", "Y", "Z", 3]  # the one-off sees the batch's own writes
    assert (first.calls, second.calls) == ([["x", "z"]], [["y"]])


def test_a_cancelled_writer_still_commits_its_value(job_id):
    write = Events(job_id)

    async def main() -> None:
        db = TransactionBatcher()
        task = asyncio.create_task(db.each(write, "kept"))
        await asyncio.sleep(0)
        task.cancel()
        await db.drain()

    asyncio.run(main())
    assert stored_messages(job_id) == ["kept"]


class CommitsFail:
    """A bulk write whose transactions never commit, as when the database drops the
    connection at COMMIT."""

    def __call__(self, session: Session, values: list[str]) -> Sequence[str]:
        def refuse(_: Session) -> None:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

        event.listen(session, "before_commit", refuse)
        return [v.upper() for v in values]


def test_writers_whose_commits_fail_each_get_the_error_and_no_result():
    async def main() -> list[object]:
        db = TransactionBatcher()
        return await asyncio.gather(*(db.each(CommitsFail(), f"v{n}") for n in range(2)), return_exceptions=True)

    outcomes = asyncio.run(asyncio.wait_for(main(), timeout=30))
    assert [type(o) for o in outcomes] == [OperationalError] * 2


class CommitFailsOnce:
    """A bulk write whose first transaction loses its connection at COMMIT."""

    def __init__(self) -> None:
        self.tries = 0

    def __call__(self, session: Session, values: list[str]) -> Sequence[str]:
        self.tries += 1
        if self.tries == 1:

            def drop(_: Session) -> None:
                raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

            event.listen(session, "before_commit", drop)
        return [v.upper() for v in values]


def test_a_write_whose_connection_drops_is_tried_again_and_succeeds():
    write = CommitFailsOnce()

    async def main() -> str:
        return await TransactionBatcher().each(write, "v")

    assert asyncio.run(main()) == "V"
    assert write.tries == 2
