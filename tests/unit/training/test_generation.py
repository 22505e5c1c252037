"""A generate job's candidates: how a prompt's samples become its candidates, and the
dataset version written from them (on a migrated SQLite database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.datasets.rows import records_of
from distillery.db.models import Dataset, Record, TrainingJob
from distillery.schemas.training import Generate, TrainingJobCreate
from distillery.training import generation, lifecycle
from distillery.training.generation import candidates
from tests.support.training_data import Example, make_dataset


def test_the_reference_comes_first_then_each_distinct_sample_once():
    found = candidates("Answer: 9", ["9", " 9 ", "", "   ", "Answer: 9", "8", "9"], include_reference=True)
    assert found.texts == ["Answer: 9", "9", "8"]
    assert found.sources == ["reference", "student", "student"]
    assert found.from_student == 2


def test_without_a_reference_only_the_samples_remain():
    assert candidates(None, ["a", "b", "a"], include_reference=True).texts == ["a", "b"]
    assert candidates("  ", ["a"], include_reference=True).sources == ["student"]
    left_out = candidates("ref", ["ref", "x"], include_reference=False)
    assert left_out.texts == ["ref", "x"] and left_out.sources == ["student", "student"]
    assert candidates(None, ["", " "], include_reference=True).texts == []


@pytest.fixture
def job(session: Session, tmp_path: Path) -> TrainingJob:
    """A running generate job on three prompts: two with an answer (one with a rationale)."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    prompts = [Example("What is 1 + 4?", "5", "1 plus 4 makes 5."), Example("Name a colour.", "Red"), Example("Hi", "")]

    def create(**spec: object) -> TrainingJob:
        return lifecycle.create(
            session,
            "t1",
            TrainingJobCreate.model_validate({"dataset_id": make_dataset(session, "t1", prompts), **spec}),
            hub_cache=tmp_path,
            model_dirs=[tmp_path],
        )

    sft = create(method="sft", base_model="model")
    lifecycle.start(session, sft.id, stale_after_s=60, max_attempts=3)
    lifecycle.finish(session, sft.id, "succeeded", "trained", {}, str(tmp_path / "artifacts"))
    job = create(method="generate", student=sft.id, generate={"samples": 3})
    lifecycle.start(session, job.id, stale_after_s=60, max_attempts=3)
    return job


SAMPLES = [["Answer: 5", "5", "5"], ["Blue", "", "Red"], ["Hello", "Hello", "Hey"]]


def test_the_samples_become_a_candidates_dataset_with_lineage_to_the_prompts(session, job):
    assert job.dataset_id is not None
    written = generation.save(session, job.id, SAMPLES, Generate(samples=3))
    assert written is not None and job.output_dataset_id == written.output_dataset_id
    assert (written.prompts, written.samples, written.records) == (3, 9, 3)
    # "Answer: 5" and "5" once; "Blue" (the blank dropped, "Red" is the reference); "Hello", "Hey".
    assert written.distinct_samples == 5

    dataset = session.get(Dataset, written.output_dataset_id)
    assert dataset is not None and dataset.kind == "candidates" and dataset.record_count == 3
    assert dataset.sources[0]["id"] == job.id and dataset.sources[0]["dataset"] == job.dataset_id
    sources = list(records_of(session, job.dataset_id))
    made = session.scalars(select(Record).where(Record.method == "generate").order_by(Record.id)).all()
    assert [r.seed_ids for r in made] == [[f"record:{s.id}"] for s in sources]
    # The reference as the student learnt to answer (rationale, then the final answer).
    assert made[0].parsed == {
        "candidates": ["1 plus 4 makes 5.\n\nAnswer: 5", "Answer: 5", "5"],
        "sources": ["reference", "student", "student"],
    }
    assert made[0].answer == "5" and made[0].messages == [{"role": "user", "content": "What is 1 + 4?"}]
    assert made[1].parsed["candidates"] == ["Red", "Blue"]
    assert not made[2].answer and made[2].parsed["sources"] == ["student", "student"]
    assert dataset.stats["methods"] == {"generate": 3}


def test_the_dataset_is_written_once_and_not_for_a_closed_job(session, job):
    first = generation.save(session, job.id, SAMPLES, Generate(samples=3))
    again = generation.save(session, job.id, [["x"] * 3] * 3, Generate(samples=3))
    assert again == first
    assert len(session.scalars(select(Dataset).where(Dataset.kind == "candidates")).all()) == 1
    lifecycle.fail(session, job.id, "stopped")
    assert generation.save(session, job.id, SAMPLES, Generate(samples=3)) is None
