"""Each method is one plug-in, found from the model of the job's spec."""

from __future__ import annotations

from typing import Any

import pytest

from distillery.methods.base import seed_items
from distillery.methods.registry import method_for
from distillery.schemas.job_specs import JobCreate, rehydrate
from distillery.schemas.job_specs.base import method_models

BODY: dict[str, Any] = {"name": "j", "teacher": "t", "skill": {"name": "s"}, "seeds": [{"instruction": "q"}]}
# b repeats a's task (the same text, normalised).
SEEDS: list[tuple[str | None, dict[str, Any]]] = [
    ("a", {"instruction": "What is 2 + 2?"}),
    ("b", {"instruction": "what is 2 + 2 ?"}),
    ("c", {"instruction": "x"}),
]
CANDIDATES = [{"instruction": "q", "candidates": ["a", "b"]}]


def _spec(**patch: Any) -> JobCreate:
    return JobCreate.model_validate({**BODY, **patch})


def test_every_method_model_has_a_plug_in_for_its_own_model():
    for model in method_models():
        assert method_for(model.model_construct()).spec is model


@pytest.mark.parametrize(
    ("patch", "kind", "per_seed", "rounds", "judged"),
    [
        ({"method": "label"}, "sft", True, False, True),
        ({"method": "expand", "target_count": 4}, "sft", False, True, True),
        ({"method": "expand", "params": {"evol": {}}}, "sft", True, False, True),
        ({"method": "curate", "seeds": [], "topics": ["t"]}, "sft", False, False, True),
        ({"method": "feedback", "seeds": CANDIDATES}, "preference", True, False, False),
    ],
)
def test_the_plug_in_says_what_the_orchestrator_needs(patch, kind, per_seed, rounds, judged):
    method = method_for(_spec(**patch))
    assert method.dataset_kind == kind and method.item_per_seed is per_seed
    assert (method.advance is not None) is rounds and method.quality_judged is judged


def test_seed_methods_plan_one_item_per_distinct_seed_up_to_the_target():
    assert [i.seed_ids for i in seed_items("job", _spec(method="label", seeds=[{"instruction": "q"}] * 3), SEEDS)] == [
        ["a"],
        ["c"],
    ]
    capped = _spec(method="label", seeds=[{"instruction": "q"}] * 3, target_count=1)
    assert [i.seed_ids for i in seed_items("job", capped, SEEDS)] == [["a"]]


def test_planning_reads_the_typed_spec():
    documents = [{"id": "d", "title": "T", "text": "One sentence here. " * 40}]
    spec = _spec(method="curate", seeds=[], documents=documents, params={"chunk_chars": 200})
    items = method_for(spec).plan("job", spec, [])
    assert items and all(i.payload["step"] == "grounded" and i.payload["document_id"] == "d" for i in items)

    topics = [{"name": "math", "subtopics": ["algebra", {"name": "sums", "questions": ["1+1?", "2+2?"]}]}, "art"]
    spec = _spec(method="curate", seeds=[], topics=topics)
    steps = [(i.payload["step"], i.payload["topic_path"]) for i in method_for(spec).plan("job", spec, [])]
    assert steps == [
        ("questions", ["math", "algebra"]),
        ("answer", ["math", "sums"]),
        ("answer", ["math", "sums"]),
        ("subtopics", ["art"]),
    ]

    spec = _spec(method="expand", target_count=10, params={"tasks_per_request": 5, "seed_examples": 1})
    proposals = method_for(spec).plan("job", spec, SEEDS)
    assert len(proposals) == 3 and all(len(i.payload["examples"]) == 1 for i in proposals)


def test_a_stored_spec_finds_the_same_plug_in():
    stored = {**_spec(method="expand", params={"evol": {"rounds": 2}}).model_dump(mode="json"), "teachers": []}
    assert method_for(rehydrate(stored).job) is method_for(_spec(method="expand", params={"evol": {}}))
