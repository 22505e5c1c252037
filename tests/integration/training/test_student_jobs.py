"""A trained student in the loop, end to end through the API and a real train-worker: DPO
that starts from an SFT student, a generate job whose samples become a candidates
dataset, and scoring on a user's uploaded gold set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distillery.prompts.matching import answers_match
from tests.support.stack import Api
from tests.support.training_api import (
    FAST,
    LORA,
    dataset,
    download,
    events,
    run_card,
    submit,
    upload,
    wait_for,
)
from tests.support.training_data import Example, arithmetic, preferences

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def sft_student(api: Api, base_model: Path, **overrides: Any) -> dict[str, Any]:
    """A succeeded SFT LoRA job on arithmetic: a trained student."""
    body = {
        "dataset_id": dataset(api, arithmetic(24)),
        "method": "sft",
        "base_model": str(base_model),
        "hyperparameters": {**FAST, "epochs": 4},
        "lora": LORA,
        "eval_split": 0.0,
        **overrides,
    }
    done = wait_for(api, submit(api, **body)["id"])
    assert done["status"] == "succeeded", done["error"]
    return done


def gold_lines(count: int) -> list[dict[str, Any]]:
    """Arithmetic questions with their gold answers, as a user writes an eval file."""
    return [{"id": f"g{a}", "instruction": f"What is {a} + {a + 3}?", "output": str(2 * a + 3)} for a in range(count)]


def test_dpo_starts_from_the_sft_student_and_its_run_card_names_it(trainer: Api, student: Path, tmp_path: Path):
    sft = sft_student(trainer, student)
    job = submit(
        trainer,
        dataset_id=dataset(trainer, preferences(16), kind="preference"),
        method="dpo",
        student=sft["id"],
        hyperparameters={**FAST, "learning_rate": 0.001, "epochs": 2},
        lora=LORA,
        eval_split=0.0,
    )
    # The student brings its base model.
    assert job["student"] == sft["id"] and job["base_model"] == sft["base_model"]

    done = wait_for(trainer, job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["metrics"]["steps"] > 0 and "rewards/margins" in done["metrics"]
    loaded = next(e for e in events(trainer, job["id"]) if e["type"] == "student_loaded")
    assert sft["id"] in loaded["message"]

    card = run_card(trainer, job["id"], tmp_path)
    assert card["method"] == "dpo" and card["weights"] == "adapter"
    assert card["student"] == {
        "training_job_id": sft["id"],
        "weights": [{"training_job_id": sft["id"], "kind": "adapter"}],
    }

    # A student of a student: the DPO adapter applies on top of the SFT one.
    again = wait_for(
        trainer,
        submit(
            trainer,
            dataset_id=upload(trainer, "gold-dpo", "eval", gold_lines(3))["id"],
            method="evaluate",
            student=done["id"],
            evaluate={"n": 3, "max_new_tokens": 8},
        )["id"],
    )
    assert again["status"] == "succeeded", again["error"]
    chain = run_card(trainer, again["id"], tmp_path / "evaluate")["student"]["weights"]
    assert [w["training_job_id"] for w in chain] == [sft["id"], done["id"]]


def test_a_generate_job_writes_the_students_samples_as_a_candidates_dataset_a_feedback_job_judges(
    trainer: Api, student: Path, tmp_path: Path, worker: Any, shared_simulator: Any
):
    sft = sft_student(trainer, student)
    # Four prompts with a reference answer, two without.
    lines = gold_lines(4) + [{"instruction": f"What is {a} + 1?"} for a in (7, 9)]
    prompts = upload(trainer, "prompts", "seeds", lines)
    job = submit(
        trainer,
        dataset_id=prompts["id"],
        method="generate",
        student=sft["id"],
        generate={"samples": 3, "temperature": 1.5, "max_new_tokens": 12},
    )
    assert job["generate"] == {
        "samples": 3,
        "temperature": 1.5,
        "top_p": 1.0,
        "max_new_tokens": 12,
        "include_reference": True,
        "seed": 0,
    }
    assert job["hyperparameters"] == {} and job["lora"] is None

    done = wait_for(trainer, job["id"])
    assert done["status"] == "succeeded", done["error"]
    metrics = done["metrics"]
    assert done["output_dataset_id"] == metrics["output_dataset_id"] is not None
    assert metrics["prompts"] == 6 and metrics["samples"] == 18

    written = trainer.get(f"/v1/datasets/{done['output_dataset_id']}").json()
    assert written["kind"] == "candidates" and written["record_count"] == metrics["records"]
    assert written["sources"][0]["dataset"] == prompts["id"]
    rows = download(trainer, written["id"], "candidates")
    assert len(rows) == metrics["records"]
    by_prompt = {row["instruction"]: row for row in rows}
    student_samples = 0
    for line in lines:
        row = by_prompt.get(line["instruction"])
        if row is None:  # every sample of a prompt without a reference came back blank
            assert "output" not in line
            continue
        candidates = row["candidates"]
        assert len(candidates) == len(set(candidates)) and all(c.strip() for c in candidates)
        if "output" in line:  # the reference first, then at most three distinct samples
            assert row["output"] == candidates[0] == line["output"]
            assert len(candidates) <= 4
            student_samples += len(candidates) - 1
        else:
            assert row["output"] is None and 1 <= len(candidates) <= 3
            student_samples += len(candidates)
    assert metrics["distinct_samples"] == student_samples

    kinds = [e["type"] for e in events(trainer, job["id"])]
    assert kinds[-4:] == ["generation_started", "dataset_written", "artifacts_saved", "succeeded"]
    card = run_card(trainer, job["id"], tmp_path)
    assert card["student"]["training_job_id"] == sft["id"] and card["weights"] is None

    # The student in the loop: a feedback job judges the student's candidates, beside the
    # teacher's own answer, into preference pairs.
    teacher = trainer.add_teacher(shared_simulator)
    generators = [{"teacher": teacher["name"], "temperature": 1.0}]
    feedback = trainer.submit_label_job(
        teacher, [], method="feedback", source_dataset=written["id"], params={"generators": generators}
    )
    judged = trainer.wait_for_job(feedback["id"])
    assert judged["status"] == "succeeded", judged["error"]
    made = trainer.records(feedback["id"])
    assert len(made) == len(rows)
    for record in made:
        candidates = by_prompt[record["instruction"]]["candidates"]
        responses = [c["response"] for c in record["parsed"]["candidates"]]
        assert responses[: len(candidates)] == candidates
        # The uploaded prompt's gold answer came along: each candidate is checked against it.
        gold = next((line.get("output") for line in lines if line["instruction"] == record["instruction"]), None)
        if gold is not None and record["reject_reason"] != "too_few_candidates":
            assert [c["matches_gold"] for c in record["parsed"]["candidates"]][0] is True  # the reference


def test_a_student_is_scored_on_an_uploaded_gold_set_during_and_after_training(trainer: Api, student: Path):
    gold = upload(trainer, "gold", "eval", gold_lines(6))
    # Evaluated on the gold set instead of a held-out split (eval_split 0).
    sft = sft_student(trainer, student, evaluate={"n": 5, "max_new_tokens": 12, "dataset_id": gold["id"]})
    during = sft["metrics"]["evaluation"]
    assert during["dataset_id"] == gold["id"] and during["prompts"] == 5

    job = submit(
        trainer,
        dataset_id=gold["id"],
        method="evaluate",
        student=sft["id"],
        evaluate={"n": 5, "max_new_tokens": 12},
    )
    done = wait_for(trainer, job["id"])
    assert done["status"] == "succeeded", done["error"]
    after = done["metrics"]["evaluation"]
    assert after["dataset_id"] == gold["id"]
    # n of the gold set's six lines, each with a short gold answer exact match can check.
    assert after["prompts"] == 5 and after["with_final_answer"] == 5
    assert 0.0 <= after["exact_match"] <= 1.0
    samples = after["samples"]
    assert [s["reference"] for s in samples] == [line["output"] for line in gold_lines(5)]
    matches = sum(answers_match(final_answer(s["student"]), s["reference"]) for s in samples)
    assert after["exact_match"] == round(matches / 5, 4)
    # The same student, greedy, on the same prompts: the same score as at the end of training.
    assert after["exact_match"] == during["exact_match"]
    assert done["progress"] == {"step": 5, "total_steps": 5}
    kinds = [e["type"] for e in events(trainer, job["id"])]
    assert kinds[-4:] == ["evaluation_started", "evaluated", "artifacts_saved", "succeeded"]


def final_answer(reply: str) -> str:
    from distillery.prompts.extract import final_answer as extract

    found = extract(reply)
    return found.answer if found else reply.strip()


def _field(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["details"][0]["field"]


def test_wrong_student_jobs_are_422s_that_name_the_field(tenant: Api, other_api: Api, student: Path):
    sft = dataset(tenant, arithmetic(8))
    # Never succeeds (nothing to train on): queued, running or failed whenever it is read.
    no_rows = dataset(tenant, [Example(f"Question {i}?", "") for i in range(4)])
    unfinished = submit(tenant, dataset_id=no_rows, method="sft", base_model=str(student))
    theirs = submit(other_api, dataset_id=dataset(other_api, arithmetic(8)), method="sft", base_model=str(student))
    no_answers = upload(tenant, "no-answers", "seeds", [{"instruction": "What is 2 + 2?"}])["id"]
    gold = upload(tenant, "gold", "eval", gold_lines(2))["id"]
    generate = {"dataset_id": sft, "method": "generate", "student": unfinished["id"]}
    cases = [
        ({"dataset_id": sft, "method": "sft", "base_model": str(student), "student": unfinished["id"]}, "student"),
        ({"dataset_id": sft, "method": "sft"}, "base_model"),
        ({**generate, "student": "train_missing"}, "student"),
        ({**generate, "student": theirs["id"]}, "student"),
        ({**generate, "base_model": str(student)}, "base_model"),
        ({**generate, "student": None}, "student"),
        ({**generate, "generate": {"samples": 17}}, "generate.samples"),
        ({**generate, "hyperparameters": {"epochs": 1}}, "hyperparameters"),
        ({**generate, "method": "evaluate", "dataset_id": gold}, "evaluate"),
        ({**generate, "method": "evaluate", "dataset_id": no_answers, "evaluate": {"n": 2}}, "dataset_id"),
        (
            {"dataset_id": sft, "method": "sft", "base_model": str(student), "evaluate": {"n": 2, "dataset_id": "x"}},
            "evaluate.dataset_id",
        ),
    ]
    for body, field in cases:
        response = tenant.post("/v1/training-jobs", json=body)
        assert _field(response) == (422, field), (body, response.text)
    # A student that has not finished training names its status.
    response = tenant.post("/v1/training-jobs", json=generate)
    assert _field(response) == (422, "student")
    assert "has no trained student" in response.json()["error"]["message"]
