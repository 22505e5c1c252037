"""Teacher faults: rate limits, 5xx and malformed replies lose no item and pay nothing twice."""

from __future__ import annotations

import pytest

from tests.support.stack import arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_injected_429s_and_5xx_lose_no_item_and_pay_nothing_twice(api, start_simulator):
    # Without limit headers the gateway meets the limit only through 429s.
    sim = start_simulator(rpm=600, limit_headers=False, error_rate=0.2, seed=3)
    teacher = api.add_teacher(sim, max_concurrency=16)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(60))["id"], timeout_s=180)

    stats = sim.stats()
    assert stats["status_counts"].get("429", 0) > 0, "the test must actually hit the rate limit"
    assert sum(v for k, v in stats["status_counts"].items() if k.startswith("5")) > 0
    assert job["status"] == "succeeded"
    assert job["progress"]["completed"] == job["progress"]["accepted"] == 60
    assert job["usage"]["requests"] == stats["completions"] == 60
    assert stats["duplicate_requests"] == 0
    assert len(api.records(job["id"])) == 60


def test_malformed_replies_are_repaired_once_then_rejected_with_their_reason(api, start_simulator):
    sim = start_simulator(malformed_rate=0.3, seed=11)
    teacher = api.add_teacher(sim)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(40))["id"])
    assert job["status"] == "succeeded"

    records = api.records(job["id"])
    repaired = [r for r in records if r["parsed"].get("repaired")]
    rejected = [r for r in records if r["status"] == "rejected"]
    assert repaired and rejected
    # Each malformed first reply bought one repair request; each rejection is a repair that
    # came back malformed too. Nothing else was asked or paid.
    stats = sim.stats()
    assert stats["malformed"] == len(repaired) + len(rejected)
    assert job["usage"]["requests"] == stats["completions"] == 40 + len(repaired)
    assert job["progress"]["accepted"] == 40 - len(rejected)
    for record in rejected:
        assert record["reject_reason"] == "missing_answer" and record["parsed"]["repaired"]
        assert record["raw_response"] and record["answer"] is None
        assert record["messages"][-1]["content"].startswith("Your previous reply could not be used")
    dataset = api.get(f"/v1/datasets/{job['dataset_id']}").json()
    assert dataset["record_count"] == 40 - len(rejected)
    assert dataset["stats"]["reject_reasons"] == {"missing_answer": len(rejected)}


def test_an_unreachable_teacher_fails_the_job_with_a_readable_error(api, start_simulator):
    teacher = api.add_teacher(start_simulator(), base_url="http://127.0.0.1:9/v1")  # nothing listens on port 9
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(2))["id"], timeout_s=180)
    assert job["status"] == "failed"
    assert "teacher_unreachable" in job["error"] and "never answered" in job["error"]
    # Nothing was made of the items: they wait, skipped, for a retry once the URL is fixed
    # (calls already waiting or between attempts hear of the failure a moment later, and
    # their attempts are counted then).
    wait_until(lambda: api.job(job["id"])["progress"]["skipped"] == 2, what="both items skipped")
    wait_until(lambda: api.job(job["id"])["usage"]["failed_requests"] >= 1, what="the failed attempts counted")
    assert api.job(job["id"])["usage"]["requests"] == 0
    assert api.records(job["id"], status="failed") == []
