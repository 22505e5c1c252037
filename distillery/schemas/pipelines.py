"""Pipelines: a distillation run as ordered stages, each an ordinary job.

A body (JSON, or YAML with Content-Type application/yaml):

    name: arith-distill
    stages:
      - {name: label, kind: job, spec: {<a POST /v1/jobs body>}}
      - {name: sft, kind: sft, spec: {dataset_id: "@label", base_model: ...}}
      - {name: generate, kind: generate, spec: {student: "@sft", dataset_id: ...}}
      - {name: feedback, kind: job, spec: {method: feedback, source_dataset: "@generate", ...}}
      - {name: dpo, kind: dpo, spec: {dataset_id: "@feedback", student: "@sft", ...}}
    rounds: {count: 2, stages: [generate, feedback, dpo]}

Kinds: `job` runs a synthesis job (any method; `spec` is a POST /v1/jobs body, `name`
optional); `sft`, `dpo`, `generate` and `evaluate` run a training job (`spec` is a POST
/v1/training-jobs body without `method`, which the kind sets).

References. A string "@<stage>" in one of these fields stands for an earlier stage's
output, read when the stage starts: a job stage's `source_dataset`; a training stage's
`dataset_id`, `student` and `evaluate.dataset_id`. `job` and `generate` stages make a
dataset (the job's dataset version; the student's samples); `sft` and `dpo` stages make a
model (their training job's id, the `student` of a later stage). A reference must name an
earlier stage whose output is of the field's type.

Rounds. `rounds.stages`, a contiguous run of stages in their order, runs `rounds.count`
times (1-10): round r's copies are named "<stage>#r" ("generate", "generate#2", ...).
Inside round r >= 2, a reference to a stage of the round means that stage's copy in the
same round when it comes earlier in the round, else the previous round's copy; and a
reference to a model stage outside the round (say `student: "@sft"`) means the newest
student: the last model stage of the previous round. A stage after the rounds that names
a stage of them gets the last round's copy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import Field, PrivateAttr, StringConstraints, ValidationError, model_validator

from distillery.schemas.base import REQUEST_ID_DOC, InputModel, JsonObject, Name, OutputModel, first_problem
from distillery.schemas.jobs import JobCreate
from distillery.schemas.training import TrainingJobCreate

StageKind = Literal["job", "sft", "dpo", "generate", "evaluate"]
# What a stage hands on to the stages that name it.
Output = Literal["dataset", "model"]
OUTPUT: dict[str, Output] = {"job": "dataset", "generate": "dataset", "sft": "model", "dpo": "model"}
# "#" is left out: it marks a round's copies.
StageName = Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
MAX_ROUNDS = 10
REFERENCE = "@"


class PipelineStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


PIPELINE_ENDED = (PipelineStatus.SUCCEEDED, PipelineStatus.FAILED, PipelineStatus.CANCELLED)


@dataclass(frozen=True)
class ReferenceField:
    """A spec field that may hold "@<stage>", and the output it takes."""

    path: tuple[str, ...]
    takes: Output

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


_JOB_FIELDS = (ReferenceField(("source_dataset",), "dataset"),)
_TRAINING_FIELDS = (
    ReferenceField(("dataset_id",), "dataset"),
    ReferenceField(("student",), "model"),
    ReferenceField(("evaluate", "dataset_id"), "dataset"),
)


def reference_fields(kind: str) -> tuple[ReferenceField, ...]:
    return _JOB_FIELDS if kind == "job" else _TRAINING_FIELDS


def references(kind: str, spec: dict[str, Any]) -> list[tuple[ReferenceField, str]]:
    """The (field, stage name) of each reference in a stage's spec."""
    found = []
    for field in reference_fields(kind):
        value = _get(spec, field.path)
        if isinstance(value, str) and value.startswith(REFERENCE):
            found.append((field, value.removeprefix(REFERENCE)))
    return found


def literals(kind: str, spec: dict[str, Any]) -> list[tuple[ReferenceField, str]]:
    """The (field, id) of each field that could hold a reference and names an id of its own."""
    found = []
    for field in reference_fields(kind):
        value = _get(spec, field.path)
        if isinstance(value, str) and not value.startswith(REFERENCE):
            found.append((field, value))
    return found


def substitute(kind: str, spec: dict[str, Any], value: Callable[[ReferenceField, str], str]) -> dict[str, Any]:
    """A copy of `spec` with each reference replaced by `value(field, stage name)`."""
    out = copy.deepcopy(spec)
    for field, stage in references(kind, spec):
        _set(out, field.path, value(field, stage))
    return out


def _get(spec: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = spec
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _set(spec: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    for key in path[:-1]:
        spec = spec[key]
    spec[path[-1]] = value


def stage_body(kind: str, spec: dict[str, Any], job_name: str) -> dict[str, Any]:
    """The POST body a stage's job is created from: a job stage's spec named `job_name`
    unless it has a name; a training stage's spec with the kind as its method."""
    if kind == "job":
        return {"name": job_name[:100], **spec}
    return {**spec, "method": kind}


def validate_body(kind: str, body: dict[str, Any]) -> JobCreate | TrainingJobCreate:
    return JobCreate.model_validate(body) if kind == "job" else TrainingJobCreate.model_validate(body)


# What stands for a reference while a spec is validated at submission.
PLACEHOLDER: dict[Output, str] = {"dataset": "ds_from_an_earlier_stage", "model": "train_from_an_earlier_stage"}


class StageIn(InputModel):
    name: StageName = Field(description="unique in the pipeline: lowercase letters, digits, - and _")
    kind: StageKind = Field(description="job: a synthesis job; sft, dpo, generate, evaluate: a training job")
    spec: JsonObject = Field(
        description="kind job: a POST /v1/jobs body (name optional); otherwise a POST /v1/training-jobs body"
        ' without method. "@<stage>" in source_dataset, dataset_id, student or evaluate.dataset_id names'
        " an earlier stage's output"
    )


class Rounds(InputModel):
    count: int = Field(ge=1, le=MAX_ROUNDS, description="how many times the stages run")
    stages: list[StageName] = Field(min_length=1, max_length=50, description="a contiguous run of stages, in order")


class PipelineCreate(InputModel):
    name: Name
    stages: list[StageIn] = Field(min_length=1, max_length=50)
    rounds: Rounds | None = None
    # Each stage's job body as validated here (a big seed list is validated once).
    _bodies: list[JobCreate | TrainingJobCreate] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _stages_fit_together(self) -> Self:
        position: dict[str, int] = {}
        for i, stage in enumerate(self.stages):
            if stage.name in position:
                taken = position[stage.name]
                raise ValueError(f"stages.{i}.name: '{stage.name}' is taken by stage {taken}; names are unique")
            position[stage.name] = i
        for i, stage in enumerate(self.stages):
            _check_references(i, stage, self.stages, position)
        self._bodies = [_checked_body(i, stage, self.name) for i, stage in enumerate(self.stages)]
        if self.rounds is not None:
            _check_rounds(self.rounds, position)
        return self

    def bodies(self) -> list[JobCreate | TrainingJobCreate]:
        """Each stage's job body as validated at submission, references as placeholders."""
        return list(self._bodies)


def placeholder_body(stage: StageIn, pipeline_name: str) -> dict[str, Any]:
    spec = substitute(stage.kind, stage.spec, lambda field, _: PLACEHOLDER[field.takes])
    return stage_body(stage.kind, spec, f"{pipeline_name}: {stage.name}")


def _check_references(i: int, stage: StageIn, stages: Sequence[StageIn], position: dict[str, int]) -> None:
    for field, name in references(stage.kind, stage.spec):
        where = f"stages.{i}.spec.{field.dotted}"
        target = position.get(name)
        if target is None or target >= i:
            earlier = ", ".join(s.name for s in stages[:i]) or "none: this is the first stage"
            why = "no stage has that name" if target is None else "that stage does not run before this one"
            raise ValueError(f"{where}: '{REFERENCE}{name}': {why}; a reference names an earlier stage ({earlier})")
        kind = stages[target].kind
        makes = OUTPUT.get(kind)
        if makes != field.takes:
            made = f"makes a {makes}" if makes else "makes nothing a later stage can use"
            takers = "a job or generate" if field.takes == "dataset" else "an sft or dpo"
            raise ValueError(
                f"{where}: stage '{name}' is a {kind} stage, which {made}; {field.dotted} takes a {field.takes}"
                f" ({takers} stage)"
            )


def _checked_body(i: int, stage: StageIn, pipeline_name: str) -> JobCreate | TrainingJobCreate:
    where = f"stages.{i}"
    if stage.kind != "job" and stage.spec.get("method", stage.kind) != stage.kind:
        raise ValueError(f"{where}.spec.method: the stage's kind is its method; leave method out")
    try:
        return validate_body(stage.kind, placeholder_body(stage, pipeline_name))
    except ValidationError as exc:
        field, problem = first_problem(exc)
        raise ValueError(f"{where}.spec{'.' + field if field else ''}: {problem}") from None


def _check_rounds(rounds: Rounds, position: dict[str, int]) -> None:
    for n, name in enumerate(rounds.stages):
        if name not in position:
            raise ValueError(f"rounds.stages.{n}: no stage is named '{name}'")
    at = [position[name] for name in rounds.stages]
    if at != list(range(at[0], at[0] + len(at))):
        raise ValueError(
            "rounds.stages: name a contiguous run of stages, in their order (e.g. [generate, feedback, dpo])"
        )


# Outputs


class StageProgress(OutputModel):
    unit: Literal["items", "steps"] = Field(description="a synthesis job's work items, a training job's steps")
    done: int
    total: int | None


class StageOut(OutputModel):
    position: int
    name: str = Field(description='as given; a round\'s copies are "<stage>#<round>"')
    kind: StageKind
    status: StageStatus
    job_id: str | None = Field(description="the synthesis job of a job stage")
    training_job_id: str | None = Field(description="the training job of an sft, dpo, generate or evaluate stage")
    dataset_id: str | None = Field(description="the dataset a job or generate stage made")
    progress: StageProgress | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class PipelineProgress(OutputModel):
    stages: int
    done: int = Field(description="stages that succeeded")


class PipelineOut(OutputModel):
    id: str
    name: str
    status: PipelineStatus
    current_stage: str | None = Field(description="the running stage's name")
    progress: PipelineProgress
    cost_usd: float = Field(description="what its synthesis jobs paid their teachers")
    stages: list[StageOut]
    error: str | None
    request_id: str | None = Field(default=None, description=REQUEST_ID_DOC)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class PipelineEventOut(OutputModel):
    id: int
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any]
