from __future__ import annotations

import pytest
from pydantic import ValidationError

from distillery.schemas.training import TrainingJobCreate

BASE = {"dataset_id": "ds_1", "method": "sft", "base_model": "/models/tiny"}


def problem(**body: object) -> str:
    with pytest.raises(ValidationError) as caught:
        TrainingJobCreate.model_validate({**BASE, **body})
    return caught.value.errors()[0]["msg"]


def test_defaults_train_a_lora_adapter_with_a_tenth_held_out():
    spec = TrainingJobCreate.model_validate(BASE)
    assert spec.lora is not None and spec.lora.target_modules == "all-linear"
    assert spec.eval_split == 0.1 and spec.evaluate is None
    assert spec.hyperparameters.learning_rate is None  # the method's own default, filled in at creation


def test_null_lora_is_full_fine_tuning():
    assert TrainingJobCreate.model_validate({**BASE, "lora": None}).lora is None


def test_method_specific_hyperparameters_are_refused_on_the_other_method():
    assert problem(hyperparameters={"beta": 0.1}).endswith("hyperparameters.beta: only for dpo")
    assert "hyperparameters.sft_weight: only for dpo" in problem(hyperparameters={"sft_weight": 1.0})
    assert problem(method="dpo", hyperparameters={"packing": True}).endswith("hyperparameters.packing: only for sft")


def test_evaluation_needs_held_out_prompts():
    assert "evaluate: needs held-out prompts" in problem(eval_split=0, evaluate={"n": 3})


@pytest.mark.parametrize(
    "body",
    [
        {"hyperparameters": {"epochs": 0}},
        {"hyperparameters": {"batch_size": 0}},
        {"hyperparameters": {"unknown": 1}},
        {"lora": {"target_modules": []}},
        {"lora": {"target_modules": ["q_proj; rm -rf"]}},
        {"eval_split": 0.9},
        {"base_model": "tiny\x00"},
        {"base_model": ""},
        {"method": "rlhf"},
    ],
)
def test_malformed_specs_are_refused(body):
    with pytest.raises(ValidationError):
        TrainingJobCreate.model_validate({**BASE, **body})


STUDENT = {"dataset_id": "ds_1", "student": "train_1"}


def test_sft_and_dpo_start_from_a_base_model_or_a_student_not_both():
    spec = TrainingJobCreate.model_validate({**STUDENT, "method": "dpo"})
    assert spec.base_model is None and spec.student == "train_1"
    assert problem(student="train_1").endswith(
        "student: give `base_model` or `student`, not both (the student brings its base model)"
    )
    assert problem(base_model=None).endswith("base_model: required, or `student` to continue from a trained one")


def test_a_gold_set_replaces_the_held_out_split():
    spec = TrainingJobCreate.model_validate({**BASE, "eval_split": 0, "evaluate": {"n": 3, "dataset_id": "ds_gold"}})
    assert spec.evaluate is not None and spec.evaluate.dataset_id == "ds_gold"


def test_a_generate_job_samples_a_student_with_bounded_defaults():
    spec = TrainingJobCreate.model_validate({**STUDENT, "method": "generate"})
    assert spec.generate is None  # the defaults are filled in at creation
    given = TrainingJobCreate.model_validate({**STUDENT, "method": "generate", "generate": {"samples": 16}})
    assert given.generate is not None and given.generate.samples == 16 and given.generate.temperature == 0.8
    for bad in ({"samples": 0}, {"samples": 17}, {"temperature": 0}, {"top_p": 0}, {"max_new_tokens": 0}):
        with pytest.raises(ValidationError):
            TrainingJobCreate.model_validate({**STUDENT, "method": "generate", "generate": bad})


def running(method: str, **body: object) -> str:
    with pytest.raises(ValidationError) as caught:
        TrainingJobCreate.model_validate({**STUDENT, "method": method, **body})
    return caught.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("method", "body", "message"),
    [
        ("generate", {"student": None}, "student: generate jobs need `student`, a succeeded sft or dpo training job"),
        (
            "generate",
            {"base_model": "/m"},
            "base_model: generate jobs run their `student`'s model; leave base_model out",
        ),
        ("generate", {"hyperparameters": {}}, "hyperparameters: only for sft and dpo; generate jobs train nothing"),
        ("evaluate", {"lora": None}, "lora: only for sft and dpo; evaluate jobs train nothing"),
        ("generate", {"eval_split": 0.2}, "eval_split: only for sft and dpo; generate jobs train nothing"),
        ("generate", {"evaluate": {"n": 2}}, "evaluate: only for sft, dpo and evaluate jobs"),
        ("evaluate", {}, 'evaluate: an evaluate job needs `evaluate`, at least {"n": ...}'),
        ("evaluate", {"evaluate": {"n": 2, "dataset_id": "ds_2"}}, "evaluate.dataset_id: an evaluate job scores on"),
        ("evaluate", {"evaluate": {"n": 2}, "generate": {}}, "generate: only for a generate job"),
    ],
)
def test_generate_and_evaluate_jobs_refuse_what_only_training_takes(method, body, message):
    assert message in running(method, **body)


def test_only_a_generate_job_takes_sampling_parameters():
    assert problem(generate={"samples": 2}).endswith("generate: only for a generate job")
