"""Budgets stop a job cleanly, keeping what was done, with the reason shown."""

from __future__ import annotations

import pytest

from tests.support.stack import arithmetic_seeds

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
