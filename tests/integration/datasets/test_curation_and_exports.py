"""Curation and datasets end to end: jobs curated by the set-level passes, versions made by
merging, re-curating and uploading, and every export format read back by its consumer's
rules (datasets.load_dataset, pyarrow, OpenAI's role order, TRL's preference columns)."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


def _job(api: Any, teacher: dict[str, Any], seeds: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    job = api.wait_for_job(api.submit_label_job(teacher, seeds, **spec)["id"], timeout_s=180)
    assert job["status"] == "succeeded", [e["message"] for e in api.events(job["id"])]
    return job


def _download(api: Any, dataset_id: str, **params: Any) -> Any:
    response = api.get(f"/v1/datasets/{dataset_id}/download", params=params)
    assert response.status_code == 200, response.text
    return response


def _lines(api: Any, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _download(api, dataset_id, **params).text.splitlines()]


def _upload(api: Any, name: str, purpose: str, lines: list[str]) -> Any:
    body = ("\n".join(lines) + "\n").encode()
    return api.post(
        "/v1/datasets/upload",
        files={"file": (f"{name}.jsonl", body, "application/x-ndjson")},
        data={"purpose": purpose, "name": name},
    )


@pytest.fixture
def labelled(api, shared_simulator):
    """A 20-item labeling job with a near-duplicate among its seeds."""
    teacher = api.add_teacher(shared_simulator)
    seeds = arithmetic_seeds(20)
    seeds[5] = {"id": "near", "instruction": seeds[4]["instruction"].replace("?", ", exactly?")}
    return teacher, _job(api, teacher, seeds)


def test_a_jobs_dataset_loses_near_duplicates_naming_the_record_it_kept(api, labelled):
    _, job = labelled
    near = [r for r in api.records(job["id"], status="rejected") if r["reject_reason"] == "near_duplicate"]
    assert len(near) == 1
    kept = api.records(job["id"], status="accepted")
    twin = next(r for r in kept if r["id"] == near[0]["duplicate_of"])
    # Records are numbered as items finish, so either of the two may be the one kept.
    pair = {near[0]["instruction"], twin["instruction"]}
    assert pair == {arithmetic_seeds(20)[4]["instruction"], arithmetic_seeds(20)[4]["instruction"][:-1] + ", exactly?"}
    dataset = api.get(f"/v1/datasets/{job['dataset_id']}").json()
    assert dataset["record_count"] == 19 == len(kept)
    assert dataset["stats"]["reject_reasons"] == {"near_duplicate": 1}
    assert dataset["stats"]["curation"] == {"near_dedup": {"near_duplicate": 1}}
    rejections = api.get(f"/v1/datasets/{job['dataset_id']}/rejections").json()["data"]
    assert [(r["pass_name"], r["reason"], r["matched_record_id"]) for r in rejections] == [
        ("near_dedup", "near_duplicate", near[0]["duplicate_of"])
    ]


def test_the_judge_scores_each_record_and_low_scores_are_rejected(api, start_simulator):
    teacher = api.add_teacher(start_simulator(wrong_rate=0.4))
    # gold "keep": wrong answers reach the judge instead of being rejected as gold mismatches.
    job = _job(api, teacher, arithmetic_seeds(20), curation={"judge": {"min_score": 9}, "gold": "keep"})
    accepted = api.records(job["id"], status="accepted")
    low = [r for r in api.records(job["id"], status="rejected") if r["reject_reason"] == "low_quality"]
    assert accepted and low
    assert all(r["scores"]["quality"] >= 9 and r["scores"]["matches_gold"] for r in accepted)
    assert all(r["scores"]["quality"] < 9 and not r["scores"]["matches_gold"] for r in low)
    assert all("quality_rate" in r["parsed"]["templates"] for r in accepted)
    by_reason = api.get(f"/v1/jobs/{job['id']}/records", params={"reason": "low_quality", "limit": 500}).json()
    assert [r["id"] for r in by_reason["data"]] == [r["id"] for r in low]
    searched = api.get(f"/v1/jobs/{job['id']}/records", params={"q": low[0]["instruction"].upper()}).json()
    assert [r["id"] for r in searched["data"]] == [low[0]["id"]]


def test_every_sft_export_format_loads_as_its_consumer_expects(api, labelled, tmp_path: Path):
    from datasets import load_dataset

    _, job = labelled
    dataset_id = job["dataset_id"]
    for fmt in ("openai-chat", "prompt-completion", "alpaca", "sharegpt"):
        response = _download(api, dataset_id, format=fmt)
        assert f"-{fmt}.jsonl" in response.headers["content-disposition"]
        path = tmp_path / f"{fmt}.jsonl"
        path.write_bytes(response.content)
        assert load_dataset("json", data_files=str(path), split="train").num_rows == 19
    for row in _lines(api, dataset_id, format="openai-chat", include_system=True):
        roles = [m["role"] for m in row["messages"]]
        assert roles in (["system", "user", "assistant"], ["user", "assistant"])
        assert all(m["content"] for m in row["messages"])
    for row in _lines(api, dataset_id, format="sharegpt"):
        assert [t["from"] for t in row["conversations"]] == ["human", "gpt"]
    for row in _lines(api, dataset_id, format="alpaca", include_rationale=False):
        assert row["output"] and "Step" not in row["output"]

    gz = _download(api, dataset_id, format="openai-chat", file="jsonl.gz")
    (tmp_path / "chat.jsonl.gz").write_bytes(gz.content)
    assert load_dataset("json", data_files=str(tmp_path / "chat.jsonl.gz"), split="train").num_rows == 19
    table = pq.read_table(io.BytesIO(_download(api, dataset_id, format="alpaca", file="parquet").content))
    assert table.to_pylist() == _lines(api, dataset_id, format="alpaca")
    assert [json.loads(line) for line in gzip.decompress(gz.content).splitlines()] == _lines(api, dataset_id)


def test_train_and_eval_splits_partition_a_dataset_the_same_way_every_time(api, labelled):
    _, job = labelled
    train = _lines(api, job["dataset_id"], split="train", eval_fraction=0.3)
    evaluation = _lines(api, job["dataset_id"], split="eval", eval_fraction=0.3)
    assert train and evaluation and len(train) + len(evaluation) == 19
    prompts = {r["messages"][0]["content"] for r in train}
    assert not prompts & {r["messages"][0]["content"] for r in evaluation}
    assert _lines(api, job["dataset_id"], split="eval", eval_fraction=0.3) == evaluation


def test_downloads_carry_an_etag_and_answer_304_when_unchanged(api, labelled):
    _, job = labelled
    first = _download(api, job["dataset_id"], format="alpaca")
    tag = first.headers["etag"]
    again = api.get(
        f"/v1/datasets/{job['dataset_id']}/download", params={"format": "alpaca"}, headers={"If-None-Match": tag}
    )
    assert again.status_code == 304 and not again.content
    assert _download(api, job["dataset_id"], format="openai-chat").headers["etag"] != tag


def test_preference_exports_have_distinct_non_empty_chosen_and_rejected(api, shared_simulator, tmp_path: Path):
    from datasets import load_dataset

    teacher = api.add_teacher(shared_simulator)
    seeds = [
        {**s, "candidates": [f"Answer: {s['answer']}", f"Answer: {int(s['answer']) + 9}"]} for s in arithmetic_seeds(8)
    ]
    job = _job(api, teacher, seeds, method="feedback", curation={"near_dedup": None})
    dataset_id = job["dataset_id"]
    plain = _lines(api, dataset_id, format="dpo")
    assert plain and all(r["chosen"] and r["rejected"] and r["chosen"] != r["rejected"] for r in plain)
    for row in _lines(api, dataset_id, format="dpo", conversational=True):
        assert row["prompt"][-1]["role"] == "user"
        assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
        assert row["chosen"][0]["content"] != row["rejected"][0]["content"]
    for row in _lines(api, dataset_id, format="openai-dpo"):
        assert row["input"]["messages"][-1]["role"] == "user"
        assert row["preferred_output"][0]["content"] != row["non_preferred_output"][0]["content"]
    path = tmp_path / "dpo.jsonl"
    path.write_bytes(_download(api, dataset_id, format="dpo").content)
    assert load_dataset("json", data_files=str(path), split="train").column_names == ["prompt", "chosen", "rejected"]
    wrong = api.get(f"/v1/datasets/{dataset_id}/download", params={"format": "openai-chat"})
    assert wrong.status_code == 422 and wrong.json()["error"]["details"][0]["field"] == "format"


def test_a_merge_of_two_jobs_holds_both(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    first = _job(api, teacher, arithmetic_seeds(6))
    second = _job(api, teacher, arithmetic_seeds(6, offset=50))
    response = api.post(
        "/v1/datasets", json={"name": "merged", "sources": [{"job": first["id"]}, {"dataset": second["dataset_id"]}]}
    )
    assert response.status_code == 201, response.text
    merged = response.json()
    assert merged["record_count"] == 12 and merged["version"] == 1
    assert [s["id"] for s in merged["sources"]] == [first["dataset_id"], second["dataset_id"]]
    prompts = {r["messages"][0]["content"] for r in _lines(api, merged["id"])}
    assert prompts == {s["instruction"] for s in arithmetic_seeds(6) + arithmetic_seeds(6, offset=50)}
    # Merging a dataset with itself keeps each record once.
    again = api.post("/v1/datasets", json={"name": "merged", "sources": [{"job": first["id"]}, {"job": first["id"]}]})
    assert again.json()["record_count"] == 6 and again.json()["version"] == 2


def test_recurating_makes_a_new_version_with_its_parent_and_selection(api, labelled):
    _, job = labelled
    response = api.post(
        f"/v1/datasets/{job['dataset_id']}/curate", json={"curation": {"max_records": 5, "near_dedup": None}}
    )
    assert response.status_code == 201, response.text
    version = response.json()
    assert version["parent_id"] == job["dataset_id"] and version["version"] == 2
    assert version["record_count"] == 5
    assert version["stats"]["curation"] == {"select": {"not_selected": 14}}
    parent = api.get(f"/v1/datasets/{job['dataset_id']}").json()
    assert parent["record_count"] == 19  # versions are immutable
    card = api.get(f"/v1/datasets/{version['id']}/card")
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/markdown")
    assert card.text.startswith("---\n") and "load_dataset" in card.text and "not_selected" in card.text


def test_an_upload_with_bad_lines_names_them_and_imports_nothing(api, test_client):
    before = api.get("/v1/datasets").json()["data"]
    response = _upload(
        api,
        "evals",
        "eval",
        [
            '{"instruction": "What is 2 + 2?", "output": "4"}',
            "not json",
            '{"instruction": "   "}',
            '{"instruction": "ok", "extra": 1}',
            "[1, 2]",
        ],
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_upload"
    assert [(p["line"], p["field"]) for p in error["details"]] == [
        (2, "line"),
        (3, "instruction"),
        (4, "extra"),
        (5, "line"),
    ]
    assert api.get("/v1/datasets").json()["data"] == before


def test_jobs_are_decontaminated_against_an_uploaded_eval_set(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    seeds = arithmetic_seeds(10)
    upload = _upload(api, "gsm-mini", "eval", [json.dumps({"id": "e7", "instruction": seeds[7]["instruction"]})])
    assert upload.status_code == 201, upload.text
    eval_set = upload.json()
    assert eval_set["kind"] == "eval" and eval_set["record_count"] == 1
    job = _job(api, teacher, seeds, curation={"decontaminate": {"datasets": [eval_set["id"]]}})
    rejected = api.records(job["id"], status="rejected")
    assert [(r["reject_reason"], r["instruction"]) for r in rejected] == [("contaminated", seeds[7]["instruction"])]
    assert "eval item e7" in rejected[0]["reject_detail"]
    spec = {"name": "x", "teacher": teacher["name"], "method": "label", "skill": {"name": "arithmetic"}}
    not_eval = {"decontaminate": {"datasets": [job["dataset_id"]]}}
    wrong = api.post("/v1/jobs", json={**spec, "seeds": seeds, "curation": not_eval})
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"][0]["field"] == "curation.decontaminate.datasets.0"


def test_an_uploaded_seeds_file_feeds_a_job(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    lines = [
        json.dumps({"id": s["id"], "instruction": s["instruction"], "output": s["answer"]}) for s in arithmetic_seeds(5)
    ]
    seeds = _upload(api, "my-seeds", "seeds", lines).json()
    job = _job(api, teacher, [], source_dataset=seeds["id"])
    records = api.records(job["id"], status="accepted")
    assert len(records) == 5 and all(r["scores"]["matches_gold"] for r in records)


def test_dataset_routes_are_scoped_to_the_tenant(api, other_api, labelled):
    _, job = labelled
    dataset_id = job["dataset_id"]
    for method, path, kwargs in [
        ("GET", f"/v1/datasets/{dataset_id}", {}),
        ("GET", f"/v1/datasets/{dataset_id}/rejections", {}),
        ("GET", f"/v1/datasets/{dataset_id}/card", {}),
        ("GET", f"/v1/datasets/{dataset_id}/download", {}),
        ("POST", f"/v1/datasets/{dataset_id}/curate", {"json": {}}),
    ]:
        assert other_api.request(method, path, **kwargs).status_code == 404, path
    merge = other_api.post("/v1/datasets", json={"name": "x", "sources": [{"dataset": dataset_id}]})
    assert merge.status_code == 422 and merge.json()["error"]["details"][0]["field"] == "sources.0.dataset"
    assert Counter(d["id"] for d in other_api.get("/v1/datasets").json()["data"])[dataset_id] == 0


def _word_problems(count: int) -> list[dict[str, str]]:
    """One template, different numbers: distinct tasks at Jaccard up to 0.9."""
    return [
        {
            "id": f"wp{i}",
            "instruction": f"A baker fills {i + 2} trays with {3 * i + 4} rolls each and sells {i + 1} rolls."
            " How many rolls are left?",
        }
        for i in range(count)
    ]


def _city_facts() -> list[dict[str, str]]:
    cities = ["Paris", "Lima", "Tokyo", "Nairobi", "Oslo", "Cairo"]
    return [
        {"id": f"city-{c}", "instruction": f"Give me three short facts about the history of {c} for a school quiz."}
        for c in cities
    ]


def test_default_curation_keeps_templated_tasks_and_removes_a_reworded_copy(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    problems, facts = _word_problems(40), _city_facts()
    copy = {"id": "copy", "instruction": problems[7]["instruction"].replace("How many", "Then how many")}
    job = _job(api, teacher, [*problems, *facts, copy])
    kept = {r["seed_ids"][0] for r in api.records(job["id"], status="accepted")}
    assert kept >= {s["id"] for s in problems + facts}
    rejected = api.records(job["id"], status="rejected")
    assert [r["reject_reason"] for r in rejected] == ["near_duplicate"]
    twin = next(r for r in api.records(job["id"], status="accepted") if r["id"] == rejected[0]["duplicate_of"])
    assert {rejected[0]["seed_ids"][0], twin["seed_ids"][0]} == {"copy", "wp7"}
    assert api.get(f"/v1/datasets/{job['dataset_id']}").json()["record_count"] == 46


def test_duplicate_seeds_are_rejected_records_naming_the_record_kept(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    seeds = arithmetic_seeds(5) + [{"id": "again", "instruction": "  what is 3 * 7 + 0 ?"}]  # q0, normalised
    job = _job(api, teacher, seeds)
    assert job["progress"]["total"] == 5 and job["progress"]["rejected"] == 1
    (duplicate,) = api.records(job["id"], status="rejected")
    assert duplicate["reject_reason"] == "exact_duplicate" and duplicate["seed_ids"] == ["again"]
    assert "seed 'q0'" in duplicate["reject_detail"]
    kept = next(r for r in api.records(job["id"], status="accepted") if r["id"] == duplicate["duplicate_of"])
    assert kept["seed_ids"] == ["q0"]
    stats = api.get(f"/v1/datasets/{job['dataset_id']}").json()["stats"]
    assert stats["records"] == 5 and stats["reject_reasons"] == {"exact_duplicate": 1}


def test_short_eval_questions_planted_in_a_job_are_caught_three_of_three(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    seeds = arithmetic_seeds(10)
    planted = [seeds[2], seeds[5], seeds[8]]
    lines = [json.dumps({"id": f"e{s['id']}", "instruction": s["instruction"], "output": s["answer"]}) for s in planted]
    eval_set = _upload(api, "short-evals", "eval", lines).json()
    job = _job(api, teacher, seeds, curation={"decontaminate": {"datasets": [eval_set["id"]]}})
    rejected = api.records(job["id"], status="rejected")
    assert sorted((r["reject_reason"], r["seed_ids"][0]) for r in rejected) == [
        ("contaminated", s["id"]) for s in planted
    ]
    assert all(f"eval item e{r['seed_ids'][0]}" in r["reject_detail"] for r in rejected)


def _empty_downloads(api: Any, dataset_id: str) -> None:
    assert _download(api, dataset_id).content == b""
    assert gzip.decompress(_download(api, dataset_id, file="jsonl.gz").content) == b""
    assert pq.read_table(io.BytesIO(_download(api, dataset_id, file="parquet").content)).num_rows == 0
    assert api.get(f"/v1/datasets/{dataset_id}/card").status_code == 200


def test_a_job_whose_records_are_all_rejected_succeeds_with_an_empty_version(api, start_simulator):
    teacher = api.add_teacher(start_simulator(refusal_rate=1.0))
    job = _job(api, teacher, arithmetic_seeds(5))
    assert job["progress"]["accepted"] == 0 and job["progress"]["rejected"] == 5
    dataset = api.get(f"/v1/datasets/{job['dataset_id']}").json()
    assert dataset["record_count"] == 0 and sum(dataset["stats"]["reject_reasons"].values()) == 5
    last = api.events(job["id"])[-1]
    assert last["type"] == "succeeded" and "0 records (5 rejected" in last["message"]
    _empty_downloads(api, dataset["id"])


def test_merging_or_recurating_to_nothing_gives_an_empty_version(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    job = _job(api, teacher, arithmetic_seeds(4))
    nothing = {"heuristics": {"min_response_words": 100_000}}
    recurated = api.post(f"/v1/datasets/{job['dataset_id']}/curate", json={"curation": nothing})
    assert recurated.status_code == 201, recurated.text
    assert recurated.json()["record_count"] == 0
    assert recurated.json()["stats"]["curation"] == {"heuristics": {"too_short": 4}}
    merged = api.post(
        "/v1/datasets",
        json={"name": "none", "sources": [{"job": job["id"]}], "filters": {"methods": ["expand"]}},
    )
    assert merged.status_code == 201, merged.text
    assert merged.json()["record_count"] == 0
    empty = recurated.json()["id"]
    for response in (
        api.post(f"/v1/datasets/{empty}/curate", json={}),
        api.post("/v1/datasets", json={"name": "none", "sources": [{"dataset": empty}]}),
    ):
        assert response.status_code == 201, response.text
        assert response.json()["record_count"] == 0
    _empty_downloads(api, empty)
