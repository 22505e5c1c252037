"""Planning a job on the embedded database: its items from its seeds, spread over its
teachers, planned once however often the doorbell rings; and which seeds it plans once
and records the repeats of as rejected."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from distillery.db.models import Job, JobEvent, Record, Teacher, WorkItem
from distillery.db.session import unit_of_work
from distillery.jobs import planning
from distillery.jobs.planning import duplicate_seeds
from distillery.ledger import counters
from tests.support.ledger_db import TENANT, create_job, seeds


def test_a_repeated_seed_names_the_planned_seed_it_repeats():
    seeds = [
        ("q0", {"instruction": "What is 3 * 7?"}),
        ("q1", {"instruction": "What is 4 * 8?"}),
        ("again", {"instruction": "  what is 3*7 ?"}),
        ("other-input", {"instruction": "What is 3 * 7?", "input": "in base 8"}),
        ("twice", {"instruction": "WHAT IS 4 * 8"}),
    ]
    assert duplicate_seeds(seeds, planned={"q0", "q1", "other-input"}) == [(2, "q0"), (4, "q1")]


def test_seeds_left_out_for_another_reason_are_not_duplicates():
    seeds = [("a", {"instruction": "Name a planet"}), ("b", {"instruction": "name a planet!"})]
    assert duplicate_seeds(seeds, planned=set()) == []
    assert duplicate_seeds([], planned=set()) == []


def plan(job_id: str, chunk_size: int = 3) -> list[list[int]]:
    with unit_of_work() as session:
        return planning.plan(session, job_id, chunk_size=chunk_size, lease_s=60)


def stored_items(job_id: str) -> list[WorkItem]:
    with unit_of_work() as session:
        return list(session.scalars(select(WorkItem).where(WorkItem.job_id == job_id).order_by(WorkItem.position)))


@pytest.mark.usefixtures("embedded_db")
def test_a_job_is_planned_into_one_item_per_seed_in_chunks():
    with unit_of_work() as session:
        job_id = create_job(session, seeds(7))
    chunks = plan(job_id)

    items = stored_items(job_id)
    assert chunks == [[i.id for i in items[:3]], [i.id for i in items[3:6]], [items[6].id]]
    assert [i.seed_ids for i in items] == [[f"q{n}"] for n in range(7)]
    assert [i.payload["instruction"] for i in items] == [f"What is {n} + {n}?" for n in range(7)]
    assert {(i.status, i.stage, i.attempts) for i in items} == {("pending", 0, 0)}
    with unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None and (job.status, job.total) == ("running", 7) and job.started_at is not None
        assert list(session.scalars(select(JobEvent.type).where(JobEvent.job_id == job_id))) == ["created", "planned"]


@pytest.mark.usefixtures("embedded_db")
def test_planning_again_adds_nothing():
    with unit_of_work() as session:
        job_id = create_job(session, seeds(4))
    first = plan(job_id)
    assert plan(job_id) == [] and plan(job_id) == []
    assert [i.id for i in stored_items(job_id)] == [item_id for chunk in first for item_id in chunk]
    with unit_of_work() as session:
        assert session.get(Job, job_id).total == 4  # type: ignore[union-attr]


@pytest.mark.usefixtures("embedded_db")
def test_a_jobs_own_chunk_size_wins_and_a_cancelled_job_is_not_planned():
    with unit_of_work() as session:
        job_id = create_job(session, seeds(5), params={"chunk_size": 5})
        cancelled = create_job(session, seeds(2))
        session.get(Job, cancelled).status = "cancelled"  # type: ignore[union-attr]
    assert [len(chunk) for chunk in plan(job_id, chunk_size=2)] == [5]
    assert plan(cancelled) == [] and stored_items(cancelled) == []


@pytest.mark.usefixtures("embedded_db")
def test_repeated_seeds_are_planned_once_and_recorded_as_rejected_duplicates():
    repeated = [*seeds(3), {"id": "again", "instruction": "what is 1 + 1 ?"}]
    with unit_of_work() as session:
        job_id = create_job(session, repeated)
    plan(job_id)
    assert [i.seed_ids for i in stored_items(job_id)] == [["q0"], ["q1"], ["q2"]]
    with unit_of_work() as session:
        rows = session.execute(
            select(Record.seed_ids, Record.status, Record.reject_reason).where(Record.job_id == job_id)
        )
        assert rows.all() == [(["again"], "rejected", "exact_duplicate")]
        assert counters.of(session, job_id).rejected == 1


@pytest.mark.usefixtures("embedded_db")
def test_items_are_spread_over_the_teachers_by_weight():
    with unit_of_work() as session:
        session.add(Teacher(id="tch_other", tenant_id=TENANT, name="other", base_url="http://other/v1", model="m"))
        session.flush()
        shares = [{"teacher": "teacher", "weight": 3}, {"teacher": "other", "weight": 1}]
        job_id = create_job(session, seeds(8), teacher=None, teachers=shares)
    plan(job_id)
    assert Counter(i.teacher_id for i in stored_items(job_id)) == {"tch_core": 6, "tch_other": 2}
    assert planning.spread([3, 1], 4) == [0, 0, 1, 0]
