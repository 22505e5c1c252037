"""Work-item leases on the embedded database: a claim holds an item until its lease runs
out, an expired lease is claimed again (or found by the reaper), and a release hands an
item back."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from distillery.db.models import Job, WorkItem
from distillery.db.session import unit_of_work
from distillery.jobs import leases, planning
from distillery.ledger import counters
from tests.support.ledger_db import create_job, expire_leases, seeds

pytestmark = pytest.mark.usefixtures("embedded_db")
LEASE_S = 60


def planned_job(count: int = 4) -> tuple[str, list[int]]:
    """A running job with `count` items, as planning leaves it (leased for dispatch)."""
    with unit_of_work() as session:
        job_id = create_job(session, seeds(count))
    with unit_of_work() as session:
        (ids,) = planning.plan(session, job_id, chunk_size=count, lease_s=LEASE_S)
    return job_id, ids


def claim(job_id: str, ids: list[int]) -> list[dict]:
    with unit_of_work() as session:
        return leases.claim(session, job_id, ids, LEASE_S)


def items(job_id: str) -> dict[int, tuple[str, int]]:
    """Each item's (status, attempts)."""
    with unit_of_work() as session:
        rows = session.execute(select(WorkItem.id, WorkItem.status, WorkItem.attempts).where(WorkItem.job_id == job_id))
        return {item_id: (status, attempts) for item_id, status, attempts in rows}


def test_a_claim_leases_pending_items_and_a_second_claim_gets_none_of_them():
    job_id, ids = planned_job()
    claimed = claim(job_id, ids)
    assert sorted(c["id"] for c in claimed) == ids
    assert [c["seed_ids"] for c in sorted(claimed, key=lambda c: c["position"])] == [["q0"], ["q1"], ["q2"], ["q3"]]
    assert items(job_id) == {i: ("running", 1) for i in ids}

    assert claim(job_id, ids) == []  # a redelivered chunk: every item is held
    assert items(job_id) == {i: ("running", 1) for i in ids}


def test_a_claim_takes_only_the_jobs_own_unfinished_items():
    job_id, ids = planned_job()
    other_id, other_ids = planned_job()
    with unit_of_work() as session:
        session.execute(update(WorkItem).where(WorkItem.id == ids[0]).values(status="done"))
    assert sorted(c["id"] for c in claim(job_id, ids + other_ids)) == ids[1:]
    assert {status for status, _ in items(other_id).values()} == {"pending"}


def test_an_expired_lease_is_claimed_again_with_one_more_attempt():
    job_id, ids = planned_job()
    claim(job_id, ids)
    with unit_of_work() as session:
        expire_leases(session, ids[:2])
    assert sorted(c["id"] for c in claim(job_id, ids)) == ids[:2]
    assert [items(job_id)[i] for i in ids] == [("running", 2), ("running", 2), ("running", 1), ("running", 1)]


def test_a_renewed_lease_is_not_claimed_again():
    job_id, ids = planned_job()
    claim(job_id, ids)
    with unit_of_work() as session:
        expire_leases(session, ids)
        leases.renew(session, job_id, ids[:1], LEASE_S)
    assert [c["id"] for c in claim(job_id, ids)] == ids[1:]


def test_a_released_item_goes_back_to_pending_with_its_lease_run_out():
    job_id, ids = planned_job()
    claim(job_id, ids)
    with unit_of_work() as session:
        leases.release(session, ids[:2])
    assert {i: s for i, (s, _) in items(job_id).items()} == {
        ids[0]: "pending",
        ids[1]: "pending",
        ids[2]: "running",
        ids[3]: "running",
    }
    # Should the job run again, the reaper finds them at once.
    with unit_of_work() as session:
        assert leases.expired(session, LEASE_S, chunk_size=10) == {job_id: [ids[:2]]}


def test_a_closed_jobs_released_items_are_skipped_and_counted():
    job_id, ids = planned_job()
    claim(job_id, ids)
    with unit_of_work() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="cancelled"))
        assert leases.release(session, ids) == [None] * 4
    assert {s for s, _ in items(job_id).values()} == {"skipped"}
    with unit_of_work() as session:
        assert counters.of(session, job_id).skipped == 4


def test_the_reaper_re_leases_expired_items_of_live_jobs_in_chunks():
    job_id, ids = planned_job(5)
    claim(job_id, ids)
    with unit_of_work() as session:
        expire_leases(session, ids[1:])
        found = leases.expired(session, LEASE_S, chunk_size=2)
    assert found == {job_id: [ids[1:3], ids[3:5]]}
    # Back to pending with a fresh lease: the re-dispatched chunks claim them, once.
    with unit_of_work() as session:
        assert leases.expired(session, LEASE_S, chunk_size=2) == {}
    assert sorted(c["id"] for c in claim(job_id, ids)) == ids[1:]


def test_the_reaper_leaves_a_stopped_jobs_expired_items_pending_without_a_dispatch():
    job_id, ids = planned_job()
    claim(job_id, ids)
    with unit_of_work() as session:
        expire_leases(session, ids)
        session.execute(update(Job).where(Job.id == job_id).values(stop_reason="budget"))
        assert leases.expired(session, LEASE_S, chunk_size=10) == {}
    assert {s for s, _ in items(job_id).values()} == {"pending"}
