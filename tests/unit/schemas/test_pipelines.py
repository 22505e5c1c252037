"""The pipeline spec: references name earlier stages of the right output, each stage's spec
is checked as its job's body, rounds name a run of stages; every problem names its field
as the API reports it (stages.<n>.spec.<field>)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from distillery.schemas.jobs import JobCreate
from distillery.schemas.pipelines import PipelineCreate, references
from distillery.schemas.training import TrainingJobCreate


def label(**spec: Any) -> dict[str, Any]:
    return {
        "teacher": "gpt",
        "method": "label",
        "skill": {"name": "arithmetic"},
        "seeds": [{"instruction": "What is 1 + 1?", "answer": "2"}],
        **spec,
    }


def pipeline(*stages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "distill", "stages": list(stages), **extra}


LABEL = {"name": "label", "kind": "job", "spec": label()}
RELABEL = {"name": "relabel", "kind": "job", "spec": label(seeds=[], source_dataset="@label")}
SFT = {"name": "sft", "kind": "sft", "spec": {"dataset_id": "@label", "base_model": "tiny"}}


def problem(body: dict[str, Any]) -> tuple[str, str]:
    """(field, problem) as the API's error mapper reports a model validator's message."""
    with pytest.raises(ValidationError) as caught:
        PipelineCreate.model_validate(body)
    message = caught.value.errors()[0]["msg"].removeprefix("Value error, ")
    named = re.match(r"^([a-z_][a-z0-9_.]*): (.+)$", message, re.S)
    assert named, message
    return named[1], named[2]


def test_a_valid_pipeline_and_the_bodies_its_stages_are_checked_as():
    spec = PipelineCreate.model_validate(pipeline(LABEL, RELABEL, SFT))
    job, relabel, sft = spec.bodies()
    assert isinstance(job, JobCreate) and job.name == "distill: label"
    # References stand in as placeholders until the stage starts.
    assert isinstance(relabel, JobCreate) and relabel.source_dataset and relabel.source_dataset != "@label"
    assert isinstance(sft, TrainingJobCreate) and sft.method == "sft"
    # The stored spec keeps the references as written.
    assert spec.model_dump()["stages"][1]["spec"]["source_dataset"] == "@label"


def test_a_job_stage_keeps_its_own_name():
    spec = PipelineCreate.model_validate(pipeline({**LABEL, "spec": label(name="my labels")}))
    assert spec.bodies()[0].name == "my labels"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("stages", "field", "words"),
    [
        ([LABEL, {**SFT, "spec": {**SFT["spec"], "dataset_id": "@nope"}}], "stages.1.spec.dataset_id", "no stage"),
        ([{**SFT, "spec": {**SFT["spec"], "dataset_id": "@sft"}}], "stages.0.spec.dataset_id", "does not run before"),
        ([RELABEL, LABEL], "stages.0.spec.source_dataset", "does not run before"),
        (
            [LABEL, {**SFT, "spec": {**SFT["spec"], "student": "@label"}}],
            "stages.1.spec.student",
            "takes a model (an sft or dpo stage)",
        ),
        ([LABEL, SFT, {**RELABEL, "spec": label(source_dataset="@sft")}], "stages.2.spec.source_dataset", "dataset"),
        (
            [LABEL, SFT, {**SFT, "name": "again", "spec": {**SFT["spec"], "evaluate": {"n": 2, "dataset_id": "@sft"}}}],
            "stages.2.spec.evaluate.dataset_id",
            "takes a dataset",
        ),
    ],
)
def test_a_reference_must_name_an_earlier_stage_with_the_right_output(stages, field, words):
    found, why = problem(pipeline(*stages))
    assert found == field and words in why, why


@pytest.mark.parametrize(
    ("stage", "field"),
    [
        ({**LABEL, "spec": label(seeds=[])}, "stages.1.spec.seeds"),
        ({**LABEL, "spec": label(skill={"name": "x", "reasoning": "maybe"})}, "stages.1.spec.skill.reasoning"),
        ({**LABEL, "spec": label(seeds=[{"instruction": " "}])}, "stages.1.spec.seeds.0.instruction"),
        ({**LABEL, "spec": label(method="telepathy")}, "stages.1.spec.method"),
        ({**SFT, "spec": {"base_model": "tiny"}}, "stages.1.spec.dataset_id"),
        ({**SFT, "spec": {**SFT["spec"], "hyperparameters": {"epochs": 0}}}, "stages.1.spec.hyperparameters.epochs"),
        ({**SFT, "spec": {**SFT["spec"], "hyperparameters": {"beta": 0.1}}}, "stages.1.spec.hyperparameters.beta"),
        ({**SFT, "spec": {**SFT["spec"], "surprise": 1}}, "stages.1.spec.surprise"),
        ({**SFT, "spec": {**SFT["spec"], "method": "dpo"}}, "stages.1.spec.method"),
    ],
)
def test_each_stage_spec_is_checked_as_its_jobs_body(stage, field):
    assert problem(pipeline(LABEL, {**stage, "name": "second"}))[0] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (pipeline(LABEL, {**LABEL}), "stages.1.name"),
        (pipeline(LABEL, SFT, rounds={"count": 2, "stages": ["nope"]}), "rounds.stages.0"),
        (pipeline(LABEL, RELABEL, SFT, rounds={"count": 2, "stages": ["label", "sft"]}), "rounds.stages"),
        (pipeline(LABEL, RELABEL, SFT, rounds={"count": 2, "stages": ["sft", "relabel"]}), "rounds.stages"),
    ],
)
def test_names_are_unique_and_rounds_name_a_run_of_stages(body, field):
    assert problem(body)[0] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (pipeline(LABEL, rounds={"count": 11, "stages": ["label"]}), ("rounds", "count")),
        (pipeline(LABEL, rounds={"count": 0, "stages": ["label"]}), ("rounds", "count")),
        (pipeline({**LABEL, "name": "Label#2"}), ("stages", 0, "name")),
        (pipeline({**LABEL, "kind": "ppo"}), ("stages", 0, "kind")),
        ({"name": "empty", "stages": []}, ("stages",)),
        (pipeline({**LABEL, "spec": label(skill={"name": "a\x00b"})}), ()),
    ],
)
def test_field_level_problems_are_pydantics_own(body, field):
    with pytest.raises(ValidationError) as caught:
        PipelineCreate.model_validate(body)
    assert caught.value.errors()[0]["loc"] == field


def test_rounds_within_bounds_pass():
    spec = PipelineCreate.model_validate(pipeline(LABEL, RELABEL, SFT, rounds={"count": 10, "stages": ["relabel"]}))
    assert spec.rounds is not None and spec.rounds.count == 10


def test_references_are_read_only_from_the_fields_that_take_them():
    spec = {"dataset_id": "@a", "student": "@b", "base_model": "@c", "evaluate": {"dataset_id": "@d", "n": 1}}
    assert [(f.dotted, name) for f, name in references("sft", spec)] == [
        ("dataset_id", "a"),
        ("student", "b"),
        ("evaluate.dataset_id", "d"),
    ]
    assert [(f.dotted, name) for f, name in references("job", {"source_dataset": "@a", "name": "@b"})] == [
        ("source_dataset", "a")
    ]
