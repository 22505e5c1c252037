from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.schemas.training import TrainingJobCreate

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
