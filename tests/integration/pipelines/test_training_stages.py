"""A pipeline with a training stage: a label job on the simulated teacher, then SFT of a
tiny student on what it kept, on a real `distillery train-worker` (CPU)."""

from __future__ import annotations

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
    from app.cli.stack import process

    with process(["train-worker", "--loglevel", "INFO"], stack_env, logs / "pipeline-train-worker.log") as proc:
        yield proc


def test_an_sft_stage_trains_the_student_on_the_label_stages_dataset(api: Api, start_simulator, student, train_worker):
    teacher = api.add_teacher(start_simulator())["name"]
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
