"""Unrolling a pipeline's rounds, and what each reference means in each round."""

from __future__ import annotations

from typing import Any

from distillery.pipelines.plan import expand
from distillery.schemas.pipelines import Rounds, StageIn


def stage(name: str, kind: str, **spec: Any) -> StageIn:
    return StageIn(name=name, kind=kind, spec=spec)  # type: ignore[arg-type]


# The loop of the issue: a student samples, the teacher judges its samples, DPO trains it.
STAGES = [
    stage("label", "job", method="label", source_dataset="ds_seeds"),
    stage("sft", "sft", dataset_id="@label"),
    stage("generate", "generate", student="@sft", dataset_id="@label"),
    stage("feedback", "job", method="feedback", source_dataset="@generate"),
    stage("dpo", "dpo", dataset_id="@feedback", student="@sft"),
    stage("evaluate", "evaluate", student="@dpo", dataset_id="ds_gold", evaluate={"dataset_id": "@label"}),
]


def refs(spec: dict[str, Any]) -> dict[str, str]:
    flat = {k: v for k, v in spec.items() if isinstance(v, str)}
    flat.update({f"evaluate.{k}": v for k, v in (spec.get("evaluate") or {}).items()})
    return {k: v for k, v in flat.items() if k in ("source_dataset", "dataset_id", "student", "evaluate.dataset_id")}


def test_without_rounds_every_stage_runs_once_as_written():
    planned = expand(STAGES, None)
    assert [p.name for p in planned] == [s.name for s in STAGES]
    assert [p.spec for p in planned] == [s.spec for s in STAGES]
    assert {p.round for p in planned} == {None}


def test_rounds_unroll_into_numbered_copies_in_order():
    planned = expand(STAGES, Rounds(count=3, stages=["generate", "feedback", "dpo"]))
    assert [p.name for p in planned] == [
        "label", "sft",
        "generate", "feedback", "dpo",
        "generate#2", "feedback#2", "dpo#2",
        "generate#3", "feedback#3", "dpo#3",
        "evaluate",
    ]  # fmt: skip
    assert [p.round for p in planned][2:5] == [1, 1, 1] and planned[-2].round == 3
    assert [p.kind for p in planned][5:8] == ["generate", "job", "dpo"]


def test_a_later_round_reads_its_own_stages_and_the_newest_student():
    by_name = {p.name: refs(p.spec) for p in expand(STAGES, Rounds(count=3, stages=["generate", "feedback", "dpo"]))}
    # Round 1 as written.
    assert by_name["generate"] == {"student": "@sft", "dataset_id": "@label"}
    assert by_name["dpo"] == {"dataset_id": "@feedback", "student": "@sft"}
    # Round 2: the stages of the round are this round's; "@sft" is the newest student, the
    # previous round's dpo; a dataset outside the loop stays what it was.
    assert by_name["generate#2"] == {"student": "@dpo", "dataset_id": "@label"}
    assert by_name["feedback#2"] == {"source_dataset": "@generate#2"}
    assert by_name["dpo#2"] == {"dataset_id": "@feedback#2", "student": "@dpo"}
    assert by_name["generate#3"]["student"] == "@dpo#2"
    assert by_name["dpo#3"] == {"dataset_id": "@feedback#3", "student": "@dpo#2"}
    # After the rounds: the last round's copy; other references unchanged.
    assert by_name["evaluate"] == {"student": "@dpo#3", "dataset_id": "ds_gold", "evaluate.dataset_id": "@label"}


def test_a_reference_to_a_stage_of_the_round_that_comes_later_means_the_previous_rounds_copy():
    stages = [
        stage("seed", "job", method="label", source_dataset="ds_x"),
        stage("a", "job", method="label", source_dataset="@seed"),
        stage("b", "job", method="label", source_dataset="@a"),
    ]
    # Round 2's `a` names `a` itself: the copy of round 1. (Submission refuses this in
    # round 1; here the rule is applied as written.)
    stages[1] = stage("a", "job", method="label", source_dataset="@a")
    planned = {p.name: p.spec["source_dataset"] for p in expand(stages, Rounds(count=3, stages=["a", "b"]))}
    assert planned["a#2"] == "@a" and planned["a#3"] == "@a#2"
    assert planned["b#3"] == "@a#3"


def test_a_round_without_a_model_stage_keeps_references_to_models_outside_it():
    stages = [
        stage("sft", "sft", dataset_id="ds_x"),
        stage("generate", "generate", student="@sft", dataset_id="ds_prompts"),
        stage("score", "evaluate", student="@sft", dataset_id="@generate"),
    ]
    planned = {p.name: refs(p.spec) for p in expand(stages, Rounds(count=2, stages=["generate", "score"]))}
    assert planned["generate#2"]["student"] == "@sft"
    assert planned["score#2"] == {"student": "@sft", "dataset_id": "@generate#2"}


def test_a_one_round_loop_is_the_plain_pipeline():
    assert [p.name for p in expand(STAGES, Rounds(count=1, stages=["dpo"]))] == [s.name for s in STAGES]
