"""Moving a pipeline on: the state machine every trigger runs (`advance`), and what tells
the workers a pipeline may move (`after_job`, `after_training_job`, `stalled`).

    pipeline: queued → running → succeeded | failed | cancelled; failed | cancelled → running (retry)
    stage: pending → running → succeeded | failed | cancelled; failed | cancelled → running (retry)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from distillery.db.base import utcnow
from distillery.db.models import Job, Pipeline, PipelineStage, TrainingJob
from distillery.errors import DistilleryError
from distillery.pipelines import stages as stage_jobs
from distillery.pipelines.events import emit
from distillery.pipelines.plan import planned
from distillery.pipelines.stages import Runtime
from distillery.queue import Message
from distillery.schemas.pipelines import PIPELINE_ENDED, PipelineStatus, StageStatus
from distillery.schemas.status import TERMINAL_STATUSES, JobStatus
from distillery.security.scrub import scrub

log = logging.getLogger(__name__)


def advance(session: Session, pipeline_id: str, runtime: Runtime) -> list[Message]:
    """Close the running stage if its job has ended, then start the next one (or close the
    pipeline); returns what to enqueue once this commits. Idempotent."""
    pipeline = session.scalar(select(Pipeline).where(Pipeline.id == pipeline_id).with_for_update())
    if pipeline is None or pipeline.status in PIPELINE_ENDED:
        return []
    rows = stage_rows(session, pipeline_id)
    current = next((s for s in rows if s.status == StageStatus.RUNNING), None)
    if current is not None:
        ended = stage_jobs.outcome(session, current)
        if ended is None:
            return []
        if ended.status != JobStatus.SUCCEEDED:
            fail(session, pipeline, current, f"stage '{current.name}' failed: {ended.reason}", ended.reason)
            return []
        _close_stage(current, StageStatus.SUCCEEDED)
        emit(
            session,
            pipeline.id,
            "stage_succeeded",
            f"stage '{current.name}' succeeded: {_job_of(current)}",
            stage=current.name,
            job_id=current.job_id,
            training_job_id=current.training_job_id,
        )
    following = next((s for s in rows if s.status == StageStatus.PENDING), None)
    if following is None:
        pipeline.status = PipelineStatus.SUCCEEDED
        pipeline.finished_at = utcnow()
        emit(session, pipeline.id, "succeeded", f"all {len(rows)} stages succeeded")
        return []
    return start(session, pipeline, following, rows, runtime)


def start(
    session: Session, pipeline: Pipeline, stage: PipelineStage, rows: Sequence[PipelineStage], runtime: Runtime
) -> list[Message]:
    """Make the stage's job and mark it running; a stage that cannot start fails the
    pipeline with the reason."""
    try:
        # A create refused halfway (a job row written, then its source dataset found
        # missing) leaves nothing behind.
        with session.begin_nested():
            plan = planned(pipeline.spec)[stage.position]
            started = stage_jobs.start(session, pipeline, plan, rows, runtime)
    except (DistilleryError, ValidationError) as exc:
        reason = exc.message if isinstance(exc, DistilleryError) else str(exc)
        fail(session, pipeline, stage, f"stage '{stage.name}' could not start: {reason}", f"could not start: {reason}")
        return []
    except SQLAlchemyError:
        raise  # the database's trouble, not the stage's: the next trigger tries again
    except Exception as exc:  # a bug must not leave the pipeline waiting forever
        log.exception("stage %s of pipeline %s could not start", stage.name, pipeline.id)
        reason = f"internal error ({type(exc).__name__})"
        fail(session, pipeline, stage, f"stage '{stage.name}' could not start: {reason}", f"could not start: {reason}")
        return []
    now = utcnow()
    stage.status, stage.error, stage.started_at, stage.finished_at = StageStatus.RUNNING, None, now, None
    stage.job_id, stage.training_job_id = started.job_id, started.training_job_id
    if pipeline.status == PipelineStatus.QUEUED:
        pipeline.status, pipeline.started_at = PipelineStatus.RUNNING, now
    emit(
        session,
        pipeline.id,
        "stage_started",
        f"stage '{stage.name}' started: {_job_of(stage)}",
        stage=stage.name,
        job_id=started.job_id,
        training_job_id=started.training_job_id,
    )
    return started.messages


def fail(session: Session, pipeline: Pipeline, stage: PipelineStage, error: str, stage_error: str) -> None:
    _close_stage(stage, StageStatus.FAILED)
    stage.error = scrub(stage_error)
    pipeline.status = PipelineStatus.FAILED
    pipeline.error = scrub(error)
    pipeline.finished_at = utcnow()
    emit(
        session,
        pipeline.id,
        "stage_failed",
        error,
        level="error",
        stage=stage.name,
        job_id=stage.job_id,
        training_job_id=stage.training_job_id,
    )
    retry = f"POST /v1/pipelines/{pipeline.id}/retry runs it again"
    emit(session, pipeline.id, "failed", f"{error}; {retry}", level="error")


def _job_of(stage: PipelineStage) -> str:
    return f"job {stage.job_id}" if stage.job_id else f"training job {stage.training_job_id}"


def _close_stage(stage: PipelineStage, status: StageStatus) -> None:
    stage.status = status
    stage.finished_at = utcnow()


def stage_rows(session: Session, pipeline_id: str) -> list[PipelineStage]:
    return list(
        session.scalars(
            select(PipelineStage).where(PipelineStage.pipeline_id == pipeline_id).order_by(PipelineStage.position)
        )
    )


def after_job(session: Session, job_id: str) -> str | None:
    """The pipeline to move on now that synthesis job `job_id` may have ended, if any."""
    row = session.execute(select(Job.pipeline_id, Job.status).where(Job.id == job_id)).first()
    return row.pipeline_id if row is not None and row.status in TERMINAL_STATUSES else None


def after_training_job(session: Session, training_job_id: str) -> str | None:
    row = session.execute(
        select(TrainingJob.pipeline_id, TrainingJob.status).where(TrainingJob.id == training_job_id)
    ).first()
    return row.pipeline_id if row is not None and row.status in TERMINAL_STATUSES else None


def stalled(session: Session, *, quiet_s: float) -> list[str]:
    """Pipelines that can move but that no trigger moved: their running stage's job has
    ended (its worker's message was lost, or it was cancelled or failed outside the paths
    that ring), or no stage runs `quiet_s` after creation (the POST's message was lost)."""
    running = aliased(PipelineStage)
    ended = session.execute(
        select(Pipeline.id, Job.status, TrainingJob.status)
        .join(PipelineStage, PipelineStage.pipeline_id == Pipeline.id)
        .outerjoin(Job, Job.id == PipelineStage.job_id)
        .outerjoin(TrainingJob, TrainingJob.id == PipelineStage.training_job_id)
        .where(Pipeline.status == PipelineStatus.RUNNING, PipelineStage.status == StageStatus.RUNNING)
    ).all()
    found = [pid for pid, job, trained in ended if (job or trained) is None or (job or trained) in TERMINAL_STATUSES]
    idle = session.scalars(
        select(Pipeline.id).where(
            Pipeline.status.in_((PipelineStatus.QUEUED, PipelineStatus.RUNNING)),
            Pipeline.created_at < utcnow() - timedelta(seconds=quiet_s),
            ~exists().where(running.pipeline_id == Pipeline.id, running.status == StageStatus.RUNNING),
        )
    ).all()
    return sorted({*found, *idle})
