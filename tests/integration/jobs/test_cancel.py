"""Cancel stops a job cleanly: what was done is kept, and no new teacher request starts."""

from __future__ import annotations

import time

import pytest

from tests.support.stack import arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_cancel_stops_a_running_job_and_no_more_requests_are_paid(api, start_simulator):
    sim = start_simulator(latency_ms=300)
    teacher = api.add_teacher(sim, max_concurrency=2)
    job = api.submit_label_job(teacher, arithmetic_seeds(60), params={"chunk_size": 4})
    wait_until(lambda: api.job(job["id"])["progress"]["completed"] >= 2, what="some progress")

    cancelled = api.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    # In-flight calls may still land; after they do the teacher sees nothing more.
    settled = sim.wait_quiet()
    final = api.job(job["id"])
    assert final["status"] == "cancelled" and final["dataset_id"] is None
    assert final["progress"]["completed"] < 60 and final["progress"]["skipped"] > 0
    assert settled < 60
    assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409
    events = [e["type"] for e in api.events(job["id"])]
    assert "cancelled" in events


def test_after_cancel_returns_no_new_teacher_request_starts(api, start_simulator):
    # Paced at 2 requests a second with 4 slots in each worker process: most calls have
    # reserved their budget and wait for a pacing slot when the cancel comes.
    sim = start_simulator(latency_ms=200)
    max_concurrency = 4
    teacher = api.add_teacher(sim, max_concurrency=max_concurrency, rpm=120)
    job = api.submit_label_job(teacher, arithmetic_seeds(300), params={"chunk_size": 50})
    wait_until(lambda: api.job(job["id"])["progress"]["completed"] >= 3, what="some progress")

    cancelled = api.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200
    at_cancel, returned_at = sim.stats()["requests"], time.monotonic()

    # In flight at the cancel: at most one per slot, already counted; they may finish.
    settled = sim.wait_quiet(quiet_s=3.0)
    after = settled - at_cancel
    print(f"requests after cancel returned: {after} (in {time.monotonic() - returned_at:.1f}s)")
    assert after <= max_concurrency
    final = api.job(job["id"])
    assert final["status"] == "cancelled" and final["progress"]["skipped"] > 0
    assert sim.stats()["requests"] == settled
