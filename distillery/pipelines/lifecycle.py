"""Creating, cancelling and retrying pipelines. Each locks the pipeline's row; what must
be enqueued is returned, to be sent once the transaction commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from distillery.db.base import new_id, utcnow
from distillery.db.models import Pipeline, PipelineStage
from distillery.db.scoping import get_owned
from distillery.errors import Conflict
from distillery.pipelines import preflight, runner
from distillery.pipelines import stages as stage_jobs
from distillery.pipelines.events import emit
from distillery.pipelines.plan import expand
from distillery.pipelines.stages import Runtime
from distillery.queue import Message
from distillery.schemas.pipelines import PIPELINE_ENDED, PipelineCreate, PipelineStatus, StageStatus
from distillery.schemas.status import JobStatus


def create(
    session: Session, tenant_id: str, spec: PipelineCreate, runtime: Runtime, *, request_id: str | None = None
) -> Pipeline:
    """Store a queued pipeline and its stages (rounds unrolled); the first stage starts
    when ADVANCE_PIPELINE runs. `request_id`: of the API request it comes from; its stages'
    jobs carry it too."""
    preflight.check(session, tenant_id, spec, runtime)
    pipeline = Pipeline(
        id=new_id("pipe"),
        tenant_id=tenant_id,
        name=spec.name,
        spec=spec.model_dump(mode="json"),
        status=PipelineStatus.QUEUED,
        request_id=request_id,
    )
    session.add(pipeline)
    session.flush()
    plan = expand(spec.stages, spec.rounds)
    session.add_all(
        PipelineStage(pipeline_id=pipeline.id, position=n, name=s.name, kind=s.kind, status=StageStatus.PENDING)
        for n, s in enumerate(plan)
    )
    session.flush()
    emit(session, pipeline.id, "created", f"{len(plan)} stages: {' → '.join(s.name for s in plan)}")
    return pipeline


def cancel(session: Session, tenant_id: str, pipeline_id: str) -> tuple[Pipeline, list[Message]]:
    """Cancel the running stage's job (its records or model so far are kept) and every
    stage still to come."""
    pipeline = get_owned(session, Pipeline, tenant_id, pipeline_id, "pipeline", for_update=True)
    if pipeline.status in PIPELINE_ENDED:
        raise Conflict(
            f"pipeline '{pipeline_id}' already {pipeline.status}; only queued or running pipelines can be cancelled"
        )
    messages: list[Message] = []
    now = utcnow()
    for stage in runner.stage_rows(session, pipeline_id):
        if stage.status == StageStatus.RUNNING:
            ended = stage_jobs.outcome(session, stage)
            if ended is not None and ended.status == JobStatus.SUCCEEDED:
                stage.status = StageStatus.SUCCEEDED  # done before the cancel came: kept
            else:
                messages += stage_jobs.cancel(session, tenant_id, stage)
                stage.status = StageStatus.CANCELLED
            stage.finished_at = now
        elif stage.status == StageStatus.PENDING:
            stage.status = StageStatus.CANCELLED
    pipeline.status = PipelineStatus.CANCELLED
    pipeline.finished_at = now
    emit(session, pipeline.id, "cancelled", "cancelled by the user; what finished stages made is kept")
    return pipeline, messages


def retry(session: Session, tenant_id: str, pipeline_id: str, runtime: Runtime) -> tuple[Pipeline, list[Message]]:
    """Run a failed or cancelled pipeline on from the stage that did not finish: a synthesis
    job by its ordinary retry, a training job as a fresh job of the same spec, a stage that
    never started from the start."""
    pipeline = get_owned(session, Pipeline, tenant_id, pipeline_id, "pipeline", for_update=True)
    if pipeline.status not in (PipelineStatus.FAILED, PipelineStatus.CANCELLED):
        raise Conflict(f"pipeline '{pipeline_id}' is {pipeline.status}; only a failed or cancelled one can be retried")
    rows = runner.stage_rows(session, pipeline_id)
    unfinished = [s for s in rows if s.status != StageStatus.SUCCEEDED]
    if not unfinished:
        raise Conflict(f"pipeline '{pipeline_id}' has no stage left to run")
    stage = unfinished[0]
    if stage.training_job_id is not None and stage_jobs.outcome(session, stage) is None:
        raise Conflict(
            f"stage '{stage.name}' is still stopping its training job {stage.training_job_id}; retry once it has"
        )
    for later in unfinished:
        later.status, later.error, later.finished_at = StageStatus.PENDING, None, None
    pipeline.status, pipeline.error, pipeline.finished_at = PipelineStatus.RUNNING, None, None
    pipeline.started_at = pipeline.started_at or utcnow()  # cancelled while queued, it never started
    emit(session, pipeline.id, "retried", f"running again from stage '{stage.name}'", stage=stage.name)
    if stage.job_id is None or not stage_jobs.was_planned(session, stage):
        # A training stage runs a fresh job; a stage that never started (or whose job was
        # cancelled before it planned its items) starts from the beginning.
        return pipeline, runner.start(session, pipeline, stage, rows, runtime)
    messages = stage_jobs.retry(session, tenant_id, stage, runtime)
    stage.status, stage.started_at = StageStatus.RUNNING, utcnow()
    emit(
        session,
        pipeline.id,
        "stage_started",
        f"stage '{stage.name}' started again: job {stage.job_id} retries its failed and skipped items",
        stage=stage.name,
        job_id=stage.job_id,
    )
    return pipeline, messages
