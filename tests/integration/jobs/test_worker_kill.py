"""A worker killed mid-job: the lease reaper re-dispatches its items and the job completes
with every item done exactly once, and no reply the service stored is paid for twice."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.stack import arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def paid_requests(job_id: str) -> list[str]:
    """The request hashes of the job's ledger entries for replies it paid for (not cached)."""
    from sqlalchemy import select

    from distillery.db.models import Usage
    from distillery.db.session import unit_of_work

    with unit_of_work() as session:
        return list(session.scalars(select(Usage.request_hash).where(Usage.job_id == job_id, ~Usage.cached)))


def test_a_worker_killed_mid_job_loses_no_item_and_duplicates_no_record(
    tenant_api, short_lease_worker, start_simulator
):
    api, worker = tenant_api, short_lease_worker
    sim = start_simulator(latency_ms=250)
    teacher = api.add_teacher(sim, max_concurrency=4)
    job = api.submit_label_job(teacher, arithmetic_seeds(40), params={"chunk_size": 4})
    wait_until(lambda: api.job(job["id"])["progress"]["completed"] >= 6, what="progress before the kill")

    worker.kill()  # SIGKILL: no graceful shutdown, no ack, leases left behind
    done_at_kill = api.job(job["id"])["progress"]["completed"]
    assert done_at_kill < 40
    worker.start()

    job = api.wait_for_job(job["id"], timeout_s=180)
    assert job["status"] == "succeeded"
    assert job["progress"]["completed"] == job["progress"]["accepted"] == 40
    records = api.records(job["id"])
    assert len(records) == 40
    assert Counter(r["seed_ids"][0] for r in records) == Counter(s["id"] for s in arithmetic_seeds(40))
    stats = sim.stats()
    # Only replies lost with the killed processes (at most one per concurrent call in
    # flight: 2 processes x 4 slots) can have been asked for again; the rest came from
    # the cache or were never repeated.
    assert stats["duplicate_requests"] <= 8
    assert stats["completions"] <= 40 + 8
    # Nothing the service stored was paid twice: its ledger holds each paid request once,
    # and every reply the teacher served again is one that never reached the ledger (lost
    # in flight with the killed processes).
    paid = paid_requests(job["id"])
    assert len(paid) == len(set(paid)) == 40
    # The usage the job reports is what it paid: the killed worker's reservations are not.
    assert job["usage"]["requests"] == len(paid)
    assert stats["repeated_replies"] <= stats["completions"] - len(paid)
    events = [e["type"] for e in api.events(job["id"])]
    assert events[-1] == "succeeded"


def test_a_worker_killed_while_its_batch_runs_is_replaced_by_one_that_polls_the_same_batch(
    tenant_api, short_lease_worker, start_simulator
):
    api, worker = tenant_api, short_lease_worker
    sim = start_simulator(batch_delay_s=3)
    teacher = api.add_teacher(sim, supports_batch=True)
    job = api.submit_label_job(teacher, arithmetic_seeds(12), params={"mode": "batch", "chunk_size": 12})
    wait_until(lambda: any(e["type"] == "batch_submitted" for e in api.events(job["id"])), what="the batch")

    worker.kill()
    worker.start()

    job = api.wait_for_job(job["id"], timeout_s=180)
    stats = sim.stats()
    assert job["status"] == "succeeded"
    assert job["progress"]["completed"] == 12
    # The batch was submitted and paid for once; the new worker found it and polled it.
    assert stats["batches"] == 1
    assert stats["completions"] == stats["batch_lines"] == job["usage"]["requests"] == 12
    assert any(e["type"] == "batch_resumed" for e in api.events(job["id"]))


def test_a_budget_stopped_job_whose_workers_were_all_killed_finalizes(tenant_api, short_lease_worker, start_simulator):
    api, worker = tenant_api, short_lease_worker
    sim = start_simulator(latency_ms=400)
    teacher = api.add_teacher(sim, max_concurrency=8)
    job = api.submit_label_job(teacher, arithmetic_seeds(200), params={"chunk_size": 8}, budget={"max_requests": 20})
    wait_until(lambda: sim.stats()["completions"] >= 6, what="calls before the kill")
    worker.kill()
    worker.start()
    job = api.wait_for_job(job["id"], timeout_s=180)
    assert job["status"] == "succeeded" and "budget exhausted" in job["stop_reason"]
    assert job["usage"]["requests"] <= 20 and f"spent {job['usage']['requests']} requests" in job["stop_reason"]
    assert job["progress"]["completed"] + job["progress"]["skipped"] == 200
