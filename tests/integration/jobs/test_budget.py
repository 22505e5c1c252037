"""Cancel and budgets stop a job cleanly, keeping what was done, with the reason shown."""

from __future__ import annotations

import time

import pytest

from tests.support.stack import arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_budget_max_requests_stops_the_job_and_keeps_what_was_done(api, start_simulator):
    sim = start_simulator(latency_ms=50)
    teacher = api.add_teacher(sim, max_concurrency=2)
    job = api.submit_label_job(teacher, arithmetic_seeds(40), budget={"max_requests": 7}, params={"chunk_size": 4})
    job = api.wait_for_job(job["id"])

    assert job["status"] == "succeeded"
    assert "budget exhausted" in job["stop_reason"] and "max_requests=7" in job["stop_reason"]
    assert job["usage"]["requests"] == sim.stats()["completions"] == 7
    progress = job["progress"]
    assert progress["accepted"] == 7 and progress["skipped"] == 33 and progress["completed"] == 7
    dataset = api.get(f"/v1/datasets/{job['dataset_id']}").json()
    assert dataset["record_count"] == 7
    events = api.events(job["id"])
    assert any(e["type"] == "budget_exhausted" and e["level"] == "warning" for e in events)


def test_budget_max_cost_stops_the_job(api, start_simulator):
    sim = start_simulator()
    # ~100 prompt tokens at $1000/Mtok: each call costs about $0.1.
    teacher = api.add_teacher(sim, max_concurrency=1, input_price_per_mtok=1000, output_price_per_mtok=1000)
    job = api.submit_label_job(teacher, arithmetic_seeds(30), budget={"max_cost_usd": 0.5}, params={"chunk_size": 30})
    job = api.wait_for_job(job["id"])
    assert job["status"] == "succeeded" and "max_cost_usd=0.5" in job["stop_reason"]
    assert 0 < job["usage"]["requests"] < 30
    assert job["usage"]["requests"] == sim.stats()["completions"]
    # One call at a time: the budget is crossed by at most the call that crossed it.
    per_call = job["usage"]["cost_usd"] / job["usage"]["requests"]
    assert job["usage"]["cost_usd"] < 0.5 + per_call


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
