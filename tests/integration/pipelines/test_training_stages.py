"""A pipeline with a training stage: a label job on the simulated teacher, then SFT of a
tiny student on what it kept, on a real `distillery train-worker` (CPU)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pipelines import events, label, submit, wait_for
from tests.support.stack import Api, arithmetic_seeds

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_model import build_tiny_model

    corpus = [s["instruction"] for s in arithmetic_seeds(40)] + ["Answer:", "The answer is"]
    return build_tiny_model(tmp_path_factory.mktemp("pipeline-student"), corpus)


@pytest.fixture(scope="module")
def train_worker(stack_env: dict[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    from distillery.cli.stack import process

    with process(["train-worker", "--loglevel", "INFO"], stack_env, logs / "pipeline-train-worker.log") as proc:
        yield proc


def test_an_sft_stage_trains_the_student_on_the_label_stages_dataset(api: Api, shared_simulator, student, train_worker):
    teacher = api.add_teacher(shared_simulator)["name"]
    sft = {
        "dataset_id": "@label",
        "base_model": str(student),
        "hyperparameters": {"epochs": 1, "batch_size": 4, "max_seq_length": 128, "gradient_checkpointing": False},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "eval_split": 0.25,
        "evaluate": {"n": 2, "max_new_tokens": 8},
    }
    body = {
        "name": "label-then-sft",
        "stages": [
            {"name": "label", "kind": "job", "spec": label(teacher, seeds=arithmetic_seeds(12))},
            {"name": "sft", "kind": "sft", "spec": sft},
        ],
    }
    run = submit(api, body)
    done = wait_for(api, run["id"], timeout_s=300)
    assert done["status"] == "succeeded", done["error"]
    labelled, trained = done["stages"]
    assert trained["job_id"] is None and trained["training_job_id"] is not None
    job = api.get(f"/v1/training-jobs/{trained['training_job_id']}").json()
    assert job["status"] == "succeeded" and job["dataset_id"] == labelled["dataset_id"]
    assert trained["progress"]["unit"] == "steps" and trained["progress"]["done"] == job["metrics"]["steps"] > 0
    assert [e["type"] for e in events(api, run["id"])][-3:] == ["stage_started", "stage_succeeded", "succeeded"]

    report = api.get(f"/v1/pipelines/{run['id']}/report").json()["stages"][1]
    assert report["training"]["steps"] == job["metrics"]["steps"]
    assert report["evaluation"]["dataset_id"] == labelled["dataset_id"]  # its held-out split
    assert report["evaluation"]["prompts"] == 2 and report["evaluation"]["teacher"] is None


def _gold(api: Api, count: int) -> dict:
    lines = [
        {"id": f"g{i}", "instruction": s["instruction"], "output": s["answer"]}
        for i, s in enumerate(arithmetic_seeds(count, offset=60))
    ]
    response = api.post(
        "/v1/datasets/upload",
        files={
            "file": ("gold.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode(), "application/x-ndjson")
        },
        data={"purpose": "eval", "name": "gold"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_distillation_loop_label_sft_generate_feedback_dpo_evaluate_in_two_rounds(
    api: Api, start_simulator, student, train_worker
):
    teacher = api.add_teacher(start_simulator(wrong_rate=0.25))["name"]
    gold = _gold(api, 8)
    fast = {"epochs": 1, "batch_size": 4, "max_seq_length": 128, "gradient_checkpointing": False}
    body = {
        "name": "the-loop",
        "stages": [
            # The teacher's own accuracy on the gold set, for the report.
            {
                "name": "teacher",
                "kind": "job",
                "spec": label(teacher, seeds=[], source_dataset=gold["id"], curation={"gold": "keep"}),
            },
            {"name": "label", "kind": "job", "spec": label(teacher, seeds=arithmetic_seeds(12))},
            {
                "name": "sft",
                "kind": "sft",
                "spec": {
                    "dataset_id": "@label",
                    "base_model": str(student),
                    "hyperparameters": fast,
                    "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                    "eval_split": 0,
                },
            },
            {
                "name": "generate",
                "kind": "generate",
                "spec": {"student": "@sft", "dataset_id": "@label", "generate": {"samples": 2, "max_new_tokens": 16}},
            },
            {
                "name": "feedback",
                "kind": "job",
                "spec": {**label(teacher, seeds=[], source_dataset="@generate"), "method": "feedback"},
            },
            {
                "name": "dpo",
                "kind": "dpo",
                "spec": {
                    "dataset_id": "@feedback",
                    "student": "@sft",
                    "hyperparameters": {**fast, "learning_rate": 0.001},
                    "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
                    "eval_split": 0,
                },
            },
            {
                "name": "evaluate",
                "kind": "evaluate",
                "spec": {"student": "@dpo", "dataset_id": gold["id"], "evaluate": {"n": 8, "max_new_tokens": 16}},
            },
        ],
        "rounds": {"count": 2, "stages": ["generate", "feedback", "dpo"]},
    }
    run = submit(api, body)
    done = wait_for(api, run["id"], timeout_s=600)
    assert done["status"] == "succeeded", done["error"]
    names = [s["name"] for s in done["stages"]]
    assert names == [
        "teacher",
        "label",
        "sft",
        "generate",
        "feedback",
        "dpo",
        "generate#2",
        "feedback#2",
        "dpo#2",
        "evaluate",
    ]
    stage = {s["name"]: s for s in done["stages"]}
    training = {
        n: api.get(f"/v1/training-jobs/{s['training_job_id']}").json() for n, s in stage.items() if s["training_job_id"]
    }
    # Each round samples the newest student and trains DPO on from it.
    assert training["generate"]["student"] == stage["sft"]["training_job_id"]
    assert training["dpo"]["student"] == stage["sft"]["training_job_id"]
    assert training["generate#2"]["student"] == stage["dpo"]["training_job_id"]
    assert training["dpo#2"]["student"] == stage["dpo"]["training_job_id"]
    assert training["evaluate"]["student"] == stage["dpo#2"]["training_job_id"]
    assert training["dpo#2"]["dataset_id"] == stage["feedback#2"]["dataset_id"]

    # The report's numbers are the stages' own.
    report = {s["name"]: s for s in api.get(f"/v1/pipelines/{run['id']}/report").json()["stages"]}
    teacher_records = api.records(stage["teacher"]["job_id"])
    matched = sum(r["scores"].get("matches_gold") is True for r in teacher_records)
    assert report["teacher"]["gold"]["scored"] == len(teacher_records) == 8
    assert report["teacher"]["gold"]["matched"] == matched
    evaluation = training["evaluate"]["metrics"]["evaluation"]
    assert report["evaluate"]["evaluation"]["dataset_id"] == gold["id"]
    assert report["evaluate"]["evaluation"]["prompts"] == evaluation["prompts"] == 8
    assert report["evaluate"]["evaluation"]["student_exact_match"] == evaluation["exact_match"]
    assert report["evaluate"]["evaluation"]["teacher"]["accuracy"] == round(matched / 8, 4)
    feedback = api.get(f"/v1/jobs/{stage['feedback']['job_id']}").json()
    assert report["feedback"]["records"]["kept"] == feedback["progress"]["accepted"]
    assert report["generate"]["samples"] == training["generate"]["metrics"]["distinct_samples"]
    assert report["dpo#2"]["training"]["steps"] == training["dpo#2"]["metrics"]["steps"] > 0
    costs = [api.get(f"/v1/jobs/{s['job_id']}").json()["usage"]["cost_usd"] for s in stage.values() if s["job_id"]]
    assert done["cost_usd"] == pytest.approx(sum(costs))
