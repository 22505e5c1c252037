"""Jobs that start from, sample or score a trained student, on a migrated SQLite database:
which students a job may name, the weights the worker loads, and gold sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from distillery.db.models import Tenant, TrainingJob
from distillery.errors import InvalidSpec
from distillery.schemas.training import TrainingJobCreate
from distillery.training import lifecycle, students
from distillery.training.students import Weights
from tests.support.training_data import Example, arithmetic, make_dataset, preferences


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    return tmp_path / "model"


def create(session: Session, model_dir: Path, tenant_id: str = "t1", **spec: Any) -> TrainingJob:
    body: dict[str, Any] = {"dataset_id": make_dataset(session, tenant_id, arithmetic(4)), "method": "sft"}
    if "student" not in spec:
        body["base_model"] = str(model_dir)
    return lifecycle.create(
        session,
        tenant_id,
        TrainingJobCreate.model_validate({**body, **spec}),
        hub_cache=model_dir,
        model_dirs=[model_dir.parent],
    )


def trained(session: Session, job: TrainingJob) -> TrainingJob:
    """The job as a worker leaves it after a successful run."""
    lifecycle.start(session, job.id, stale_after_s=60, max_attempts=3)
    lifecycle.finish(session, job.id, "succeeded", "trained", {"steps": 1}, f"memory://artifacts/{job.id}")
    return job


def problem(session: Session, model_dir: Path, **spec: Any) -> tuple[str, str]:
    with pytest.raises(InvalidSpec) as caught:
        create(session, model_dir, **spec)
    return caught.value.details[0]["field"], caught.value.details[0]["problem"]


def test_a_job_with_a_student_takes_the_students_base_model(session, model_dir):
    sft = trained(session, create(session, model_dir))
    dpo = create(
        session,
        model_dir,
        student=sft.id,
        method="dpo",
        dataset_id=make_dataset(session, "t1", preferences(4), kind="preference"),
    )
    assert dpo.student_job_id == sft.id and dpo.base_model == sft.base_model == str(model_dir)
    spec = lifecycle.start(session, dpo.id, stale_after_s=60, max_attempts=3)
    assert spec is not None and spec.student is not None
    assert spec.student.weights == (Weights(sft.id, "adapter", f"memory://artifacts/{sft.id}"),)


def test_a_student_must_be_the_tenants_own_succeeded_training_job(session, model_dir):
    session.add(Tenant(id="t2", name="two"))
    session.flush()
    theirs = trained(session, create(session, model_dir, tenant_id="t2"))
    queued = create(session, model_dir)
    failed = create(session, model_dir)
    lifecycle.start(session, failed.id, stale_after_s=60, max_attempts=3)
    lifecycle.fail(session, failed.id, "out of memory")
    generate = create(session, model_dir, method="generate", student=trained(session, create(session, model_dir)).id)
    assert problem(session, model_dir, student="train_missing") == ("student", "no training job 'train_missing'")
    assert problem(session, model_dir, student=theirs.id) == ("student", f"no training job '{theirs.id}'")
    field, message = problem(session, model_dir, student=queued.id)
    assert field == "student" and message.endswith("has no trained student: it is queued; wait until it succeeds")
    assert "it is failed" in problem(session, model_dir, student=failed.id)[1]
    assert "is a generate job, which trains nothing" in problem(session, model_dir, student=generate.id)[1]


def test_a_students_weights_are_its_chain_of_adapters_back_to_its_base_or_a_full_model(session, model_dir):
    first = trained(session, create(session, model_dir))
    second = trained(session, create(session, model_dir, student=first.id))
    full = trained(session, create(session, model_dir, student=second.id, lora=None))
    last = trained(session, create(session, model_dir, student=full.id))

    chain = students.lineage(session, second.id)
    assert chain.base_model == str(model_dir)
    assert [(w.training_job_id, w.kind) for w in chain.weights] == [(first.id, "adapter"), (second.id, "adapter")]
    # A full model holds everything trained before it.
    chain = students.lineage(session, last.id)
    assert [(w.training_job_id, w.kind) for w in chain.weights] == [(full.id, "model"), (last.id, "adapter")]


def test_generate_and_evaluate_store_their_own_parameters_and_no_training_ones(session, model_dir):
    sft = trained(session, create(session, model_dir))
    preference = make_dataset(session, "t1", preferences(3), kind="preference")
    generate = create(session, model_dir, method="generate", student=sft.id, dataset_id=preference)
    assert generate.hyperparameters["samples"] == 4 and generate.hyperparameters["include_reference"] is True
    assert (generate.lora, generate.eval_split, generate.evaluate) == (None, 0.0, None)
    evaluate = create(session, model_dir, method="evaluate", student=sft.id, evaluate={"n": 2})
    assert evaluate.hyperparameters == {} and evaluate.evaluate == {
        "n": 2,
        "max_new_tokens": 256,
        "judge_teacher": None,
        "dataset_id": None,
    }
    spec = lifecycle.start(session, generate.id, stale_after_s=60, max_attempts=3)
    assert spec is not None and spec.hyperparameters is None and spec.generate is not None
    assert spec.generate.samples == 4 and not spec.trains


def test_a_gold_set_needs_answers(session, model_dir):
    sft = trained(session, create(session, model_dir))
    unanswered = make_dataset(session, "t1", [Example("What is 2 + 2?", "")])
    field, message = problem(
        session, model_dir, method="evaluate", student=sft.id, dataset_id=unanswered, evaluate={"n": 1}
    )
    assert field == "dataset_id" and "has no answers to score against" in message
    field, _ = problem(session, model_dir, evaluate={"n": 1, "dataset_id": unanswered}, eval_split=0)
    assert field == "evaluate.dataset_id"
    gold = make_dataset(session, "t1", arithmetic(2))
    job = create(session, model_dir, evaluate={"n": 1, "dataset_id": gold}, eval_split=0)
    spec = lifecycle.start(session, job.id, stale_after_s=60, max_attempts=3)
    assert spec is not None and spec.gold_set_id == gold


def test_a_job_whose_students_chain_broke_fails_when_it_starts(session, model_dir):
    sft = trained(session, create(session, model_dir))
    job = create(session, model_dir, method="evaluate", student=sft.id, evaluate={"n": 1})
    sft.artifacts_uri = None  # its weights were removed since
    assert lifecycle.start(session, job.id, stale_after_s=60, max_attempts=3) is None
    assert job.status == "failed" and job.error is not None and job.error.startswith("its student cannot be loaded")
