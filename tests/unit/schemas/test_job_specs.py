"""The job body: one model per method, chosen by `method`, each with its params and rules;
and a job row's stored spec read back as that model."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from distillery.schemas.base import invalid_request
from distillery.schemas.job_specs import (
    CurateJob,
    EvolInstructJob,
    FeedbackJob,
    GeneratorRef,
    JobCreate,
    LabelJob,
    SelfInstructJob,
    ShareRef,
    TeacherRef,
    rehydrate,
    stored_form,
)

BODY: dict[str, Any] = {
    "name": "j",
    "teacher": "t",
    "method": "label",
    "skill": {"name": "s"},
    "seeds": [{"instruction": "q"}],
}


def _body(**patch: Any) -> dict[str, Any]:
    return {**BODY, **patch}


def _problems(body: dict[str, Any]) -> list[dict[str, str]]:
    """What the API's error details say: the field and the problem."""
    with pytest.raises(ValidationError) as exc:
        JobCreate.model_validate(body)
    return invalid_request(exc.value.errors())[1]


@pytest.mark.parametrize(
    ("patch", "model"),
    [
        ({}, LabelJob),
        ({"method": "expand", "target_count": 10}, SelfInstructJob),
        ({"method": "expand", "params": {"evol": {"rounds": 2}}}, EvolInstructJob),
        ({"method": "expand", "target_count": 10, "params": {"evol": None}}, SelfInstructJob),
        ({"method": "curate", "seeds": [], "topics": ["math"]}, CurateJob),
        ({"method": "feedback", "seeds": [{"instruction": "q", "candidates": ["a", "b"]}]}, FeedbackJob),
    ],
)
def test_a_body_validates_as_the_model_of_its_method(patch, model):
    spec = JobCreate.model_validate(_body(**patch))
    assert type(spec) is model and isinstance(spec, JobCreate)
    assert type(spec.params) is model.model_fields["params"].annotation


def test_expand_with_params_evol_is_evol_instruct_and_keeps_its_public_name():
    spec = JobCreate.model_validate(_body(method="expand", params={"evol": {"rounds": 2, "operations": ["deepen"]}}))
    assert isinstance(spec, EvolInstructJob) and spec.method == "expand"
    assert spec.params.evol.rounds == 2 and spec.params.evol.operations == ["deepen"]


@pytest.mark.parametrize(
    ("patch", "field", "problem"),
    [
        ({"seeds": []}, "seeds", "needs seeds or a source_dataset"),
        ({"target_count": 5}, "target_count", "at most one record per seed"),
        ({"topics": ["x"]}, "topics", "only curate jobs take topics"),
        ({"method": "expand"}, "target_count", "needs the number of tasks"),
        ({"method": "curate"}, "topics", "either `topics` or `documents`"),
        ({"method": "curate", "seeds": [], "topics": ["x"], "documents": [{"text": "t"}]}, "topics", "either"),
        ({"method": "curate", "topics": ["x"]}, "seeds", "not seeds"),
        ({"method": "feedback"}, "params.generators", "two or more distinct `candidates`"),
        ({"method": "feedback", "params": {"turns": 2}}, "params.turns", "single responses"),
        ({"params": {"samples_per_item": 3}}, "params.temperature", "temperature above 0"),
        ({"params": {"samples_per_item": 3, "temperature": 1, "turns": 2}}, "params.samples_per_item", "not sampled"),
        ({"method": "expand", "target_count": 5, "params": {"mode": "batch"}}, "params.mode", "for label jobs"),
        ({"params": {"evol": {"rounds": 2}}}, "params.evol", "a kind of expand job"),
        ({"params": {"generators": [{"teacher": "g"}]}}, "params.generators", "only feedback jobs"),
        ({"teacher": None}, "teacher", "either `teacher` or `teachers`"),
        ({"method": "telepathy"}, "method", "'label', 'expand', 'curate' or 'feedback'"),
    ],
)
def test_each_methods_rules_name_the_field_and_the_fix(patch, field, problem):
    details = _problems(_body(**patch))
    assert any(d["field"] == field and problem in d["problem"] for d in details), details


def test_another_methods_knobs_are_checked_and_ignored():
    spec = JobCreate.model_validate(_body(params={"seed_examples": 3, "chunk_chars": 500, "judge_mode": "pairwise"}))
    assert isinstance(spec, LabelJob) and "seed_examples" not in spec.params.model_dump()
    assert _problems(_body(params={"seed_examples": -1}))[0]["field"] == "params.seed_examples"
    assert _problems(_body(params={"evol": {"operations": ["shout"]}}))[0]["field"] == "params.evol.operations.0"
    assert _problems(_body(params={"nope": 1})) == [
        {"field": "params.nope", "problem": "Extra inputs are not permitted"}
    ]


def test_the_json_schema_offers_every_methods_model_and_each_refuses_unknown_fields():
    schema = JobCreate.model_json_schema()
    members = [schema["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in schema["anyOf"]]
    assert {m["title"] for m in members} == {
        "LabelJob",
        "SelfInstructJob",
        "EvolInstructJob",
        "CurateJob",
        "FeedbackJob",
    }
    assert all(m["additionalProperties"] is False for m in members)


# Every knob, as the one bag of params before each method had its own model dumped them.
_EVERY_KNOB = {
    "mode": "online",
    "temperature": 0.0,
    "max_tokens": 1024,
    "chunk_size": None,
    "samples_per_item": 1,
    "turns": 1,
    "seed_examples": 6,
    "generated_examples": 2,
    "tasks_per_request": 5,
    "max_rounds": 20,
    "evol": None,
    "subtopics_per_topic": 3,
    "questions_per_topic": 3,
    "chunk_chars": 1500,
    "questions_per_chunk": 3,
    "passage_in_input": True,
    "generators": [],
    "judge_mode": "rating",
    "min_margin": 1.0,
}
_SKILL = {"name": "s", "description": "", "system_prompt": None, "reasoning": "cot", "output_format": "text"}


def _stored_by_earlier_code(method: str, **fields: Any) -> dict[str, Any]:
    """A job row's spec as the code before the per-method models wrote it."""
    params = {**_EVERY_KNOB, **fields.pop("params", {})}
    stored = {
        "name": "j",
        "teachers": [{"id": "tch_1", "name": "t", "weight": 1.0}],
        "judge_teacher": None,
        "method": method,
        "skill": {**_SKILL, "output_schema": None},
        "source_dataset": None,
        "topics": None,
        "documents": None,
        "target_count": None,
        "templates": {},
        "params": params,
        "curation": {"min_agreement": 0.6, "max_similarity": 0.7, "judge": None, "gold": "reject", "dedup": True},
        "budget": {"max_cost_usd": None, "max_requests": 10},
    }
    return {**stored, **fields}


@pytest.mark.parametrize(
    ("stored", "model"),
    [
        (_stored_by_earlier_code("label", target_count=3), LabelJob),
        (_stored_by_earlier_code("expand", target_count=50), SelfInstructJob),
        (_stored_by_earlier_code("expand", params={"evol": {"rounds": 3, "operations": ["deepen"]}}), EvolInstructJob),
        (_stored_by_earlier_code("curate", documents=[{"id": None, "title": "", "text": "A passage."}]), CurateJob),
        (_stored_by_earlier_code("curate", topics=["math", {"name": "x", "subtopics": ["y"]}]), CurateJob),
    ],
)
def test_a_stored_spec_rehydrates_as_its_methods_model(stored, model):
    original = copy.deepcopy(stored)
    spec = rehydrate(stored)
    assert type(spec.job) is model
    assert spec.teachers == [ShareRef(id="tch_1", name="t", weight=1.0)] and spec.judge is None
    assert spec.generators == [] and spec.job.budget.max_requests == 10
    assert stored == original  # read, not changed


def test_a_stored_feedback_spec_brings_its_resolved_teachers():
    stored = _stored_by_earlier_code(
        "feedback",
        judge_teacher={"id": "tch_j", "name": "judge"},
        params={"generators": [{"id": "tch_g", "name": "g", "temperature": 0.9}], "judge_mode": "pairwise"},
    )
    spec = rehydrate(stored)
    assert isinstance(spec.job, FeedbackJob) and spec.job.params.judge_mode == "pairwise"
    assert spec.judge == TeacherRef(id="tch_j", name="judge")
    assert spec.generators == [GeneratorRef(id="tch_g", name="g", temperature=0.9)]


def test_what_is_stored_reads_back_the_same():
    body = _body(method="feedback", params={"generators": [{"teacher": "g", "temperature": 0.5}]}, target_count=1)
    spec = JobCreate.model_validate(body)
    teachers, judge = [ShareRef(id="tch_1", name="t", weight=2.0)], TeacherRef(id="tch_j", name="judge")
    generators = [GeneratorRef(id="tch_g", name="g", temperature=0.5)]
    stored = stored_form(spec, teachers, judge, generators)
    assert "seeds" not in stored and "teacher" not in stored
    back = rehydrate(stored)
    assert back.job.model_dump(exclude={"seeds", "teacher", "params", "templates"}) == spec.model_dump(
        exclude={"seeds", "teacher", "params", "templates"}
    )
    assert (back.teachers, back.judge, back.generators) == (teachers, judge, generators)
