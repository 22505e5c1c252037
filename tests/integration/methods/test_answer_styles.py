"""Teachers that format answers their own way (the simulator's `--reply-styles mixed`):
every final answer is found without a paid repair, and gold answers are respected."""

from __future__ import annotations

from collections import Counter

import pytest

from distillery.prompts.matching import answers_match
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


def _run(api, teacher, seeds, **spec):
    job = api.wait_for_job(api.submit_label_job(teacher, seeds, **spec)["id"], timeout_s=120)
    assert job["status"] == "succeeded", job
    return job


def test_mixed_style_replies_are_all_read_without_repairs_and_match_gold(api, start_simulator):
    sim = start_simulator(reply_styles="mixed")
    teacher = api.add_teacher(sim, max_concurrency=16)
    seeds = arithmetic_seeds(200)
    job = _run(api, teacher, seeds)

    # One paid request per item: no reply in a real style needed a repair.
    assert job["usage"]["requests"] == sim.stats()["completions"] == 200
    records = api.records(job["id"])
    accepted = [r for r in records if r["status"] == "accepted"]
    assert len(accepted) >= 0.98 * 200
    gold = {s["id"]: s["answer"] for s in seeds}
    styles = Counter()
    for record in accepted:
        assert record["answer"] == gold[record["seed_ids"][0]], record["raw_response"]
        assert record["rationale"] and not record["parsed"].get("repaired")
        styles[record["raw_response"].strip().splitlines()[-1][:8]] += 1
    assert len(styles) >= 10  # the replies really came in many styles


def test_wrong_answers_are_rejected_against_gold_or_rationalized(api, start_simulator):
    sim = start_simulator(reply_styles="mixed", wrong_rate=0.3)
    teacher = api.add_teacher(sim)
    seeds = arithmetic_seeds(40)
    gold = {s["id"]: s["answer"] for s in seeds}

    job = _run(api, teacher, seeds)
    records = api.records(job["id"])
    mismatched = [r for r in records if r["reject_reason"] == "gold_mismatch"]
    assert 4 <= len(mismatched) <= 22
    for record in records:
        if record["status"] == "accepted":
            assert answers_match(record["answer"], gold[record["seed_ids"][0]])
    for record in mismatched:
        assert record["status"] == "rejected" and record["scores"]["matches_gold"] is False
        assert gold[record["seed_ids"][0]] in record["reject_detail"] and record["answer"] in record["reject_detail"]

    kept = _run(api, teacher, seeds, curation={"gold": "keep"})
    assert sum(not r["scores"]["matches_gold"] for r in api.records(kept["id"], status="accepted")) == len(mismatched)

    before = sim.stats()["completions"]
    job = _run(api, teacher, seeds, curation={"gold": "rationalize"})
    # Only the mismatches cost a request more: the first answers come from the cache.
    assert sim.stats()["completions"] - before == len(mismatched)
    records = api.records(job["id"])
    assert all(r["status"] == "accepted" for r in records)
    rationalized = [r for r in records if r["parsed"].get("rationalized")]
    assert {r["seed_ids"][0] for r in rationalized} == {r["seed_ids"][0] for r in mismatched}
    for record in rationalized:
        assert record["answer"] == gold[record["seed_ids"][0]] and record["scores"]["matches_gold"] is True
        assert "rationalize" in record["parsed"]["templates"] and record["parsed"]["unhinted_answer"]
        # The student's prompt is the plain task, never the hint.
        assert all("Correct final answer" not in m["content"] for m in record["messages"])
        assert "hint" not in record["rationale"].lower()


def test_self_consistency_votes_are_compared_with_gold(api, start_simulator):
    sim = start_simulator(reply_styles="mixed", wrong_rate=0.3)
    teacher = api.add_teacher(sim)
    seeds = arithmetic_seeds(15)
    gold = {s["id"]: s["answer"] for s in seeds}
    job = _run(api, teacher, seeds, params={"samples_per_item": 5, "temperature": 0.8}, curation={"min_agreement": 0.4})
    records = api.records(job["id"])
    for record in records:
        if record["status"] == "accepted":
            assert answers_match(record["answer"], gold[record["seed_ids"][0]])
            # Votes in different styles of one answer count as one answer.
            assert max(record["parsed"]["votes"].values()) == round(record["scores"]["agreement"] * 5)
    assert {r["reject_reason"] for r in records if r["status"] != "accepted"} <= {"gold_mismatch", "low_agreement"}
    assert sum(r["status"] == "accepted" for r in records) >= 10


def test_json_answers_in_fences_and_prose_are_accepted(api, start_simulator):
    sim = start_simulator(reply_styles="mixed")
    teacher = api.add_teacher(sim)
    schema = {
        "type": "object",
        "properties": {"result": {"type": "number"}, "unit": {"type": "string"}},
        "required": ["result", "unit"],
    }
    seeds = [{k: v for k, v in s.items() if k != "answer"} for s in arithmetic_seeds(30)]
    expected = {s["id"]: int(s["answer"]) for s in arithmetic_seeds(30)}
    for reasoning in ("cot", "none"):
        skill = {"name": "arithmetic", "reasoning": reasoning, "output_format": "json", "output_schema": schema}
        job = _run(api, teacher, seeds, skill=skill)
        assert job["progress"]["accepted"] == 30 and job["usage"]["requests"] == 30
        for record in api.records(job["id"]):
            assert record["parsed"]["value"]["result"] == expected[record["seed_ids"][0]]


def test_self_instruct_reads_task_lists_in_every_style(api, start_simulator):
    sim = start_simulator(reply_styles="mixed")
    teacher = api.add_teacher(sim)
    job = _run(api, teacher, arithmetic_seeds(8), method="expand", target_count=25, curation={"near_dedup": None})
    records = api.records(job["id"])
    proposals = [r for r in records if r["step"] == "propose"]
    assert not [r for r in proposals if r["reject_reason"] in ("invalid_json", "empty_reply")]
    assert not any(r["parsed"].get("repaired") for r in records)
    assert job["progress"]["accepted"] >= 25
