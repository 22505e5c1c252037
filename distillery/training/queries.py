"""Reading training jobs, their events and step metrics, always through the tenant's scope."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from distillery.db.models import TrainingEvent, TrainingJob, TrainingMetric
from distillery.db.scoping import get_owned, owned_by
from distillery.schemas.training import StepMetricOut, TrainingEventOut, TrainingJobOut, TrainingProgress


def to_out(job: TrainingJob) -> TrainingJobOut:
    return TrainingJobOut(
        id=job.id,
        dataset_id=job.dataset_id,
        method=job.method,
        base_model=job.base_model,
        student=job.student_job_id,
        # A generate job keeps its sampling in the hyperparameters column; shown as `generate`.
        hyperparameters={} if job.method == "generate" else job.hyperparameters,
        lora=job.lora,
        eval_split=job.eval_split,
        evaluate=job.evaluate,
        generate=job.hyperparameters if job.method == "generate" else None,
        output_dataset_id=job.output_dataset_id,
        status=job.status,
        cancel_requested=job.cancel_requested,
        progress=TrainingProgress(step=job.step, total_steps=job.total_steps),
        metrics=job.metrics,
        error=job.error,
        request_id=job.request_id,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def get(session: Session, tenant_id: str, job_id: str) -> TrainingJobOut:
    return to_out(get_owned(session, TrainingJob, tenant_id, job_id, "training job"))


def list_all(session: Session, tenant_id: str, limit: int, offset: int) -> list[TrainingJobOut]:
    stmt = owned_by(TrainingJob, tenant_id).order_by(TrainingJob.created_at.desc(), TrainingJob.id)
    return [to_out(job) for job in session.scalars(stmt.limit(limit).offset(offset))]


def events(session: Session, tenant_id: str, job_id: str, limit: int, offset: int) -> list[TrainingEventOut]:
    get_owned(session, TrainingJob, tenant_id, job_id, "training job")
    stmt = (
        select(TrainingEvent)
        .where(TrainingEvent.training_job_id == job_id)
        .order_by(TrainingEvent.id)
        .limit(limit)
        .offset(offset)
    )
    return [TrainingEventOut.model_validate(event) for event in session.scalars(stmt)]


def step_metrics(
    session: Session, tenant_id: str, job_id: str, since_step: int, limit: int, offset: int
) -> list[StepMetricOut]:
    get_owned(session, TrainingJob, tenant_id, job_id, "training job")
    stmt = (
        select(TrainingMetric)
        .where(TrainingMetric.training_job_id == job_id, TrainingMetric.step >= since_step)
        .order_by(TrainingMetric.step)
        .limit(limit)
        .offset(offset)
    )
    return [StepMetricOut.model_validate(metric) for metric in session.scalars(stmt)]
