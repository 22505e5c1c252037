"""Each elicitation method end to end: API → worker → simulator → the downloaded data."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from typing import Any

import pytest

from distillery.curation.similarity import rouge_l, tokens
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


# Set-level near-dedup off: the simulator's generated texts share their wording, and these
# tests look at the method's own rules.
METHOD_ONLY = {"near_dedup": None}


def _download(api: Any, job: dict[str, Any], fmt: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/datasets/{job['dataset_id']}/download", params={"format": fmt})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def _run(api: Any, teacher: dict[str, Any], seeds: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    job = api.submit_label_job(teacher, seeds, **spec)
    job = api.wait_for_job(job["id"], timeout_s=180)
    assert job["status"] == "succeeded", job
    return job


def test_self_consistency_rejects_items_whose_samples_disagree(api, start_simulator):
    teacher = api.add_teacher(start_simulator(wrong_rate=0.45))
    job = _run(api, teacher, arithmetic_seeds(20), params={"samples_per_item": 5, "temperature": 0.8})

    assert job["usage"]["requests"] == 20 * 5
    records = api.records(job["id"])
    rejected = [r for r in records if r["reject_reason"] == "low_agreement"]
    accepted = [r for r in records if r["status"] == "accepted"]
    assert rejected and accepted
    for record in rejected:
        assert record["scores"]["agreement"] < 0.6
    for record in accepted:
        assert record["scores"]["agreement"] >= 0.6
        votes = record["parsed"]["votes"]
        assert sum(votes.values()) <= 5 and max(votes.values()) == votes[record["answer"]]
        assert record["rationale"]


def test_self_instruct_expand_reaches_target_with_distinct_dissimilar_tasks(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    seeds = arithmetic_seeds(8)
    job = _run(api, teacher, seeds, method="expand", target_count=25)

    rows = _download(api, job, "alpaca")
    tasks = [row["instruction"] for row in rows]
    assert len(tasks) == 25 == len(set(tasks))
    seed_texts = {s["instruction"] for s in seeds}
    assert not seed_texts & set(tasks)
    for a, b in itertools.combinations([*tasks, *seed_texts], 2):
        assert rouge_l(tokens(a), tokens(b)) < 0.7, (a, b)
    records = api.records(job["id"])
    reasons = Counter(r["reject_reason"] for r in records if r["status"] == "rejected")
    assert reasons["too_similar"] > 0 and reasons.keys() <= {
        "too_similar",
        "unsupported_modality",
        "length",
        "target_reached",
        "starts_with_punctuation",
        "invalid_json",
    }
    labelled = [r for r in records if r["step"] == "label"]
    assert all(r["parsed"]["origin"]["method"] == "self-instruct" and r["seed_ids"] for r in labelled)
    assert any(e["type"] == "round_finished" for e in api.events(job["id"]))


def test_evol_instruct_keeps_evolutions_and_eliminates_with_reasons(api, start_simulator):
    teacher = api.add_teacher(start_simulator(refusal_rate=0.1))
    job = _run(
        api, teacher, arithmetic_seeds(12), method="expand", params={"evol": {"rounds": 3}}, curation=METHOD_ONLY
    )

    records = api.records(job["id"])
    assert len(records) == 12 * 3
    reasons = Counter(r["reject_reason"] for r in records if r["status"] != "accepted")
    assert reasons["no_new_information"] > 0
    assert reasons.keys() <= {"no_new_information", "leaked_prompt", "refusal", "missing_answer", "empty_answer"}
    for record in records:
        assert record["parsed"]["operation"] and record["parsed"]["round"] in (1, 2, 3)
        if record["status"] == "accepted":
            assert record["instruction"] != record["parsed"]["parent"]
            assert "#" not in record["instruction"] and record["answer"]
            assert set(record["parsed"]["templates"]) >= {"evol", "evol_equal", "label"}


def test_curate_from_a_topic_taxonomy_keeps_topic_paths(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    topics = [
        "astronomy",
        {"name": "cooking", "subtopics": ["baking", {"name": "knives", "questions": ["How do I hold a knife?"]}]},
    ]
    job = api.submit_label_job(teacher, [], method="curate", topics=topics, curation=METHOD_ONLY)
    job = api.wait_for_job(job["id"], timeout_s=180)
    assert job["status"] == "succeeded", job

    records = api.records(job["id"], status="accepted")
    paths = Counter(tuple(r["parsed"]["topic_path"][:2]) for r in records)
    assert paths[("cooking", "baking")] == 3 and paths[("cooking", "knives")] == 1
    assert sum(n for p, n in paths.items() if p[0] == "astronomy") == 9
    assert len({tuple(r["parsed"]["topic_path"]) for r in records if r["parsed"]["topic_path"][0] == "astronomy"}) == 3


def test_curate_from_documents_rejects_answers_the_judge_finds_unsupported(api, start_simulator):
    teacher = api.add_teacher(start_simulator(wrong_rate=0.3))
    text = " ".join(
        f"The {name} river is {n * 100} kilometres long and flows into the {sea} sea."
        for n, (name, sea) in enumerate([("Avon", "North"), ("Tamar", "Celtic"), ("Severn", "Irish"), ("Exe", "Red")])
    )
    documents = [{"id": "rivers", "title": "Rivers", "text": text * 6}, {"id": "short", "text": text}]
    job = api.submit_label_job(
        teacher, [], method="curate", documents=documents, params={"chunk_chars": 400}, curation=METHOD_ONLY
    )
    job = api.wait_for_job(job["id"], timeout_s=180)
    assert job["status"] == "succeeded", job

    records = api.records(job["id"])
    assert {r["reject_reason"] for r in records if r["status"] != "accepted"} == {"unsupported_answer"}
    for record in records:
        start, end = record["parsed"]["span"]
        doc = next(d for d in documents if d["id"] == record["parsed"]["document_id"])
        assert record["input"] == doc["text"][start:end].strip()
        assert record["scores"]["grounded"] is (record["status"] == "accepted")


def test_multi_turn_dialogues_export_every_turn(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    job = _run(api, teacher, arithmetic_seeds(6), params={"turns": 3})

    rows = _download(api, job, "openai-chat")
    assert len(rows) == 6
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"] * 3
        assert all(m["content"].strip() for m in row["messages"])


@pytest.mark.parametrize("judge_mode", ["rating", "pairwise"])
def test_feedback_builds_pairs_with_a_margin_and_drops_ties(api, shared_simulator, judge_mode):
    teacher = api.add_teacher(shared_simulator)
    judge = api.add_teacher(shared_simulator)
    # No gold answers: the judge alone decides.
    seeds = [
        {"instruction": s["instruction"], "candidates": [f"Answer: {s['answer']}", f"Answer: {int(s['answer']) + 7}"]}
        for s in arithmetic_seeds(10)
    ]
    seeds.append({"instruction": "What is 2 + 2?", "candidates": ["Answer: 4", "Answer: 4."]})
    job = _run(
        api,
        teacher,
        seeds,
        method="feedback",
        judge_teacher=judge["name"],
        params={"judge_mode": judge_mode, "generators": [{"teacher": teacher["name"], "temperature": 0.0}]},
    )

    rows = _download(api, job, "dpo")
    assert rows
    for row in rows:
        assert row["chosen"] and row["rejected"] and row["chosen"] != row["rejected"]
    for record in api.records(job["id"], status="accepted"):
        assert record["scores"]["margin"] >= 1.0
        assert record["scores"]["chosen"] > record["scores"]["rejected"]
    dataset = api.get(f"/v1/datasets/{job['dataset_id']}").json()
    assert dataset["kind"] == "preference"
    assert api.get(f"/v1/datasets/{job['dataset_id']}/download", params={"format": "alpaca"}).status_code == 422


def test_feedback_with_gold_answers_pairs_right_against_wrong_without_the_judge(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    right, wrong, right_too = arithmetic_seeds(3)
    reasoned = "First multiply, then add.\n\nAnswer: {}"
    seeds = [
        # One right and two wrong: the gold answer decides, no judge call.
        {**right, "candidates": [reasoned.format(int(right["answer"]) + 1), reasoned.format(right["answer"]), "0"]},
        # None right: no pair worth training on.
        {**wrong, "candidates": [reasoned.format(1), reasoned.format(2)]},
        # Both right: the judge ranks them (one rating each).
        {**right_too, "candidates": [reasoned.format(right_too["answer"]), f"Answer: {right_too['answer']}"]},
    ]
    job = _run(api, teacher, seeds, method="feedback")

    by_instruction = {r["instruction"]: r for r in api.records(job["id"])}
    decided = by_instruction[right["instruction"]]
    assert decided["status"] == "accepted" and decided["parsed"]["judge_mode"] == "gold"
    assert decided["parsed"]["chosen"] == reasoned.format(right["answer"])
    assert decided["parsed"]["rejected"] in (reasoned.format(int(right["answer"]) + 1), "0")
    assert [c["matches_gold"] for c in decided["parsed"]["candidates"]] == [False, True, False]
    assert decided["scores"] == {"chosen": 1.0, "rejected": 0.0, "margin": 1.0}
    unreached = by_instruction[wrong["instruction"]]
    assert (unreached["status"], unreached["reject_reason"]) == ("rejected", "gold_mismatch")
    assert repr(wrong["answer"]) in unreached["reject_detail"]
    ranked = by_instruction[right_too["instruction"]]
    assert all("ratings" in c and c["matches_gold"] for c in ranked["parsed"]["candidates"])
    assert ranked["parsed"].get("judge_mode") == "rating" or ranked["reject_reason"] == "tie"
    assert job["usage"]["requests"] == 2

    # curation.gold "keep": the gold answer is not used to build pairs; the judge rates all.
    kept = _run(api, teacher, seeds, method="feedback", curation={"gold": "keep"})
    # Every candidate rated; the two the first job rated come from the cache.
    assert (kept["usage"]["requests"], kept["usage"]["cached_requests"]) == (3 + 2, 2)
    assert all(r["parsed"].get("judge_mode") == "rating" for r in api.records(kept["id"], status="accepted"))


def test_structured_outputs_are_validated_repaired_once_or_rejected(api, start_simulator):
    sim = start_simulator(malformed_rate=0.5)
    teacher = api.add_teacher(sim)
    schema = {
        "type": "object",
        "properties": {"result": {"type": "number"}, "unit": {"type": "string"}},
        "required": ["result", "unit"],
    }
    skill = {"name": "arithmetic", "reasoning": "cot", "output_format": "json", "output_schema": schema}
    job = _run(api, teacher, arithmetic_seeds(30), skill=skill)

    records = api.records(job["id"])
    accepted = [r for r in records if r["status"] == "accepted"]
    rejected = [r for r in records if r["status"] == "rejected"]
    assert accepted and rejected
    assert any(r["parsed"].get("repaired") for r in accepted)
    for record in accepted:
        assert set(record["parsed"]["value"]) == {"result", "unit"}
    for record in rejected:
        assert (
            record["reject_reason"] in ("invalid_json", "schema_mismatch", "missing_answer") and record["reject_detail"]
        )
        assert record["parsed"].get("repaired")
    assert job["usage"]["requests"] == 30 + sum(1 for r in records if r["parsed"].get("repaired"))


def test_a_template_override_is_used_and_hashed_and_a_bad_one_is_a_422(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    text = "Solve this carefully: {{ instruction }}"
    job = _run(api, teacher, arithmetic_seeds(3), templates={"label": text})
    for record in api.records(job["id"]):
        assert record["template_version"] == hashlib.sha256(text.encode()).hexdigest()[:12]
        assert record["messages"][-1]["content"].startswith("Solve this carefully: What is")

    for bad in ("{{ instructions }}", "{% if %}", "{{ instruction.__class__ }}"):
        response = api.post(
            "/v1/jobs",
            json={
                "name": "bad",
                "teacher": teacher["name"],
                "method": "label",
                "skill": {"name": "x"},
                "seeds": [{"instruction": "hi"}],
                "templates": {"label": bad},
            },
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == "templates.label"


def test_feedback_on_a_labelled_dataset_judges_its_answers_against_generated_ones(api, start_simulator):
    teacher = api.add_teacher(start_simulator(wrong_rate=0.5))
    labelled = _run(api, teacher, arithmetic_seeds(12), curation={"gold": "keep"})
    answers = {r["instruction"]: r for r in api.records(labelled["id"], status="accepted")}
    generators = [{"teacher": teacher["name"], "temperature": 1.0}]
    job = _run(
        api, teacher, [], method="feedback", source_dataset=labelled["dataset_id"], params={"generators": generators}
    )

    records = api.records(job["id"])
    assert len(records) == len(answers)
    for record in records:
        source = answers[record["instruction"]]
        assert record["seed_ids"] == [f"record:{source['id']}"]
        first = record["parsed"]["candidates"][0]
        assert first["response"] == f"{source['rationale']}\n\nAnswer: {source['answer']}"
    rows = _download(api, job, "dpo")
    assert rows and all(row["chosen"] != row["rejected"] for row in rows)

    response = api.post(
        "/v1/jobs",
        json={
            "name": "x",
            "teacher": teacher["name"],
            "method": "feedback",
            "skill": {"name": "x"},
            "source_dataset": "ds_missing",
            "params": {"generators": generators},
        },
    )
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "source_dataset"
    # One answer per record is no pair: generators are needed, said before anything runs.
    response = api.post(
        "/v1/jobs",
        json={
            "name": "x",
            "teacher": teacher["name"],
            "method": "feedback",
            "skill": {"name": "x"},
            "source_dataset": labelled["dataset_id"],
        },
    )
    assert response.status_code == 422, response.text
    problem = response.json()["error"]["details"][0]
    assert problem["field"] == "params.generators" and "a generate job's dataset" in problem["problem"]


def test_feedback_on_a_candidates_dataset_needs_no_generators(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    lines = [
        json.dumps({"instruction": s["instruction"], "candidates": [f"Answer: {s['answer']}", "Answer: 0"]})
        for s in arithmetic_seeds(6, offset=1)
    ]
    # A record whose candidates agree makes no pair: rejected alone, the rest go on.
    lines.append(json.dumps({"instruction": "What is 1 + 1?", "candidates": ["Answer: 2", "Answer: 2"]}))
    upload = api.post(
        "/v1/datasets/upload",
        files={"file": ("student.jsonl", ("\n".join(lines) + "\n").encode(), "application/x-ndjson")},
        data={"purpose": "candidates", "name": "student"},
    )
    assert upload.status_code == 201, upload.text
    job = _run(api, teacher, [], method="feedback", source_dataset=upload.json()["id"])
    rows = _download(api, job, "dpo")
    assert len(rows) == 6 and all(row["rejected"] == "Answer: 0" for row in rows)
    assert [r["reject_reason"] for r in api.records(job["id"], status="rejected")] == ["too_few_candidates"]
