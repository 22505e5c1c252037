"""Training jobs: the student fine-tuned on a dataset version with SFT or DPO, or a trained
student sampled (`generate`) or scored on a gold set (`evaluate`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from distillery.schemas.base import REQUEST_ID_DOC, InputModel, Name, OutputModel, Text
from distillery.schemas.status import JobStatus

TrainingMethod = Literal["sft", "dpo", "generate", "evaluate"]
# The methods that train weights; generate and evaluate only run a trained student.
TRAINING_METHODS = ("sft", "dpo")
ModulePattern = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-*]+$")]
ModelRef = Annotated[Text, StringConstraints(min_length=1, max_length=1000, strip_whitespace=True)]
DatasetId = Annotated[Text, StringConstraints(min_length=1, max_length=40)]
TrainingJobId = Annotated[Text, StringConstraints(min_length=1, max_length=40)]


class Hyperparameters(InputModel):
    epochs: float = Field(3.0, gt=0, le=100)
    # Null: the method's usual rate (METHODS.md): SFT 2e-4 with LoRA, 2e-5 full; DPO 5e-6
    # with LoRA, 5e-7 full.
    learning_rate: float | None = Field(None, gt=0, le=1)
    batch_size: int = Field(8, ge=1, le=1024)
    gradient_accumulation_steps: int = Field(1, ge=1, le=1024)
    max_seq_length: int = Field(1024, ge=16, le=131_072)
    # SFT only: several short examples in one sequence (pays on GPU with FlashAttention).
    packing: bool = False
    # SFT only: loss on the assistant's answer, not on the prompt.
    completion_only_loss: bool = True
    # DPO only: how far the student may move from the reference model (0.1 in Zephyr/TRL).
    beta: float | None = Field(None, gt=0, le=10)
    # DPO only: weight of an SFT (negative log-likelihood) term on the chosen answer beside
    # the preference loss (RPO, Pang et al. 2024): DPO alone may lower the chosen answer's
    # likelihood along with the rejected one's. 0: plain DPO.
    sft_weight: float = Field(0.0, ge=0, le=10)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    # Recompute activations in the backward pass: less memory, about a third more compute.
    gradient_checkpointing: bool = True
    seed: int = Field(0, ge=0, le=2**31 - 1)


class Lora(InputModel):
    r: int = Field(16, ge=1, le=1024)
    alpha: int = Field(32, ge=1, le=4096)
    dropout: float = Field(0.05, ge=0, lt=1)
    # PEFT's "all-linear", or module names such as ["q_proj", "v_proj"].
    target_modules: Literal["all-linear"] | list[ModulePattern] = Field("all-linear", min_length=1, max_length=64)


class Evaluate(InputModel):
    # Prompts the student answers: held out (the eval split) after training, or of a gold set.
    n: int = Field(ge=1, le=10_000)
    max_new_tokens: int = Field(256, ge=1, le=8192)
    # Teacher id or name: compares the student's answers with the reference ones where the
    # records carry no final answer (a pairwise `feedback` job, both orders) and reports
    # win/tie/loss.
    judge_teacher: Name | None = None
    # sft/dpo: a gold set (records with answers, e.g. an upload with `output`) to evaluate on
    # instead of the held-out split. An evaluate job's gold set is its `dataset_id`.
    dataset_id: DatasetId | None = None


class Generate(InputModel):
    """How a generate job samples its student: `samples` answers per prompt."""

    samples: int = Field(4, ge=1, le=16)
    # Sampling, never greedy: several answers to one prompt must be able to differ.
    temperature: float = Field(0.8, gt=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1, le=8192)
    # The prompt record's own answer as the first candidate, when it has one.
    include_reference: bool = True
    seed: int = Field(0, ge=0, le=2**31 - 1)


class TrainingJobCreate(InputModel):
    # sft: an SFT dataset; dpo: a preference one; generate: any dataset, for its prompts;
    # evaluate: a gold set, any dataset whose records carry answers.
    dataset_id: DatasetId
    method: TrainingMethod
    # A local directory holding a model (config.json) or a hub name already in the local
    # Hugging Face cache. sft/dpo only, and only without `student`.
    base_model: ModelRef | None = None
    # A succeeded sft or dpo training job: its trained student is where sft/dpo start (its
    # base model comes with it), what generate samples and what evaluate scores.
    student: TrainingJobId | None = None
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    # Null for full fine-tuning.
    lora: Lora | None = Field(default_factory=Lora)
    # Share of prompts held out for eval loss and `evaluate`: the dataset's own split by
    # prompt hash, so the same prompts as `download?split=eval`.
    eval_split: float = Field(0.1, ge=0, le=0.5)
    # sft/dpo: score the student after training; evaluate: how to score it (required).
    evaluate: Evaluate | None = None
    # generate only; its defaults when left out.
    generate: Generate | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrainingJobCreate:
        if self.method in TRAINING_METHODS:
            self._check_training()
        else:
            self._check_running()
        return self

    def _check_training(self) -> None:
        if self.base_model is not None and self.student is not None:
            raise ValueError("student: give `base_model` or `student`, not both (the student brings its base model)")
        if self.base_model is None and self.student is None:
            raise ValueError("base_model: required, or `student` to continue from a trained one")
        if self.method == "sft" and self.hyperparameters.beta is not None:
            raise ValueError("hyperparameters.beta: only for dpo")
        if self.method == "sft" and self.hyperparameters.sft_weight:
            raise ValueError("hyperparameters.sft_weight: only for dpo (an SFT term beside the preference loss)")
        if self.method == "dpo" and self.hyperparameters.packing:
            raise ValueError("hyperparameters.packing: only for sft")
        if self.evaluate is not None and self.evaluate.dataset_id is None and self.eval_split == 0:
            raise ValueError("evaluate: needs held-out prompts; set eval_split above 0, or evaluate.dataset_id")
        if self.generate is not None:
            raise ValueError("generate: only for a generate job")

    def _check_running(self) -> None:
        """generate and evaluate run a trained student: nothing to train, nothing to load."""
        if self.student is None:
            raise ValueError(f"student: {self.method} jobs need `student`, a succeeded sft or dpo training job")
        if self.base_model is not None:
            raise ValueError(f"base_model: {self.method} jobs run their `student`'s model; leave base_model out")
        for name in ("hyperparameters", "lora", "eval_split"):
            if name in self.model_fields_set:
                raise ValueError(f"{name}: only for sft and dpo; {self.method} jobs train nothing")
        if self.method == "generate" and self.evaluate is not None:
            raise ValueError("evaluate: only for sft, dpo and evaluate jobs; score the student with an evaluate job")
        if self.method == "evaluate":
            if self.evaluate is None:
                raise ValueError('evaluate: an evaluate job needs `evaluate`, at least {"n": ...}')
            if self.evaluate.dataset_id is not None:
                raise ValueError("evaluate.dataset_id: an evaluate job scores on its `dataset_id`; leave this out")
            if self.generate is not None:
                raise ValueError("generate: only for a generate job")


TrainingStatus = JobStatus


class TrainingProgress(OutputModel):
    step: int
    total_steps: int | None


class TrainingJobOut(OutputModel):
    id: str
    dataset_id: str | None
    method: TrainingMethod
    base_model: str = Field(description="the base model; with `student`, the student's own")
    student: str | None = Field(description="the training job whose trained student this job starts from or runs")
    hyperparameters: dict[str, Any] = Field(description="as run, defaults filled in; {} for generate and evaluate")
    lora: dict[str, Any] | None
    eval_split: float
    evaluate: dict[str, Any] | None
    generate: dict[str, Any] | None = Field(description="a generate job's sampling, with the defaults filled in")
    output_dataset_id: str | None = Field(description="what a generate job wrote: a candidates dataset")
    status: TrainingStatus
    cancel_requested: bool
    progress: TrainingProgress
    metrics: dict[str, Any] = Field(description="summary: first and last loss, eval loss, tokens, evaluation")
    error: str | None
    request_id: str | None = Field(default=None, description=REQUEST_ID_DOC)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class TrainingEventOut(OutputModel):
    id: int
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any]


class StepMetricOut(OutputModel):
    step: int
    values: dict[str, float] = Field(description="loss, learning_rate, grad_norm, tokens_per_second, rewards/...")
    created_at: datetime


class ArtifactOut(OutputModel):
    path: str = Field(description="relative to the job's artifacts, e.g. adapter/adapter_model.safetensors")
    size: int
