"""What each method says it will ask before any reply: prompts rendered with its own
templates, and requests counted exactly or as a bound."""

from __future__ import annotations

from typing import Any

import pytest

from distillery.methods.base import JUDGE, OWN, JobContext
from distillery.methods.registry import method_for
from distillery.schemas.job_specs import GeneratorRef, JobCreate

BODY: dict[str, Any] = {"name": "j", "teacher": "t", "skill": {"name": "s"}}
SEEDS = [{"instruction": f"What is {i} + {i}?"} for i in range(4)]


def _calls(generators: tuple[GeneratorRef, ...] = (), **patch: Any) -> Any:
    spec = JobCreate.model_validate({**BODY, "seeds": SEEDS, **patch})
    seeds: list[tuple[str | None, dict[str, Any]]] = [
        (str(i), s.model_dump(exclude={"id"}, exclude_none=True)) for i, s in enumerate(spec.seeds)
    ]
    method = method_for(spec)
    items = method.plan("job", spec, seeds)
    return method.calls(JobContext(job_id="job", spec=spec, generators=generators), items)


def test_label_asks_each_sample_once_per_seed_with_the_label_template():
    plan = _calls(method="label", params={"samples_per_item": 3, "temperature": 0.7})
    assert plan.requests == {OWN: 12} and plan.bound == "exact" and plan.records == 4
    assert [p.template_name for p in plan.prompts] == ["label"] * 4
    assert plan.prompts[1].messages[-1]["content"].count("What is 1 + 1?") == 1


def test_a_dialogue_asks_the_teacher_to_play_the_user_after_the_first_turn():
    assert _calls(method="label", params={"turns": 3}).requests == {OWN: 4 * 5}


def test_rationalizing_gold_mismatches_makes_the_count_a_lower_bound():
    seeds = [{"instruction": "1+1?", "answer": "2"}]
    plan = _calls(method="label", seeds=seeds, curation={"gold": "rationalize"})
    assert plan.requests == {OWN: 1} and plan.bound == "lower_bound"


def test_evol_counts_every_round_surviving_as_the_most_it_asks():
    plan = _calls(method="expand", params={"evol": {"rounds": 2}})
    # Per seed and round: a rewrite and an answer to the teacher, an equality check to the judge.
    assert plan.requests == {OWN: 4 * 2 * 2, JUDGE: 4 * 2} and plan.bound == "upper_bound"
    assert plan.prompts[0].template_name == "evol"


def test_self_instruct_counts_its_first_round_and_an_answer_per_task_as_the_least():
    plan = _calls(method="expand", target_count=10, params={"tasks_per_request": 5})
    assert plan.requests == {OWN: 3 + 10} and plan.bound == "lower_bound" and plan.records == 10
    assert all(p.template_name == "expand" for p in plan.prompts)


def test_curate_counts_every_list_as_long_as_asked():
    topics = [{"name": "math", "subtopics": [{"name": "sums", "questions": ["1+1?", "2+2?"]}]}]
    answers = _calls(method="curate", seeds=[], topics=topics)
    assert answers.requests == {OWN: 2, JUDGE: 0} and answers.bound == "exact"
    listed = _calls(method="curate", seeds=[], topics=["art"], params={"subtopics_per_topic": 2})
    per_path = 1 + listed.records // 2  # a questions request and an answer per question
    assert listed.requests[OWN] == 1 + 2 * per_path and listed.bound == "upper_bound"
    assert listed.prompts[0].template_name == "subtopics"


@pytest.mark.parametrize(("mode", "judged"), [("rating", 3), ("pairwise", 6)])
def test_feedback_asks_each_generator_then_judges_every_candidate_or_pair(mode, judged):
    seeds = [{"instruction": "q", "candidates": ["a", "b"]}]
    generators = (GeneratorRef(id="tch_g", name="g", temperature=0.7),)
    plan = _calls(
        generators,
        method="feedback",
        seeds=seeds,
        params={"generators": [{"teacher": "g", "temperature": 0.7}], "judge_mode": mode},
    )
    assert plan.requests == {"tch_g": 1, JUDGE: judged} and plan.bound == "upper_bound"
    assert plan.prompts[0].template_name == "label"
