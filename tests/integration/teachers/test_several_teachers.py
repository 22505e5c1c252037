"""Several teachers in one job, a judge teacher, and the Batch API mode."""

from __future__ import annotations

import pytest

from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


def test_items_are_spread_over_teachers_by_weight_and_each_is_paid_its_share(api, start_simulator):
    fast, slow = start_simulator(seed=1), start_simulator(seed=2)
    big = api.add_teacher(fast, input_price_per_mtok=1.0, output_price_per_mtok=2.0)
    small = api.add_teacher(slow, input_price_per_mtok=10.0, output_price_per_mtok=20.0)
    shares = [{"teacher": big["name"], "weight": 3}, {"teacher": small["id"], "weight": 1}]
    submitted = api.submit_label_job(None, arithmetic_seeds(40), teachers=shares, params={"chunk_size": 7})
    assert [(t["teacher_id"], t["weight"]) for t in submitted["teachers"]] == [(big["id"], 3), (small["id"], 1)]
    job = api.wait_for_job(submitted["id"])

    assert job["status"] == "succeeded"
    assert fast.stats()["completions"] == 30 and slow.stats()["completions"] == 10
    records = api.records(job["id"])
    made_by = {r["teacher_id"] for r in records}
    assert made_by == {big["id"], small["id"]}
    assert sum(r["teacher_name"] == small["name"] for r in records) == 10
    usage = {u["teacher_id"]: u for u in job["usage"]["by_teacher"]}
    assert usage[big["id"]]["requests"] == 30 and usage[small["id"]]["requests"] == 10
    assert usage[small["id"]]["teacher_name"] == small["name"]
    assert usage[big["id"]]["cost_usd"] + usage[small["id"]]["cost_usd"] == pytest.approx(job["usage"]["cost_usd"])
    # The small teacher costs ten times as much per token for a third of the items.
    assert usage[small["id"]]["cost_usd"] > usage[big["id"]]["cost_usd"]


def test_teachers_are_validated_at_submission(api, start_simulator):
    teacher = api.add_teacher(start_simulator())
    both = {"name": "x", "teacher": teacher["name"], "teachers": [{"teacher": teacher["name"]}]}
    cases = [
        (both, "teacher"),
        ({"teachers": [{"teacher": teacher["name"]}, {"teacher": "nope"}]}, "teachers"),
        ({"teachers": [{"teacher": teacher["name"], "weight": 0}]}, "teachers"),
        ({"teacher": teacher["name"], "judge_teacher": "nope"}, "judge_teacher"),
        ({"teacher": teacher["name"], "params": {"mode": "batch"}}, "params.mode"),
    ]
    for spec, field in cases:
        body = {
            "name": "x",
            "method": "label",
            "skill": {"name": "arithmetic"},
            "seeds": arithmetic_seeds(1),
            **spec,
        }
        response = api.post("/v1/jobs", json=body)
        assert response.status_code == 422, (spec, response.text)
        assert field in response.text, (field, response.text)


def test_a_judge_teacher_is_named_on_the_job(api, start_simulator):
    sim = start_simulator()
    teacher, judge = api.add_teacher(sim), api.add_teacher(sim)
    job = api.submit_label_job(teacher, arithmetic_seeds(2), judge_teacher=judge["name"])
    assert job["judge_teacher_id"] == judge["id"]
    assert api.wait_for_job(job["id"])["status"] == "succeeded"


def test_batch_mode_labels_through_the_batch_api_at_its_discount(api, start_simulator):
    sim = start_simulator(batch_delay_s=0.5, error_rate=0.1, seed=5)
    teacher = api.add_teacher(sim, supports_batch=True, batch_price_factor=0.5)
    job = api.wait_for_job(
        api.submit_label_job(teacher, arithmetic_seeds(30), params={"mode": "batch", "chunk_size": 15})["id"]
    )

    stats = sim.stats()
    assert job["status"] == "succeeded", job
    assert job["mode"] == "batch"
    assert job["progress"]["completed"] == 30 and job["progress"]["failed"] == 0
    assert stats["batches"] == 2  # one per chunk
    # Lines the batch failed (injected 5xx) were retried online; each request paid once.
    retried = 30 - stats["batch_lines"]
    assert retried > 0, "the test must exercise the online retry of failed lines"
    assert stats["completions"] == job["usage"]["requests"] == 30
    assert stats["duplicate_requests"] == 0
    events = [e for e in api.events(job["id"])]
    assert sum(e["type"] == "batch_submitted" for e in events) == 2
    assert any(e["type"] == "batch_finished" and "retried online" in e["message"] for e in events)

    # Batch lines cost half the online price (1 and 2 $/Mtok), retried lines the full one.
    usage = job["usage"]
    full = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6
    assert usage["cost_usd"] == pytest.approx(full * (0.5 + 0.5 * retried / 30), rel=0.05)
    assert usage["cost_usd"] < 0.75 * full
