"""Finishing a work item on the embedded database: its records, its `done` mark and the
job's counters happen once, however many deliveries finish it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from distillery.db.models import Record, WorkItem
from distillery.db.session import unit_of_work
from distillery.jobs import leases, planning
from distillery.ledger import counters
from distillery.ledger.records import Outcome, RecordDraft, complete_items
from tests.support.ledger_db import TEACHER, create_job, expire_leases, seeds

pytestmark = pytest.mark.usefixtures("embedded_db")


def claimed_job(count: int) -> tuple[str, list[int]]:
    with unit_of_work() as session:
        job_id = create_job(session, seeds(count))
    with unit_of_work() as session:
        (ids,) = planning.plan(session, job_id, chunk_size=count, lease_s=60)
        leases.claim(session, job_id, ids, 60)
    return job_id, ids


def outcome(job_id: str, item_id: int, *statuses: str, output: dict | None = None) -> Outcome:
    drafts = [
        RecordDraft(step="label", instruction=f"task {item_id}", status=status, answer=str(n))  # type: ignore[arg-type]
        for n, status in enumerate(statuses)
    ]
    teacher = {"teacher_id": TEACHER, "teacher_name": "teacher", "model": "m"}
    return Outcome(job_id, item_id, drafts, method="label", teacher=teacher, output=output)


def complete(*outcomes: Outcome) -> list[bool]:
    with unit_of_work() as session:
        return complete_items(session, list(outcomes))


def stored(job_id: str) -> list[tuple[int | None, int, str]]:
    with unit_of_work() as session:
        rows = session.execute(
            select(Record.work_item_id, Record.ordinal, Record.status)
            .where(Record.job_id == job_id)
            .order_by(Record.work_item_id, Record.ordinal)
        )
        return [tuple(row) for row in rows]


def test_an_item_completed_twice_counts_once_and_stores_its_records_once():
    job_id, (first, second) = claimed_job(2)
    assert complete(outcome(job_id, first, "accepted", "rejected")) == [True]
    # A redelivery finishes the same item again, beside one not finished yet.
    again = complete(outcome(job_id, first, "accepted", "rejected"), outcome(job_id, second, "failed"))
    assert again == [False, True]

    assert stored(job_id) == [(first, 0, "accepted"), (first, 1, "rejected"), (second, 0, "failed")]
    with unit_of_work() as session:
        progress = counters.of(session, job_id)
        statuses = set(session.scalars(select(WorkItem.status).where(WorkItem.job_id == job_id)))
    assert (progress.completed, progress.accepted, progress.rejected, progress.failed) == (2, 1, 1, 1)
    assert statuses == {"done"}


def test_an_item_not_held_by_a_lease_is_not_completed():
    job_id, (held, released) = claimed_job(2)
    with unit_of_work() as session:
        leases.release(session, [released])
    assert complete(outcome(job_id, held, "accepted"), outcome(job_id, released, "accepted")) == [True, False]
    assert stored(job_id) == [(held, 0, "accepted")]


def test_an_expired_item_finished_by_its_first_delivery_is_not_finished_by_the_second():
    job_id, (item,) = claimed_job(1)
    with unit_of_work() as session:
        expire_leases(session, [item])
        assert [c["id"] for c in leases.claim(session, job_id, [item], 60)] == [item]  # a second delivery
    assert complete(outcome(job_id, item, "accepted")) == [True]
    assert complete(outcome(job_id, item, "accepted")) == [False]
    with unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Record).where(Record.job_id == job_id)) == 1
        assert counters.of(session, job_id).completed == 1


def test_an_items_output_is_kept_for_the_end_of_its_stage():
    job_id, (item,) = claimed_job(1)
    complete(outcome(job_id, item, "accepted", output={"tasks": ["a", "b"]}))
    with unit_of_work() as session:
        assert session.get(WorkItem, item).output == {"tasks": ["a", "b"]}  # type: ignore[union-attr]
