"""The pipeline state machine on SQLite: stages start one after another through the
ordinary job lifecycles, a failed or unstartable stage fails the run with its reason,
cancel and retry, and what the workers' triggers and sweep find."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distillery.db.models import Job, Pipeline, PipelineEvent, PipelineStage, Seed, Teacher, TrainingJob
from distillery.errors import Conflict, InvalidSpec
from distillery.pipelines import lifecycle, runner
from distillery.pipelines.stages import Runtime
from distillery.queue import FINALIZE_JOB, PLAN_JOB, RUN_CHUNK, RUN_TRAINING_JOB, TRAINING, Message
from distillery.schemas.pipelines import PipelineCreate
from tests.support.training_data import arithmetic, make_dataset
from tests.unit.pipelines.conftest import label, stage

pytestmark = pytest.mark.usefixtures("teacher")

TWO_LABELS = [stage("label", "job", label()), stage("relabel", "job", label(seeds=[], source_dataset="@label"))]


def create(session: Session, runtime: Runtime, *stages: dict[str, Any], **extra: Any) -> Pipeline:
    body = PipelineCreate.model_validate({"name": "run", "stages": list(stages), **extra})
    return lifecycle.create(session, "t1", body, runtime)


def stages(session: Session, pipeline: Pipeline) -> list[PipelineStage]:
    return runner.stage_rows(session, pipeline.id)


def events(session: Session, pipeline: Pipeline) -> list[str]:
    rows = session.scalars(
        select(PipelineEvent.type).where(PipelineEvent.pipeline_id == pipeline.id).order_by(PipelineEvent.id)
    )
    return list(rows)


def end_job(session: Session, job_id: str | None, status: str = "succeeded", records: int = 3, error: str = "") -> str:
    """Close a stage's synthesis job as its worker would, with a dataset of `records`."""
    job = session.get_one(Job, job_id)
    job.status, job.error = status, error or None
    if status == "succeeded":
        job.dataset_id = make_dataset(session, "t1", arithmetic(records))
    session.flush()
    return job.dataset_id or ""


def test_the_first_stage_starts_as_an_ordinary_job_of_the_pipeline(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    assert pipeline.status == "queued"
    assert [(s.name, s.status) for s in stages(session, pipeline)] == [("label", "pending"), ("relabel", "pending")]

    messages = runner.advance(session, pipeline.id, runtime)
    first = stages(session, pipeline)[0]
    assert first.status == "running" and first.job_id is not None
    assert messages == [Message(PLAN_JOB, (first.job_id,))]
    job = session.get_one(Job, first.job_id)
    assert (job.pipeline_id, job.status, job.name) == (pipeline.id, "queued", "run: label")
    assert pipeline.status == "running" and pipeline.started_at is not None
    # Nothing more while its job runs; a second delivery changes nothing.
    assert runner.advance(session, pipeline.id, runtime) == []
    assert events(session, pipeline) == ["created", "stage_started"]


def test_each_stages_job_carries_the_request_id_that_created_the_pipeline(session, runtime):
    body = PipelineCreate.model_validate({"name": "run", "stages": TWO_LABELS})
    pipeline = lifecycle.create(session, "t1", body, runtime, request_id="req-pipe-1")
    runner.advance(session, pipeline.id, runtime)
    end_job(session, stages(session, pipeline)[0].job_id)
    runner.advance(session, pipeline.id, runtime)
    jobs = [session.get_one(Job, s.job_id) for s in stages(session, pipeline)]
    assert pipeline.request_id == "req-pipe-1" and [j.request_id for j in jobs] == ["req-pipe-1"] * 2


def test_the_next_stage_takes_the_earlier_stages_dataset_and_the_run_succeeds(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    dataset = end_job(session, stages(session, pipeline)[0].job_id, records=4)

    messages = runner.advance(session, pipeline.id, runtime)
    first, second = stages(session, pipeline)
    assert first.status == "succeeded" and second.status == "running"
    assert messages == [Message(PLAN_JOB, (second.job_id,))]
    job = session.get_one(Job, second.job_id)
    assert job.spec["source_dataset"] == dataset and job.pipeline_id == pipeline.id
    assert session.scalar(select(func.count()).select_from(Seed).where(Seed.job_id == job.id)) == 4

    end_job(session, second.job_id)
    assert runner.advance(session, pipeline.id, runtime) == []
    assert pipeline.status == "succeeded" and pipeline.finished_at is not None
    assert events(session, pipeline)[-2:] == ["stage_succeeded", "succeeded"]
    assert runner.advance(session, pipeline.id, runtime) == []


def test_a_failed_stage_fails_the_run_with_its_jobs_reason(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    end_job(session, stages(session, pipeline)[0].job_id, "failed", error="no record was accepted; 3 items failed")

    assert runner.advance(session, pipeline.id, runtime) == []
    assert pipeline.status == "failed"
    assert pipeline.error == "stage 'label' failed: no record was accepted; 3 items failed"
    assert [s.status for s in stages(session, pipeline)] == ["failed", "pending"]
    assert events(session, pipeline)[-2:] == ["stage_failed", "failed"]


def test_a_cancelled_stage_job_fails_the_run(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    end_job(session, stages(session, pipeline)[0].job_id, "cancelled")
    runner.advance(session, pipeline.id, runtime)
    assert pipeline.error == "stage 'label' failed: its job was cancelled"


def test_a_stage_whose_input_is_empty_fails_the_run_and_leaves_no_job_behind(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    end_job(session, stages(session, pipeline)[0].job_id, records=0)
    jobs_before = session.scalar(select(func.count()).select_from(Job))

    assert runner.advance(session, pipeline.id, runtime) == []
    assert pipeline.status == "failed"
    assert pipeline.error is not None and pipeline.error.startswith("stage 'relabel' could not start: source_dataset:")
    assert "empty dataset" in pipeline.error
    second = stages(session, pipeline)[1]
    assert second.status == "failed" and second.job_id is None
    assert session.scalar(select(func.count()).select_from(Job)) == jobs_before


def test_a_stage_whose_teacher_was_deleted_meanwhile_fails_the_run_naming_the_field(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    end_job(session, stages(session, pipeline)[0].job_id)
    session.delete(session.get_one(Teacher, "tch_1"))
    session.flush()

    assert runner.advance(session, pipeline.id, runtime) == []
    assert pipeline.error == "stage 'relabel' could not start: teacher: no teacher with id or name 'gpt'"


def test_cancel_stops_the_running_stages_job_and_every_stage_to_come(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)

    cancelled, messages = lifecycle.cancel(session, "t1", pipeline.id)
    assert cancelled.status == "cancelled" and messages == []
    first, second = stages(session, pipeline)
    assert (first.status, second.status) == ("cancelled", "cancelled")
    assert session.get_one(Job, first.job_id).status == "cancelled"
    assert runner.advance(session, pipeline.id, runtime) == []
    with pytest.raises(Conflict):
        lifecycle.cancel(session, "t1", pipeline.id)


def test_retry_after_a_cancel_before_planning_starts_the_stage_afresh(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    old = stages(session, pipeline)[0].job_id
    lifecycle.cancel(session, "t1", pipeline.id)

    retried, messages = lifecycle.retry(session, "t1", pipeline.id, runtime)
    first, second = stages(session, pipeline)
    assert retried.status == "running" and first.status == "running" and second.status == "pending"
    assert first.job_id != old and messages == [Message(PLAN_JOB, (first.job_id,))]


def test_retry_runs_a_failed_synthesis_stage_by_its_ordinary_retry_and_goes_on(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    first = stages(session, pipeline)[0]
    job = session.get_one(Job, first.job_id)
    job.started_at = job.created_at  # planned, then failed
    end_job(session, first.job_id, "failed", error="teacher refused")
    runner.advance(session, pipeline.id, runtime)
    retried, messages = lifecycle.retry(session, "t1", pipeline.id, runtime)
    assert retried.status == "running" and retried.error is None
    assert first.status == "running" and first.job_id == job.id
    assert job.status == "running"
    assert messages == [Message(FINALIZE_JOB, (job.id,))]  # no items of its own yet in this test

    end_job(session, first.job_id)
    assert runner.advance(session, pipeline.id, runtime)[0].task == PLAN_JOB
    assert [s.status for s in stages(session, pipeline)] == ["succeeded", "running"]


def test_only_a_failed_or_cancelled_pipeline_can_be_retried(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    with pytest.raises(Conflict):
        lifecycle.retry(session, "t1", pipeline.id, runtime)


def test_a_training_stage_trains_on_the_earlier_stages_dataset_and_a_retry_makes_a_fresh_job(session, runtime):
    pipeline = create(
        session,
        runtime,
        stage("label", "job", label()),
        stage("sft", "sft", {"dataset_id": "@label", "base_model": "tiny", "lora": None}),
    )
    runner.advance(session, pipeline.id, runtime)
    dataset = end_job(session, stages(session, pipeline)[0].job_id)

    messages = runner.advance(session, pipeline.id, runtime)
    sft = stages(session, pipeline)[1]
    assert sft.status == "running" and sft.job_id is None and sft.training_job_id is not None
    assert messages == [Message(RUN_TRAINING_JOB, (sft.training_job_id,), TRAINING)]
    trained = session.get_one(TrainingJob, sft.training_job_id)
    assert (trained.dataset_id, trained.method, trained.pipeline_id) == (dataset, "sft", pipeline.id)

    trained.status, trained.error = "failed", "out of memory: lower hyperparameters.batch_size"
    runner.advance(session, pipeline.id, runtime)
    assert pipeline.error == "stage 'sft' failed: out of memory: lower hyperparameters.batch_size"
    _, messages = lifecycle.retry(session, "t1", pipeline.id, runtime)
    assert sft.training_job_id != trained.id and sft.status == "running"
    assert messages == [Message(RUN_TRAINING_JOB, (sft.training_job_id,), TRAINING)]


def test_retry_waits_for_a_cancelled_training_job_to_stop(session, runtime):
    ds = make_dataset(session, "t1", arithmetic(3))
    pipeline = create(session, runtime, stage("sft", "sft", {"dataset_id": ds, "base_model": "tiny"}))
    runner.advance(session, pipeline.id, runtime)
    trained = session.get_one(TrainingJob, stages(session, pipeline)[0].training_job_id)
    trained.status = "running"  # a worker holds it: the cancel is only requested
    lifecycle.cancel(session, "t1", pipeline.id)
    assert trained.cancel_requested and trained.status == "running"
    with pytest.raises(Conflict, match="still stopping"):
        lifecycle.retry(session, "t1", pipeline.id, runtime)


def test_creation_checks_what_the_stages_name(session, runtime):
    with pytest.raises(InvalidSpec) as caught:
        create(session, runtime, stage("label", "job", label(teacher="nobody")))
    assert caught.value.details[0]["field"] == "stages.0.spec.teacher"
    with pytest.raises(InvalidSpec) as caught:
        create(session, runtime, stage("label", "job", label(seeds=[], source_dataset="ds_nope")))
    assert caught.value.details[0]["field"] == "stages.0.spec.source_dataset"
    with pytest.raises(InvalidSpec) as caught:
        create(
            session,
            runtime,
            stage("label", "job", label()),
            stage("sft", "sft", {"dataset_id": "@label", "base_model": "huge"}),
        )
    assert caught.value.details[0]["field"] == "stages.1.spec.base_model"
    feedback = label(method="feedback", seeds=[{"instruction": "hi", "candidates": ["a", "b"]}])
    with pytest.raises(InvalidSpec) as caught:
        create(
            session,
            runtime,
            stage("pairs", "job", feedback),
            stage("sft", "sft", {"dataset_id": "@pairs", "base_model": "tiny"}),
        )
    assert caught.value.details[0]["field"] == "stages.1.spec.dataset_id"
    assert "makes a preference dataset" in caught.value.message
    assert session.scalar(select(func.count()).select_from(Pipeline)) == 0


def test_rounds_are_stored_as_concrete_stages_and_each_copy_reads_as_written(session, runtime):
    pipeline = create(
        session,
        runtime,
        stage("label", "job", label()),
        stage("relabel", "job", label(seeds=[], source_dataset="@label")),
        rounds={"count": 3, "stages": ["relabel"]},
    )
    assert [s.name for s in stages(session, pipeline)] == ["label", "relabel", "relabel#2", "relabel#3"]
    runner.advance(session, pipeline.id, runtime)
    labelled = end_job(session, stages(session, pipeline)[0].job_id)
    runner.advance(session, pipeline.id, runtime)
    end_job(session, stages(session, pipeline)[1].job_id)
    runner.advance(session, pipeline.id, runtime)
    # A dataset stage outside the round stays itself in every round.
    copy = stages(session, pipeline)[2]
    assert copy.status == "running" and session.get_one(Job, copy.job_id).spec["source_dataset"] == labelled


def test_the_triggers_find_the_pipeline_of_an_ended_job_and_the_sweep_the_stalled_ones(session, runtime):
    pipeline = create(session, runtime, *TWO_LABELS)
    idle = create(session, runtime, *TWO_LABELS)  # its POST's message was lost
    runner.advance(session, pipeline.id, runtime)
    job_id = stages(session, pipeline)[0].job_id
    assert job_id is not None
    assert runner.after_job(session, job_id) is None  # still running
    assert runner.stalled(session, quiet_s=3600) == []
    idle.created_at = idle.created_at - timedelta(hours=2)
    assert runner.stalled(session, quiet_s=3600) == [idle.id]

    end_job(session, job_id, "failed", error="boom")
    assert runner.after_job(session, job_id) == pipeline.id
    assert set(runner.stalled(session, quiet_s=3600)) == {pipeline.id, idle.id}
    runner.advance(session, pipeline.id, runtime)
    assert runner.stalled(session, quiet_s=3600) == [idle.id]


def test_retry_of_a_stage_with_work_dispatches_its_chunks(session, runtime):
    """The ordinary retry re-runs the failed and skipped items: one chunk message each."""
    from distillery.jobs import planning

    pipeline = create(session, runtime, *TWO_LABELS)
    runner.advance(session, pipeline.id, runtime)
    job_id = stages(session, pipeline)[0].job_id
    assert job_id is not None
    planning.plan(session, job_id, chunk_size=50, lease_s=30)
    lifecycle.cancel(session, "t1", pipeline.id)  # its items are skipped
    _, messages = lifecycle.retry(session, "t1", pipeline.id, runtime)
    assert [m.task for m in messages] == [RUN_CHUNK] and messages[0].args[0] == job_id
