"""A training job's hyperparameters as run: the submitted ones with the method's defaults
filled in, one typed model per method. The training worker maps them onto TRL's configs
(distillery/workers/training/configs.py); the job row stores them as the API shows them.

generate and evaluate train nothing: a generate job's row keeps its sampling parameters
(the `generate` block, shown under that name) in the same column, an evaluate job's keeps
nothing (its `evaluate` block has a column of its own)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from distillery.schemas.training import TRAINING_METHODS, Generate, Hyperparameters, TrainingJobCreate, TrainingMethod

# METHODS.md: SFT ~2e-5 full, 1e-4–2e-4 LoRA; DPO ~5e-7 full, higher with LoRA.
DEFAULT_LEARNING_RATE = {("sft", True): 2e-4, ("sft", False): 2e-5, ("dpo", True): 5e-6, ("dpo", False): 5e-7}
# Zephyr's and TRL's.
DEFAULT_BETA = 0.1


class RunHyperparameters(BaseModel):
    """What both methods train with. `extra="ignore"`: the stored form also holds the
    other method's fields (as the API shows them), which this method does not use."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    epochs: float
    learning_rate: float
    batch_size: int
    gradient_accumulation_steps: int
    max_seq_length: int
    warmup_ratio: float
    gradient_checkpointing: bool
    seed: int


class SftHyperparameters(RunHyperparameters):
    packing: bool
    completion_only_loss: bool


class DpoHyperparameters(RunHyperparameters):
    beta: float
    sft_weight: float = 0.0  # rows stored before it existed lack it


MethodHyperparameters = SftHyperparameters | DpoHyperparameters


def as_stored(method: TrainingMethod, given: Hyperparameters, *, lora: bool) -> dict[str, Any]:
    """The submitted hyperparameters with the method's usual learning rate (and, for DPO,
    beta) filled in: what the job row keeps and the API returns."""
    stored = given.model_dump()
    if stored["learning_rate"] is None:
        stored["learning_rate"] = DEFAULT_LEARNING_RATE[(method, lora)]
    if method == "dpo" and stored["beta"] is None:
        stored["beta"] = DEFAULT_BETA
    return stored


def as_run(method: str, stored: dict[str, Any]) -> MethodHyperparameters:
    """The stored hyperparameters, typed for the method that runs them."""
    if method == "dpo":
        return DpoHyperparameters.model_validate(stored)
    if method == "sft":
        return SftHyperparameters.model_validate(stored)
    raise ValueError(f"no training method '{method}'")


def for_job(spec: TrainingJobCreate) -> dict[str, Any]:
    """What a new job's row keeps as its hyperparameters, by method."""
    if spec.method in TRAINING_METHODS:
        return as_stored(spec.method, spec.hyperparameters, lora=spec.lora is not None)
    if spec.method == "generate":
        return (spec.generate or Generate()).model_dump()
    return {}


def as_sampling(stored: dict[str, Any]) -> Generate:
    """A generate job's stored sampling parameters, typed."""
    return Generate.model_validate(stored)
