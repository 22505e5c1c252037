"""A CoT labeling job end to end: API → Postgres → Redis → worker → simulator → dataset."""

from __future__ import annotations

import json

import pytest

from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


def test_label_job_succeeds_with_lineage_usage_and_a_valid_download(api, start_simulator):
    sim = start_simulator(latency_ms=20)
    teacher = api.add_teacher(sim)
    seeds = arithmetic_seeds(30)
    job = api.submit_label_job(teacher, seeds)
    assert job["status"] == "queued" and job["progress"]["total"] == 0

    job = api.wait_for_job(job["id"])

    assert job["status"] == "succeeded", job
    assert job["progress"] == {"total": 30, "completed": 30, "accepted": 30, "rejected": 0, "failed": 0, "skipped": 0}
    stats = sim.stats()
    # Exactly one paid request per item, and the job's ledger agrees with the teacher's.
    assert job["usage"]["requests"] == stats["completions"] == 30
    assert stats["duplicate_requests"] == 0
    assert job["usage"]["prompt_tokens"] == stats["prompt_tokens"]
    assert job["usage"]["completion_tokens"] == stats["completion_tokens"]
    expected_cost = (stats["prompt_tokens"] * 1.0 + stats["completion_tokens"] * 2.0) / 1e6
    assert job["usage"]["cost_usd"] == pytest.approx(expected_cost)

    records = api.records(job["id"])
    gold = {s["id"]: s["answer"] for s in seeds}
    for record in records:
        assert record["status"] == "accepted"
        assert record["teacher_name"] == teacher["name"] and record["model"] == "sim-teacher-1"
        assert record["template_name"] == "label" and len(record["template_version"]) == 12
        assert record["rationale"] and "Answer:" in record["raw_response"]
        assert record["answer"] == gold[record["seed_ids"][0]]
        assert record["scores"]["matches_gold"] is True
        assert record["messages"][0]["role"] == "system" and "step by step" in record["messages"][0]["content"]

    dataset = api.get(f"/v1/datasets/{job['dataset_id']}").json()
    assert dataset["record_count"] == 30 and dataset["version"] == 1 and dataset["job_id"] == job["id"]

    chat = api.get(f"/v1/datasets/{dataset['id']}/download", params={"format": "openai-chat"})
    assert chat.status_code == 200
    assert "attachment" in chat.headers["content-disposition"]
    rows = [json.loads(line) for line in chat.text.splitlines()]
    assert len(rows) == 30
    for row in rows:
        roles = [m["role"] for m in row["messages"]]
        assert roles == ["user", "assistant"]  # prompt erasure: no teacher system prompt
        assert row["messages"][1]["content"].strip().splitlines()[-1].startswith("Answer: ")
    questions = {row["messages"][0]["content"] for row in rows}
    assert questions == {s["instruction"] for s in seeds}

    alpaca = api.get(f"/v1/datasets/{dataset['id']}/download", params={"format": "alpaca", "include_rationale": False})
    rows = [json.loads(line) for line in alpaca.text.splitlines()]
    assert {(r["instruction"], r["output"]) for r in rows} == {(s["instruction"], s["answer"]) for s in seeds}
    assert all(set(r) == {"instruction", "input", "output"} for r in rows)


def test_duplicate_seeds_are_labeled_once(api, start_simulator):
    sim = start_simulator()
    teacher = api.add_teacher(sim)
    seeds = arithmetic_seeds(5) + [{"instruction": "  what is 3 * 7 + 0 ?"}]  # same as q0 when normalised
    job = api.wait_for_job(api.submit_label_job(teacher, seeds)["id"])
    assert job["status"] == "succeeded"
    assert job["progress"]["total"] == 5
    assert sim.stats()["completions"] == 5
    events = [e["type"] for e in api.events(job["id"])]
    assert events[0] == "created" and "planned" in events and events[-1] == "succeeded"


def test_a_repeated_job_is_answered_from_the_cache_without_paying_again(api, start_simulator):
    sim = start_simulator()
    teacher = api.add_teacher(sim)
    seeds = arithmetic_seeds(12)
    first = api.wait_for_job(api.submit_label_job(teacher, seeds)["id"])
    second = api.wait_for_job(api.submit_label_job(teacher, seeds)["id"])
    assert first["status"] == second["status"] == "succeeded"
    assert sim.stats()["completions"] == 12
    assert second["usage"]["requests"] == 0 and second["usage"]["cached_requests"] == 12
    assert second["usage"]["cost_usd"] == 0
    assert second["progress"]["accepted"] == 12
