"""Training jobs end to end: the API, a real `distillery train-worker` process, Postgres and
Redis, training a tiny Llama-style student built on the spot on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Api
from tests.support.training_api import FAST, LORA, dataset, events, step_metrics, submit, unpack, wait_for
from tests.support.training_data import Example, arithmetic, preferences
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sft_lora_job_overfits_evaluates_and_its_adapter_loads_and_generates(trainer: Api, student: Path, tmp_path):
    ds = dataset(trainer, arithmetic(40))
    job = submit(
        trainer,
        dataset_id=ds,
        method="sft",
        base_model=str(student),
        hyperparameters={**FAST, "epochs": 8},
        lora=LORA,
        eval_split=0.2,
        evaluate={"n": 4, "max_new_tokens": 24},
    )
    assert job["status"] == "queued"
    assert job["hyperparameters"]["learning_rate"] == 0.01

    done = wait_for(trainer, job["id"])
    assert done["status"] == "succeeded", done["error"]
    metrics = done["metrics"]
    # The student memorises its small training set: the loss falls well below where it began.
    assert metrics["last_loss"] < 0.6 * metrics["first_loss"]
    assert metrics["eval_loss"] is not None
    assert metrics["rows"]["train"] + metrics["rows"]["eval"] == 40 and metrics["rows"]["eval"] > 0
    evaluation = metrics["evaluation"]
    assert evaluation["prompts"] == 4 and evaluation["with_final_answer"] == 4
    assert 0.0 <= evaluation["exact_match"] <= 1.0
    assert len(evaluation["samples"]) == 4
    assert done["progress"]["step"] == done["progress"]["total_steps"] == metrics["steps"]

    steps = step_metrics(trainer, job["id"])
    assert [s["step"] for s in steps] == list(range(1, metrics["steps"] + 1))
    for key in ("loss", "learning_rate", "grad_norm", "tokens_per_second"):
        assert key in steps[0]["values"], key
    assert any("eval_loss" in s["values"] for s in steps)
    later = trainer.get(f"/v1/training-jobs/{job['id']}/metrics", params={"since_step": metrics["steps"]}).json()
    assert [s["step"] for s in later["data"]] == [metrics["steps"]]

    kinds = [e["type"] for e in events(trainer, job["id"])]
    for kind in ("created", "started", "dataset_materialized", "training_started", "checkpoint_saved", "eval"):
        assert kind in kinds, kinds
    assert kinds[-3:] == ["evaluated", "artifacts_saved", "succeeded"]

    listed = {a["path"]: a["size"] for a in trainer.get(f"/v1/training-jobs/{job['id']}/artifacts").json()["data"]}
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors", "run_card.json"} <= listed.keys()
    assert "adapter/tokenizer.json" in listed

    root = unpack(trainer, job["id"], tmp_path)
    assert {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()} == listed
    import json

    card = json.loads((root / "run_card.json").read_text())
    assert card["dataset"]["id"] == ds and card["method"] == "sft" and card["weights"] == "adapter"
    assert card["metrics"]["last_loss"] == metrics["last_loss"]
    assert {"torch", "transformers", "trl", "peft"} <= card["libraries"].keys()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(root / "adapter")
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(student), root / "adapter")
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 3 + 6?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert output.shape[1] > prompt["input_ids"].shape[1]
    assert tokenizer.decode(output[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def free_form(count: int) -> list[Example]:
    """Answers with no final answer to match (several lines, no rationale kept apart)."""
    return [
        Example(f"What is {a} + {a + 3}?", f"{a} plus {a + 3} makes {2 * a + 3}.\nAnswer: {2 * a + 3}")
        for a in range(count)
    ]


def test_free_form_answers_are_judged_against_the_teachers_by_a_pairwise_feedback_job(
    trainer: Api, worker: Any, student: Path, shared_simulator: Any, tmp_path: Path
):
    judge = trainer.add_teacher(shared_simulator)
    ds = dataset(trainer, free_form(24))
    job = submit(
        trainer,
        dataset_id=ds,
        method="sft",
        base_model=str(student),
        hyperparameters={**FAST, "epochs": 1},
        lora=LORA,
        eval_split=0.25,
        evaluate={"n": 4, "max_new_tokens": 16, "judge_teacher": judge["name"]},
    )
    # Stored by id, as synthesis jobs store their teachers.
    assert job["evaluate"]["judge_teacher"] == judge["id"]

    done = wait_for(trainer, job["id"], timeout_s=240)
    assert done["status"] == "succeeded", done["error"]
    evaluation = done["metrics"]["evaluation"]
    assert evaluation["prompts"] == 4 and evaluation["with_final_answer"] == 0
    assert evaluation["exact_match"] is None
    verdict = evaluation["judge"]
    assert "error" not in verdict, verdict
    assert verdict["win"] + verdict["tie"] + verdict["loss"] == 4 and verdict["unjudged"] == 0
    assert verdict["win_rate"] == round(verdict["win"] / 4, 4)

    judge_job = trainer.get(f"/v1/jobs/{verdict['job_id']}").json()
    assert judge_job["status"] == "succeeded" and judge_job["method"] == "feedback"
    assert judge_job["usage"]["requests"] > 0
    kinds = [e["type"] for e in events(trainer, job["id"])]
    assert kinds[-5:] == ["judging_started", "judged", "evaluated", "artifacts_saved", "succeeded"]
    import json

    card = json.loads((unpack(trainer, job["id"], tmp_path) / "run_card.json").read_text())
    assert card["metrics"]["evaluation"]["judge"] == verdict


def test_dpo_full_fine_tune_raises_the_chosen_answers_reward(trainer: Api, student: Path, tmp_path):
    ds = dataset(trainer, preferences(24), kind="preference")
    job = submit(
        trainer,
        dataset_id=ds,
        method="dpo",
        base_model=str(student),
        hyperparameters={**FAST, "learning_rate": 0.001, "epochs": 4},
        lora=None,
        eval_split=0.0,
    )
    assert job["hyperparameters"]["beta"] == 0.1
    done = wait_for(trainer, job["id"])
    assert done["status"] == "succeeded", done["error"]
    metrics = done["metrics"]
    assert metrics["last_loss"] < metrics["first_loss"]
    assert metrics["rewards/margins"] > 0
    assert metrics["rows"] == {"train": 24, "eval": 0, "dropped": 0}
    values = step_metrics(trainer, job["id"])[-1]["values"]
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "tokens_per_second"):
        assert key in values, key

    root = unpack(trainer, job["id"], tmp_path)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(root / "model")
    assert model.config.num_hidden_layers == 2


def test_cancel_stops_a_running_job_at_the_next_step_and_keeps_the_model(trainer: Api, student: Path):
    ds = dataset(trainer, arithmetic(16))
    job = submit(
        trainer,
        dataset_id=ds,
        method="sft",
        base_model=str(student),
        hyperparameters={**FAST, "epochs": 100, "batch_size": 4},
        lora=LORA,
        eval_split=0.0,
    )
    wait_until(
        lambda: trainer.get(f"/v1/training-jobs/{job['id']}").json()["progress"]["step"] >= 3,
        timeout_s=120,
        what="training to be under way",
    )
    response = trainer.post(f"/v1/training-jobs/{job['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["cancel_requested"] is True

    done = wait_for(trainer, job["id"])
    assert done["status"] == "cancelled"
    assert done["progress"]["step"] < done["progress"]["total_steps"]
    after_cancel = events(trainer, job["id"])
    after_cancel = after_cancel[[e["type"] for e in after_cancel].index("cancel_requested") :]
    # The step it stopped at was saved as a checkpoint, and the model as of then published.
    assert [e["type"] for e in after_cancel][-3:] == ["checkpoint_saved", "artifacts_saved", "cancelled"]
    assert after_cancel[-3]["data"]["step"] == done["progress"]["step"]
    listed = {a["path"] for a in trainer.get(f"/v1/training-jobs/{job['id']}/artifacts").json()["data"]}
    assert "adapter/adapter_model.safetensors" in listed
    again = trainer.post(f"/v1/training-jobs/{job['id']}/cancel")
    assert again.status_code == 409


def test_a_model_that_cannot_load_and_a_dataset_without_answers_fail_with_their_reason(
    trainer: Api, student: Path, tmp_path
):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    bad_model = submit(trainer, dataset_id=dataset(trainer, arithmetic(8)), method="sft", base_model=str(broken))
    no_answers = [Example(f"Question {i}?", "") for i in range(8)]
    bad_data = submit(trainer, dataset_id=dataset(trainer, no_answers), method="sft", base_model=str(student))

    failed = wait_for(trainer, bad_model["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith(f"could not load base model '{broken}'")
    failed = wait_for(trainer, bad_data["id"])
    assert failed["status"] == "failed"
    assert "no usable training rows" in failed["error"] and "8 without an answer" in failed["error"]
    assert events(trainer, bad_data["id"])[-1]["level"] == "error"


def _problem(response: Any) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body["error"]["details"][0]["field"]


def test_wrong_inputs_are_422s_that_name_the_field(tenant: Api, other_api: Api, student: Path, tmp_path):
    sft = dataset(tenant, arithmetic(8))
    preference = dataset(tenant, preferences(8), kind="preference")
    theirs = dataset(other_api, arithmetic(8))
    base = {"dataset_id": sft, "method": "sft", "base_model": str(student)}
    cases = [
        ({**base, "method": "dpo"}, "dataset_id"),
        ({**base, "dataset_id": preference}, "dataset_id"),
        ({**base, "dataset_id": "ds_missing"}, "dataset_id"),
        ({**base, "dataset_id": theirs}, "dataset_id"),
        ({**base, "base_model": str(tmp_path / "nowhere")}, "base_model"),
        ({**base, "base_model": "some-org/not-in-the-cache"}, "base_model"),
        ({**base, "method": "ppo"}, "method"),
        ({**base, "hyperparameters": {"beta": 0.1}}, "hyperparameters.beta"),
        (
            {**base, "dataset_id": preference, "method": "dpo", "hyperparameters": {"packing": True}},
            "hyperparameters.packing",
        ),
        ({**base, "hyperparameters": {"learning_rate": -1}}, "hyperparameters.learning_rate"),
        ({**base, "hyperparameters": {"epochs": 1, "optimizer": "sgd"}}, "hyperparameters.optimizer"),
        ({**base, "lora": {"r": 0}}, "lora.r"),
        ({**base, "eval_split": 0, "evaluate": {"n": 5}}, "evaluate"),
        ({**base, "evaluate": {"n": 5, "judge_teacher": "no-such-teacher"}}, "evaluate.judge_teacher"),
        ({**base, "base_model": "model\x00"}, "base_model"),
    ]
    for body, field in cases:
        response = tenant.post("/v1/training-jobs", json=body)
        assert _problem(response) == (422, field), (body, response.text)
    assert tenant.get("/v1/training-jobs").json()["data"] == []


def test_another_tenants_training_job_is_not_found(tenant: Api, other_api: Api, student: Path):
    job = submit(tenant, dataset_id=dataset(tenant, arithmetic(8)), method="sft", base_model=str(student))
    assert [j["id"] for j in tenant.get("/v1/training-jobs").json()["data"]] == [job["id"]]
    assert other_api.get("/v1/training-jobs").json()["data"] == []
    for method, path in [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/metrics"),
        ("GET", "/artifacts"),
        ("GET", "/artifacts/download"),
        ("POST", "/cancel"),
    ]:
        response = other_api.request(method, f"/v1/training-jobs/{job['id']}{path}")
        assert response.status_code == 404, (path, response.text)
    assert tenant.client.get("/v1/training-jobs").status_code == 401
    assert tenant.get("/v1/training-jobs/train_%00x").status_code == 422
