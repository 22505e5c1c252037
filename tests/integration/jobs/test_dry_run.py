"""A dry run shows what a job would send and spend, and creates and sends nothing; a
running job's estimate is drawn from its own usage."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration

SKILL = {"name": "arithmetic", "description": "Evaluate arithmetic exactly.", "reasoning": "cot"}


def _body(teacher: str, seeds: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "dry", "teacher": teacher, "method": "label", "skill": SKILL, "seeds": seeds, **extra}


def _dry_run(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/jobs", params={"dry_run": "true"}, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_dry_run_shows_the_prompts_requests_and_an_upper_bound_of_the_cost(api, start_simulator):
    sim = start_simulator()
    teacher = api.add_teacher(sim, rpm=600, input_price_per_mtok=1.0, output_price_per_mtok=2.0)
    body = _body(
        teacher["name"], arithmetic_seeds(12), params={"samples_per_item": 2, "temperature": 0.7, "max_tokens": 256}
    )

    preview = _dry_run(api, body)

    # Nothing was created, queued or sent.
    assert api.get("/v1/jobs").json()["data"] == []
    assert sim.stats()["requests"] == 0
    assert preview["items"] == 12 and preview["requests"] == 24 and preview["requests_bound"] == "exact"
    assert preview["tokenizer"] == "chars/4 (fallback)"
    assert preview["completion_tokens"] == 24 * 256
    assert preview["duration_s"] == pytest.approx(24 / 600 * 60)  # 24 requests at 600 a minute
    [shown] = preview["teachers"]
    assert shown["name"] == teacher["name"] and shown["price_source"] == "teacher" and shown["requests"] == 24
    assert "upper bound" in preview["cost_note"]

    job = api.wait_for_job(api.post("/v1/jobs", json=body).json()["id"])
    assert job["status"] == "succeeded"
    usage = job["usage"]
    # The prompts shown are the ones the job sent, and the requests are its requests.
    records = {r["seed_ids"][0]: r for r in api.records(job["id"])}
    for seed, prompt in zip(("q0", "q1", "q2"), preview["prompts"], strict=True):
        assert prompt["messages"] == records[seed]["messages"]
        assert prompt["template_name"] == records[seed]["template_name"]
    assert usage["requests"] == preview["requests"] == sim.stats()["completions"]
    # Every reply at max_tokens bounds the cost from above, and not absurdly.
    assert usage["cost_usd"] <= preview["cost_usd"] <= 20 * usage["cost_usd"]
    assert 0.5 <= preview["prompt_tokens"] / usage["prompt_tokens"] <= 2
    # Finished, the job's projection is what it spent.
    estimate = job["estimate"]
    assert estimate["basis_items"] == estimate["total_items"] == 12
    assert estimate["requests"] == usage["requests"]
    assert estimate["cost_usd"] == pytest.approx(usage["cost_usd"])

    # The teacher has answered now: a new dry run expects replies as long as its replies.
    again = _dry_run(api, body)
    assert again["completion_tokens"] == preview["completion_tokens"]
    assert again["expected_completion_tokens"] == pytest.approx(usage["completion_tokens"], abs=1)
    assert usage["cost_usd"] <= again["expected_cost_usd"] * 2 and again["expected_cost_usd"] < again["cost_usd"]


def test_a_bad_spec_gets_the_same_422_from_a_dry_run(api, start_simulator):
    teacher = api.add_teacher(start_simulator())
    for body in (
        _body("no-such-teacher", arithmetic_seeds(2)),
        _body(teacher["name"], arithmetic_seeds(2), params={"mode": "batch"}),
        {**_body(teacher["name"], arithmetic_seeds(2)), "skill": {}},
    ):
        real = api.post("/v1/jobs", json=body)
        dry = api.post("/v1/jobs", params={"dry_run": "true"}, json=body)
        assert real.status_code == dry.status_code == 422
        assert dry.json() == real.json()
    assert api.get("/v1/jobs").json()["data"] == []


def test_prices_come_from_the_table_for_a_known_model_and_are_unknown_otherwise(api, start_simulator):
    sim = start_simulator()
    listed = api.add_teacher(sim, model="gpt-4o-mini", input_price_per_mtok=0, output_price_per_mtok=0)
    unlisted = api.add_teacher(sim, model="sim-teacher-1", input_price_per_mtok=0, output_price_per_mtok=0)
    typed = api.add_teacher(sim, model="gpt-4o-mini", input_price_per_mtok=5, output_price_per_mtok=7)

    assert listed["price_source"] == "genai-prices"
    assert (listed["input_price_per_mtok"], listed["output_price_per_mtok"]) == (0.15, 0.6)
    assert unlisted["price_source"] == "unknown" and unlisted["input_price_per_mtok"] == 0
    assert typed["price_source"] == "teacher" and typed["input_price_per_mtok"] == 5

    priced = _dry_run(api, _body(listed["name"], arithmetic_seeds(3)))
    assert priced["cost_usd"] > 0 and priced["teachers"][0]["price_source"] == "genai-prices"
    unknown = _dry_run(api, _body(unlisted["name"], arithmetic_seeds(3)))
    assert unknown["cost_usd"] is None and unknown["expected_cost_usd"] is None
    assert "unknown" in unknown["cost_note"] and "input_price_per_mtok" in unknown["cost_note"]
    assert unknown["duration_s"] is None  # the teacher has no rpm or tpm

    # The job is charged at the table's prices.
    job = api.wait_for_job(api.post("/v1/jobs", json=_body(listed["name"], arithmetic_seeds(3))).json()["id"])
    usage = job["usage"]
    expected = (usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.6) / 1e6
    assert usage["cost_usd"] == pytest.approx(expected)


def test_requests_are_split_over_weighted_teachers_and_the_judge_as_the_job_sends_them(api, start_simulator):
    sim = start_simulator()
    big, small, judge = (api.add_teacher(sim) for _ in range(3))
    shares = [{"teacher": big["name"], "weight": 2}, {"teacher": small["name"], "weight": 1}]
    body = {
        **_body(big["name"], arithmetic_seeds(9), judge_teacher=judge["name"], curation={"judge": {"min_score": 1}}),
        "teacher": None,
        "teachers": shares,
    }
    preview = _dry_run(api, body)
    planned = {t["teacher_id"]: (t["role"], t["requests"]) for t in preview["teachers"]}
    # Every record is scored once by the judge.
    assert planned == {big["id"]: ("teacher", 6), small["id"]: ("teacher", 3), judge["id"]: ("judge", 9)}

    job = api.wait_for_job(api.post("/v1/jobs", json=body).json()["id"])
    assert job["status"] == "succeeded"
    sent = {u["teacher_id"]: u["requests"] for u in job["usage"]["by_teacher"]}
    assert sent == {teacher_id: n for teacher_id, (_, n) in planned.items()}
