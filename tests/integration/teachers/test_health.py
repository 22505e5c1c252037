"""A teacher that goes down, refuses the key or outlasts a budget: the job pauses and
resumes, stops after a handful of requests with a reason, or finishes, and a retry runs
what was left, with nothing paid twice."""

from __future__ import annotations

import secrets
import time
from contextlib import ExitStack

import pytest

from tests.support.stack import arithmetic_seeds, simulator
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_teacher_down_for_a_minute_pauses_the_job_which_resumes_and_completes_every_item(api, stack_env, logs):
    from distillery.cli.stack import free_port

    port = free_port()
    with ExitStack() as running:
        sim = running.enter_context(simulator(stack_env, logs, port=port, latency_ms=100))
        teacher = api.add_teacher(sim, max_concurrency=4)
        job = api.submit_label_job(teacher, arithmetic_seeds(120), params={"chunk_size": 10})
        wait_until(lambda: api.job(job["id"])["progress"]["completed"] >= 20, what="progress before the outage")
    # The teacher is gone (its process stopped) for a minute.
    wait_until(lambda: api.job(job["id"])["status"] == "paused", timeout_s=30, what="the job to pause")
    paused = next(e for e in api.events(job["id"]) if e["type"] == "paused")
    assert teacher["name"] in paused["message"] and "teacher_unreachable" in paused["message"]
    time.sleep(60)
    assert api.job(job["id"])["status"] == "paused"
    with simulator(stack_env, logs, port=port, latency_ms=100):
        job = api.wait_for_job(job["id"], timeout_s=180)
    assert job["status"] == "succeeded"
    assert job["progress"]["completed"] == job["progress"]["accepted"] == 120
    assert job["progress"]["failed"] == 0  # calls that failed during the outage were retried
    assert job["usage"]["failed_requests"] > 0 and job["usage"]["requests"] == 120
    assert job["usage"]["sent_requests"] == job["usage"]["requests"] + job["usage"]["failed_requests"]
    kinds = [e["type"] for e in api.events(job["id"])]
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("succeeded")
    assert len(api.records(job["id"])) == 120


def test_a_teacher_that_refuses_the_key_stops_a_1000_item_job_after_a_handful_of_requests(api, start_simulator):
    sim = start_simulator(api_key="sk-the-right-one-" + secrets.token_hex(8))
    wrong_key = "sk-test-" + secrets.token_hex(16)
    teacher = api.add_teacher(sim, max_concurrency=32, api_key=wrong_key)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(1000))["id"], timeout_s=120)
    assert job["status"] == "failed"
    assert "HTTP 401" in job["error"] and "Incorrect API key" in job["error"] and teacher["name"] in job["error"]
    assert sim.stats()["requests"] <= 10
    assert job["usage"]["requests"] == 0 and 1 <= job["usage"]["failed_requests"] <= 10
    wait_until(lambda: api.job(job["id"])["progress"]["skipped"] == 1000, what="every item skipped")
    # The teacher quoted the key back; the service keeps none of it.
    for text in (job["error"], str(api.events(job["id"])), str(api.records(job["id"]))):
        assert wrong_key not in text


def test_a_job_stopped_by_a_refusing_teacher_runs_again_once_the_teacher_takes_the_key(api, stack_env, logs):
    from distillery.cli.stack import free_port

    port = free_port()
    with simulator(stack_env, logs, port=port, api_key="sk-another-" + secrets.token_hex(8)) as sim:
        teacher = api.add_teacher(sim)
        job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(40))["id"])
    assert job["status"] == "failed"
    wait_until(lambda: api.job(job["id"])["progress"]["skipped"] == 40, what="every item skipped")
    time.sleep(6)  # the refusal is remembered for a few seconds (circuit.REFUSED_S)
    with simulator(stack_env, logs, port=port) as sim:
        assert api.post(f"/v1/jobs/{job['id']}/retry").status_code == 202
        job = api.wait_for_job(job["id"])
        assert job["status"] == "succeeded" and job["error"] is None
        assert job["progress"]["completed"] == job["progress"]["accepted"] == 40
        assert job["usage"]["requests"] == sim.stats()["completions"] == 40


def test_a_retry_after_a_budget_stop_with_a_raised_budget_runs_the_rest_without_paying_twice(api, start_simulator):
    sim = start_simulator()
    teacher = api.add_teacher(sim)
    job = api.submit_label_job(teacher, arithmetic_seeds(30), budget={"max_requests": 10})
    job = api.wait_for_job(job["id"])
    assert job["status"] == "succeeded" and job["progress"]["completed"] == 10
    assert job["progress"]["skipped"] == 20 and "spent 10 requests" in job["stop_reason"]
    first_dataset = job["dataset_id"]

    refused = api.post(f"/v1/jobs/{job['id']}/retry", json={"budget": {"max_requests": 0}})
    assert refused.status_code == 422 and "budget.max_requests" in refused.text
    retried = api.post(f"/v1/jobs/{job['id']}/retry", json={"budget": {"max_requests": 100}})
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "running" and retried.json()["budget"]["max_requests"] == 100
    job = api.wait_for_job(job["id"])
    assert job["status"] == "succeeded" and job["stop_reason"] is None
    assert job["progress"]["completed"] == job["progress"]["accepted"] == 30 and job["progress"]["skipped"] == 0
    assert job["usage"]["requests"] == sim.stats()["completions"] == 30
    assert job["dataset_id"] != first_dataset
    assert api.get(f"/v1/datasets/{job['dataset_id']}").json()["record_count"] == 30
    again = api.post(f"/v1/jobs/{job['id']}/retry")
    assert again.status_code == 202
    job = api.wait_for_job(job["id"])
    assert job["usage"]["requests"] == 30  # nothing failed or was skipped: nothing to pay
    assert api.post("/v1/jobs/job_nope/retry").status_code == 404


def test_failed_items_are_named_and_a_retry_runs_them_again_paying_nothing_twice(api, start_simulator):
    sim = start_simulator(flagged_rate=0.3, seed=3)
    teacher = api.add_teacher(sim)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(40))["id"])
    failed = job["progress"]["failed"]
    assert job["status"] == "succeeded" and 0 < failed < 40
    warning = next(e for e in api.events(job["id"]) if e["type"] == "items_failed")
    assert f"{failed} items failed: {failed} teacher_http_400" in warning["message"] and "retry" in warning["message"]
    assert f"{failed} failed" in next(e for e in api.events(job["id"]) if e["type"] == "succeeded")["message"]
    assert len(api.records(job["id"], status="failed")) == failed
    paid = job["usage"]["requests"]
    assert paid == 40 - failed and job["usage"]["sent_requests"] == 40

    job = api.post(f"/v1/jobs/{job['id']}/retry").json()
    job = api.wait_for_job(job["id"])
    assert job["progress"]["completed"] == 40 and job["progress"]["failed"] < failed
    assert job["progress"]["accepted"] + job["progress"]["failed"] == 40
    assert len(api.records(job["id"])) == 40  # a failed item's old record was replaced
    assert job["usage"]["requests"] == sim.stats()["completions"]
    assert sim.stats()["repeated_replies"] == 0


def test_a_cost_budget_at_concurrency_32_is_exceeded_by_at_most_one_request(api, start_simulator):
    sim = start_simulator(latency_ms=200)
    prices = {"input_price_per_mtok": 1000.0, "output_price_per_mtok": 2000.0}
    teacher = api.add_teacher(sim, max_concurrency=32, **prices)
    max_tokens, budget = 256, 1.5
    job = api.submit_label_job(
        teacher,
        arithmetic_seeds(300),
        params={"chunk_size": 40, "max_tokens": max_tokens},
        budget={"max_cost_usd": budget},
    )
    job = api.wait_for_job(job["id"], timeout_s=180)
    stats = sim.stats()
    spent = (
        stats["prompt_tokens"] * prices["input_price_per_mtok"]
        + stats["completion_tokens"] * prices["output_price_per_mtok"]
    ) / 1e6
    # One request's worst case: a generous prompt estimate and all of max_tokens.
    worst = (400 * prices["input_price_per_mtok"] + max_tokens * prices["output_price_per_mtok"]) / 1e6
    assert budget * 0.7 <= spent <= budget + worst
    assert job["usage"]["cost_usd"] == pytest.approx(spent, rel=1e-6)
    assert job["status"] == "succeeded" and "budget exhausted" in job["stop_reason"]
    assert f"${spent:.6f}"[:-1] in job["stop_reason"] and job["progress"]["completed"] < 300
