"""One stage's job: made from the stage's spec with its references read from the stages
before it, its outcome, its cancel and its retry, each through the ordinary lifecycle
functions of synthesis and training jobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.orm import Session

from distillery.db.models import Dataset, Job, Pipeline, PipelineStage, TrainingJob
from distillery.errors import Conflict, InvalidSpec
from distillery.jobs import lifecycle as jobs
from distillery.pipelines.plan import PlannedStage
from distillery.queue import FINALIZE_JOB, JUDGE_TRAINING, PLAN_JOB, RUN_CHUNK, RUN_TRAINING_JOB, TRAINING, Message
from distillery.schemas.base import first_problem
from distillery.schemas.jobs import JobCreate
from distillery.schemas.pipelines import ReferenceField, stage_body, substitute, validate_body
from distillery.schemas.status import TERMINAL_STATUSES, JobStatus
from distillery.settings import Settings
from distillery.training import lifecycle as training


@dataclass(frozen=True)
class Runtime:
    """What making and retrying stages' jobs needs from the server's settings."""

    hub_cache: Path
    model_dirs: tuple[Path, ...]
    chunk_size: int
    lease_s: int

    @classmethod
    def of(cls, settings: Settings) -> Runtime:
        return cls(
            hub_cache=settings.resolved_hf_hub_cache,
            model_dirs=tuple(settings.model_dirs),
            chunk_size=settings.chunk_size,
            lease_s=settings.lease_seconds,
        )


@dataclass(frozen=True)
class Started:
    job_id: str | None
    training_job_id: str | None
    messages: list[Message]


@dataclass(frozen=True)
class Outcome:
    """How a stage's job ended."""

    status: JobStatus
    error: str | None

    @property
    def reason(self) -> str:
        return self.error or f"its job was {self.status}"


def start(
    session: Session, pipeline: Pipeline, plan: PlannedStage, done: Sequence[PipelineStage], runtime: Runtime
) -> Started:
    """Create the stage's job, its references read from the stages `done`; InvalidSpec
    (naming the spec's field) when it cannot be made."""
    by_name = {stage.name: stage for stage in done}

    def output(field: ReferenceField, name: str) -> str:
        return _output(session, by_name[name], field)

    body = stage_body(plan.kind, substitute(plan.kind, plan.spec, output), f"{pipeline.name}: {plan.name}")
    try:
        spec = validate_body(plan.kind, body)
    except ValidationError as exc:
        raise InvalidSpec(*first_problem(exc)) from None
    if isinstance(spec, JobCreate):
        # Part of a pipeline the tenant already started: not held to its limit on active jobs.
        job = jobs.create(session, pipeline.tenant_id, spec, max_active=0, request_id=pipeline.request_id)
        job.pipeline_id = pipeline.id
        return Started(job.id, None, [Message(PLAN_JOB, (job.id,))])
    trained = training.create(
        session,
        pipeline.tenant_id,
        spec,
        hub_cache=runtime.hub_cache,
        model_dirs=runtime.model_dirs,
        request_id=pipeline.request_id,
    )
    trained.pipeline_id = pipeline.id
    return Started(None, trained.id, [Message(RUN_TRAINING_JOB, (trained.id,), TRAINING)])


def _output(session: Session, stage: PipelineStage, field: ReferenceField) -> str:
    """What an earlier (succeeded) stage hands on: its model, or its dataset if not empty."""
    if field.takes == "model":
        if stage.training_job_id is None:
            raise InvalidSpec(field.dotted, f"stage '{stage.name}' left no training job")
        return stage.training_job_id
    dataset_id = None
    if stage.job_id is not None:
        dataset_id = session.get_one(Job, stage.job_id).dataset_id
    elif stage.training_job_id is not None:
        dataset_id = session.get_one(TrainingJob, stage.training_job_id).output_dataset_id
    dataset = session.get(Dataset, dataset_id) if dataset_id else None
    if dataset is None:
        raise InvalidSpec(field.dotted, f"stage '{stage.name}' left no dataset")
    if dataset.record_count == 0:
        raise InvalidSpec(
            field.dotted, f"stage '{stage.name}' made an empty dataset ({dataset.id}): nothing to go on with"
        )
    return dataset.id


def outcome(session: Session, stage: PipelineStage) -> Outcome | None:
    """How the stage's job ended; None while it runs."""
    job: Job | TrainingJob | None = None
    if stage.job_id is not None:
        job = session.get(Job, stage.job_id)
    elif stage.training_job_id is not None:
        job = session.get(TrainingJob, stage.training_job_id)
    if job is None:  # deleted with its tenant's data, or never made
        return Outcome(JobStatus.FAILED, "its job was deleted")
    if job.status not in TERMINAL_STATUSES:
        return None
    return Outcome(JobStatus(job.status), job.error)


def was_planned(session: Session, stage: PipelineStage) -> bool:
    """Whether the stage's synthesis job got as far as planning its work items (a job
    cancelled while queued has none for a retry to run)."""
    job = session.get(Job, stage.job_id) if stage.job_id else None
    return job is not None and job.started_at is not None


def cancel(session: Session, tenant_id: str, stage: PipelineStage) -> list[Message]:
    """Cancel the stage's job, if it still runs."""
    try:
        if stage.job_id is not None:
            jobs.cancel(session, tenant_id, stage.job_id)
        elif stage.training_job_id is not None:
            job = training.cancel(session, tenant_id, stage.training_job_id)
            if job.judging_since is not None:  # no training worker holds it: its judge step stops it
                return [Message(JUDGE_TRAINING, (job.id,))]
    except Conflict:  # it ended meanwhile
        pass
    return []


def retry(session: Session, tenant_id: str, stage: PipelineStage, runtime: Runtime) -> list[Message]:
    """A synthesis stage's job run again by its ordinary retry: its failed and skipped items
    (paid replies come from the cache)."""
    assert stage.job_id is not None
    job, chunks = jobs.retry(
        session, tenant_id, stage.job_id, None, chunk_size=runtime.chunk_size, lease_s=runtime.lease_s
    )
    return [Message(RUN_CHUNK, (job.id, chunk)) for chunk in chunks] or [Message(FINALIZE_JOB, (job.id,))]
