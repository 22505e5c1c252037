"""A training job's hyperparameters as stored (what the API shows) and as run (typed)."""

from __future__ import annotations

import pytest

from distillery.schemas.training import Hyperparameters
from distillery.training.hyperparameters import DpoHyperparameters, SftHyperparameters, as_run, as_stored


@pytest.mark.parametrize(
    ("method", "lora", "rate"), [("sft", True, 2e-4), ("sft", False, 2e-5), ("dpo", True, 5e-6), ("dpo", False, 5e-7)]
)
def test_the_methods_usual_learning_rate_is_filled_in(method, lora, rate):
    assert as_stored(method, Hyperparameters(), lora=lora)["learning_rate"] == rate
    assert as_stored(method, Hyperparameters(learning_rate=0.01), lora=lora)["learning_rate"] == 0.01


def test_the_stored_form_keeps_every_field_as_the_api_showed_it():
    given = Hyperparameters(epochs=2, batch_size=4)
    sft = as_stored("sft", given, lora=True)
    assert sft == {**given.model_dump(), "learning_rate": 2e-4}
    assert sft["beta"] is None
    dpo = as_stored("dpo", given, lora=True)
    assert dpo == {**given.model_dump(), "learning_rate": 5e-6, "beta": 0.1}


def test_each_method_runs_with_its_own_typed_fields():
    sft = as_run("sft", as_stored("sft", Hyperparameters(packing=True), lora=True))
    assert isinstance(sft, SftHyperparameters) and sft.packing and sft.completion_only_loss
    assert not hasattr(sft, "beta")
    dpo = as_run("dpo", as_stored("dpo", Hyperparameters(beta=0.3), lora=False))
    assert isinstance(dpo, DpoHyperparameters) and dpo.beta == 0.3 and dpo.learning_rate == 5e-7
    assert not hasattr(dpo, "packing")


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="no training method 'ppo'"):
        as_run("ppo", as_stored("sft", Hyperparameters(), lora=True))
