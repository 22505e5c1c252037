"""Reading pipelines, rolled up from their stages' jobs, always through the tenant's scope."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.models import Job, Pipeline, PipelineEvent, PipelineStage, TrainingJob
from distillery.db.scoping import get_owned, owned_by
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.schemas.pipelines import (
    PipelineEventOut,
    PipelineOut,
    PipelineProgress,
    StageOut,
    StageProgress,
    StageStatus,
)


@dataclass(frozen=True)
class _Jobs:
    """What the rollup reads of the pipelines' jobs, fetched in a few queries for a page."""

    synthesis: dict[str, tuple[int, str | None]]  # job id → (total items, dataset id)
    training: dict[str, tuple[int, int | None, str | None]]  # id → (step, total steps, output dataset)
    counts: dict[str, Counts]
    # Every synthesis job of each pipeline, for its cost.
    of_pipeline: dict[str, list[str]]


def to_out(session: Session, pipeline: Pipeline) -> PipelineOut:
    return _outs(session, [pipeline])[0]


def get(session: Session, tenant_id: str, pipeline_id: str) -> PipelineOut:
    return to_out(session, get_owned(session, Pipeline, tenant_id, pipeline_id, "pipeline"))


def list_all(session: Session, tenant_id: str, limit: int, offset: int) -> list[PipelineOut]:
    stmt = owned_by(Pipeline, tenant_id).order_by(Pipeline.created_at.desc(), Pipeline.id)
    return _outs(session, list(session.scalars(stmt.limit(limit).offset(offset))))


def events(session: Session, tenant_id: str, pipeline_id: str, limit: int, offset: int) -> list[PipelineEventOut]:
    get_owned(session, Pipeline, tenant_id, pipeline_id, "pipeline")
    stmt = (
        select(PipelineEvent)
        .where(PipelineEvent.pipeline_id == pipeline_id)
        .order_by(PipelineEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return [PipelineEventOut.model_validate(e) for e in session.scalars(stmt)]


def _outs(session: Session, pipelines: list[Pipeline]) -> list[PipelineOut]:
    ids = [p.id for p in pipelines]
    stages: dict[str, list[PipelineStage]] = defaultdict(list)
    for stage in session.scalars(
        select(PipelineStage).where(PipelineStage.pipeline_id.in_(ids)).order_by(PipelineStage.position)
    ):
        stages[stage.pipeline_id].append(stage)
    jobs = _jobs(session, ids, [s for rows in stages.values() for s in rows])
    return [_out(p, stages[p.id], jobs) for p in pipelines]


def _jobs(session: Session, pipeline_ids: list[str], stages: list[PipelineStage]) -> _Jobs:
    of_pipeline: dict[str, list[str]] = defaultdict(list)
    synthesis = {}
    for job_id, pipeline_id, total, dataset_id in session.execute(
        select(Job.id, Job.pipeline_id, Job.total, Job.dataset_id).where(Job.pipeline_id.in_(pipeline_ids))
    ).all():
        assert pipeline_id is not None
        of_pipeline[pipeline_id].append(job_id)
        synthesis[job_id] = (total, dataset_id)
    training_ids = [s.training_job_id for s in stages if s.training_job_id]
    training = {
        job_id: (step, total_steps, output)
        for job_id, step, total_steps, output in session.execute(
            select(TrainingJob.id, TrainingJob.step, TrainingJob.total_steps, TrainingJob.output_dataset_id).where(
                TrainingJob.id.in_(training_ids)
            )
        ).all()
    }
    return _Jobs(synthesis, training, counters.totals(session, list(synthesis)), of_pipeline)


def _out(pipeline: Pipeline, stages: list[PipelineStage], jobs: _Jobs) -> PipelineOut:
    cost = sum((jobs.counts[j].cost_usd for j in jobs.of_pipeline.get(pipeline.id, [])), Decimal(0))
    current = next((s.name for s in stages if s.status == StageStatus.RUNNING), None)
    return PipelineOut(
        id=pipeline.id,
        name=pipeline.name,
        status=pipeline.status,
        current_stage=current,
        progress=PipelineProgress(stages=len(stages), done=sum(s.status == StageStatus.SUCCEEDED for s in stages)),
        cost_usd=float(cost),
        stages=[_stage(s, jobs) for s in stages],
        error=pipeline.error,
        request_id=pipeline.request_id,
        created_at=pipeline.created_at,
        started_at=pipeline.started_at,
        finished_at=pipeline.finished_at,
    )


def _stage(stage: PipelineStage, jobs: _Jobs) -> StageOut:
    progress, dataset_id = None, None
    if stage.job_id in jobs.synthesis:
        total, dataset_id = jobs.synthesis[stage.job_id]
        progress = StageProgress(unit="items", done=jobs.counts[stage.job_id].completed, total=total)
    elif stage.training_job_id in jobs.training:
        step, total_steps, dataset_id = jobs.training[stage.training_job_id]
        progress = StageProgress(unit="steps", done=step, total=total_steps)
    return StageOut(
        position=stage.position,
        name=stage.name,
        kind=stage.kind,
        status=stage.status,
        job_id=stage.job_id,
        training_job_id=stage.training_job_id,
        dataset_id=dataset_id,
        progress=progress,
        error=stage.error,
        started_at=stage.started_at,
        finished_at=stage.finished_at,
    )
