"""Our own exports upload again: every export format, as JSON Lines, gzip or Parquet, makes
a dataset with the same rows (same task and response; same pair for preferences). Inline
job seeds take alpaca and chat rows, and an unknown field says what to use instead.

One stack for the module: a tenant, a simulator and three datasets (a labelled one, a
dialogue one and a preference one), each uploaded back in many formats."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.settings import overridden
from tests.support.stack import Api, arithmetic_seeds, simulator

pytestmark = pytest.mark.integration

FILES = ("jsonl", "jsonl.gz", "parquet")
SFT_FORMATS = ("openai-chat", "prompt-completion", "alpaca", "sharegpt")


def _job(api: Api, teacher: dict[str, Any], seeds: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    job = api.wait_for_job(api.submit_label_job(teacher, seeds, **spec)["id"], timeout_s=180)
    assert job["status"] == "succeeded", [e["message"] for e in api.events(job["id"])]
    return job


def _upload(api: Api, name: str, body: bytes, filename: str = "f.jsonl", **form: str) -> Any:
    return api.post("/v1/datasets/upload", files={"file": (filename, body)}, data={"name": name, **form})


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _download(api: Api, dataset_id: str, **params: Any) -> bytes:
    response = api.get(f"/v1/datasets/{dataset_id}/download", params=params)
    assert response.status_code == 200, response.text
    return response.content


def _rows(api: Api, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _download(api, dataset_id, **params).splitlines()]


@pytest.fixture(scope="module")
def stack(test_client: Any, workers: Any, stack_env: dict[str, str], logs: Path) -> Iterator[dict[str, Any]]:
    """A tenant with a labelled, a dialogue and a preference dataset."""
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key

    if workers.proc is None or workers.proc.poll() is not None:
        workers.start()
    with unit_of_work() as session:
        api = Api(test_client, create_key(session, "round-trips"))
    # One tenant makes every call of the module, back to back: above the default 20 per second.
    with overridden(tenant_rps=10_000), simulator(stack_env, logs) as sim:
        teacher = api.add_teacher(sim)
        labelled = _job(api, teacher, arithmetic_seeds(6))
        dialogue = _job(api, teacher, arithmetic_seeds(3, offset=10), params={"turns": 2})
        lines = [
            {"instruction": s["instruction"], "candidates": [f"Answer: {s['answer']}", "Answer: 0"]}
            for s in arithmetic_seeds(4, offset=20)
        ]
        candidates = _upload(api, "student", _jsonl(lines), purpose="candidates")
        assert candidates.status_code == 201, candidates.text
        feedback = _job(api, teacher, [], method="feedback", source_dataset=candidates.json()["id"])
        yield {
            "api": api,
            "teacher": teacher,
            "sft": labelled["dataset_id"],
            "dialogue": dialogue["dataset_id"],
            "preference": feedback["dataset_id"],
            "candidates": candidates.json()["id"],
        }


def _round_trip(api: Api, dataset_id: str, fmt: str, file: str, **options: Any) -> dict[str, Any]:
    """The dataset downloaded in `fmt` as `file`, uploaded back with no purpose given."""
    body = _download(api, dataset_id, format=fmt, file=file, **options)
    response = _upload(api, f"back-{fmt}", body, filename=f"export.{file}")
    assert response.status_code == 201, response.text
    uploaded: dict[str, Any] = response.json()
    original = api.get(f"/v1/datasets/{dataset_id}").json()
    assert (uploaded["kind"], uploaded["record_count"]) == (original["kind"], original["record_count"])
    # A candidates file is alpaca rows with candidates.
    assert uploaded["sources"][0]["format"] == ("alpaca" if fmt == "candidates" else fmt)
    return uploaded


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("fmt", SFT_FORMATS)
def test_an_sft_export_uploads_back_with_the_same_rows(stack, fmt, file):
    api, original = stack["api"], stack["sft"]
    uploaded = _round_trip(api, original, fmt, file)["id"]
    assert _rows(api, uploaded, format=fmt) == _rows(api, original, format=fmt)
    # Task and response, whatever the format it went through; the rationale kept apart.
    for rationale in (True, False):
        assert _rows(api, uploaded, format="alpaca", include_rationale=rationale) == _rows(
            api, original, format="alpaca", include_rationale=rationale
        )


@pytest.mark.parametrize("fmt", SFT_FORMATS)
def test_a_dialogue_export_uploads_back_with_every_turn(stack, fmt):
    api, original = stack["api"], stack["dialogue"]
    uploaded = _round_trip(api, original, fmt, "jsonl")["id"]
    assert _rows(api, uploaded) == _rows(api, original)
    assert all(len(row["messages"]) == 4 for row in _rows(api, uploaded))


def test_the_system_prompt_comes_back_when_exported(stack):
    api, original = stack["api"], stack["sft"]
    uploaded = _round_trip(api, original, "openai-chat", "jsonl", include_system=True)["id"]
    with_system = _rows(api, uploaded, include_system=True)
    assert with_system == _rows(api, original, include_system=True)
    assert all(row["messages"][0]["role"] == "system" for row in with_system)


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("fmt, options", [("dpo", {}), ("dpo", {"conversational": True}), ("openai-dpo", {})])
def test_a_preference_export_uploads_back_as_the_same_pairs(stack, fmt, options, file):
    api, original = stack["api"], stack["preference"]
    uploaded = _round_trip(api, original, fmt, file, **options)["id"]
    assert _rows(api, uploaded, format="dpo") == _rows(api, original, format="dpo")
    assert len(_rows(api, uploaded, format="dpo")) == 4


@pytest.mark.parametrize("file", FILES)
def test_a_candidates_export_uploads_back_as_candidates(stack, file):
    api, original = stack["api"], stack["candidates"]
    uploaded = _round_trip(api, original, "candidates", file)["id"]
    assert _rows(api, uploaded, format="candidates") == _rows(api, original, format="candidates")


def test_gzip_is_known_by_its_bytes_and_parquet_by_its_own(stack):
    api = stack["api"]
    rows = [{"instruction": "What is 2 + 2?", "output": "4"}]
    for name, body in [("no-suffix", gzip.compress(_jsonl(rows))), ("named-jsonl.jsonl", _parquet(rows))]:
        response = _upload(api, "sniffed", body, filename=name)
        assert response.status_code == 201, response.text
        assert (response.json()["kind"], response.json()["record_count"]) == ("sft", 1)


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def test_a_file_of_mixed_or_unknown_shapes_names_the_rows_and_the_shapes_read(stack):
    api = stack["api"]
    mixed = [
        {"instruction": "What is 2 + 2?", "output": "4"},
        {"messages": [{"role": "user", "content": "What is 3 + 3?"}]},
        {"text": "What is 4 + 4?", "label": "8"},
    ]
    response = _upload(api, "mixed", _jsonl(mixed))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_upload"
    (second, third) = error["details"]
    assert (second["line"], second["field"]) == (2, "line")
    assert "openai-chat row (fields: messages) in a file of alpaca rows" in second["problem"]
    assert third["line"] == 3 and "fields seen: text, label" in third["problem"]
    assert "openai-dpo (input, preferred_output, non_preferred_output)" in third["problem"]


def test_a_purpose_that_does_not_fit_the_rows_is_named(stack):
    api = stack["api"]
    pair = _jsonl([{"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"}])
    response = _upload(api, "pairs", pair, purpose="sft")
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "purpose"
    no_reply = _jsonl([{"messages": [{"role": "user", "content": "What is 2 + 2?"}]}])
    response = _upload(api, "prompts", no_reply, purpose="sft")
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"line": 1, "field": "messages", "problem": "an sft dataset needs each row's response"}
    ]
    assert _upload(api, "prompts", no_reply).json()["kind"] == "seeds"


def test_seeds_take_alpaca_output_and_chat_messages_as_gold_answers(stack):
    api, teacher = stack["api"], stack["teacher"]
    seeds = arithmetic_seeds(4, offset=30)
    rows = [
        {"instruction": seeds[0]["instruction"], "output": seeds[0]["answer"]},
        {"instruction": seeds[1]["instruction"], "input": "", "output": seeds[1]["answer"], "system": "Be exact."},
        {
            "messages": [
                {"role": "user", "content": seeds[2]["instruction"]},
                {"role": "assistant", "content": seeds[2]["answer"]},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Be exact."},
                {"role": "user", "content": seeds[3]["instruction"]},
                {"role": "assistant", "content": "-1"},
            ]
        },
    ]
    job = _job(api, teacher, rows, curation={"gold": "keep"})
    records = {r["instruction"]: r for r in api.records(job["id"])}
    assert [records[s["instruction"]]["scores"]["matches_gold"] for s in seeds] == [True, True, True, False]
    # The seeds' system prompt is the job's: the teacher is asked with it.
    assert all(r["messages"][0]["content"].startswith("Be exact.\n") for r in records.values())


def test_an_unknown_seed_field_says_what_to_use_instead(stack):
    api, teacher = stack["api"], stack["teacher"]
    body = {
        "name": "hints",
        "teacher": teacher["name"],
        "method": "label",
        "skill": {"name": "arithmetic"},
        "seeds": [{"instruction": "What is 1 + 1?"}, {"prompt": "What is 2 + 2?"}, {"instruction": "q", "gold": "4"}],
    }
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["details"] == [
        {"field": "seeds.1.prompt", "problem": "unknown field; use `instruction`"},
        {"field": "seeds.2.gold", "problem": "unknown field; use `answer`"},
    ]
    different = {**body, "skill": {"name": "arithmetic", "system_prompt": "Be brief."}}
    different["seeds"] = [{"instruction": "What is 1 + 1?", "output": "2", "system": "Be exact."}]
    response = api.post("/v1/jobs", json=different)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "seeds.0.system"
