from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from distillery.api.deps import Limit, Offset, ResourceId, Tenant
from distillery.api.routes import errors
from distillery.db.session import unit_of_work
from distillery.observability.log_context import current_request_id
from distillery.queue import ADVANCE_PIPELINE, JUDGE_TRAINING, RUN_TRAINING_JOB, TRAINING, enqueue
from distillery.schemas.base import Page
from distillery.schemas.status import JobStatus
from distillery.schemas.training import ArtifactOut, StepMetricOut, TrainingEventOut, TrainingJobCreate, TrainingJobOut
from distillery.settings import get_settings
from distillery.training import artifacts, lifecycle, queries

router = APIRouter(prefix="/v1/training-jobs", tags=["training"])


@router.post("", status_code=202, response_model=TrainingJobOut, responses=errors(body=True))
def create_training_job(body: TrainingJobCreate, tenant: Tenant) -> TrainingJobOut:
    settings = get_settings()
    with unit_of_work() as session:
        job = queries.to_out(
            lifecycle.create(
                session,
                tenant,
                body,
                hub_cache=settings.resolved_hf_hub_cache,
                model_dirs=settings.model_dirs,
                request_id=current_request_id(),
            )
        )
    enqueue(RUN_TRAINING_JOB, job.id, queue=TRAINING)
    return job


@router.get("", response_model=Page[TrainingJobOut], responses=errors())
def list_training_jobs(tenant: Tenant, limit: Limit = 50, offset: Offset = 0) -> Page[TrainingJobOut]:
    with unit_of_work() as session:
        return Page.of(queries.list_all(session, tenant, limit, offset), limit, offset)


@router.get("/{job_id}", response_model=TrainingJobOut, responses=errors(404))
def get_training_job(job_id: ResourceId, tenant: Tenant) -> TrainingJobOut:
    with unit_of_work() as session:
        return queries.get(session, tenant, job_id)


@router.post("/{job_id}/cancel", response_model=TrainingJobOut, responses=errors(404, 409))
def cancel_training_job(job_id: ResourceId, tenant: Tenant) -> TrainingJobOut:
    """A queued job is cancelled at once; a running one stops at its next step and keeps
    the model as trained so far."""
    with unit_of_work() as session:
        job = lifecycle.cancel(session, tenant, job_id)
        judging, out = job.judging_since is not None, queries.to_out(job)
        pipeline_id = job.pipeline_id if job.status == JobStatus.CANCELLED else None
    if judging:  # no training worker holds it: the synthesis side stops its judge step
        enqueue(JUDGE_TRAINING, job_id)
    if pipeline_id is not None:  # cancelled before it started: its pipeline fails now
        enqueue(ADVANCE_PIPELINE, pipeline_id)
    return out


@router.get("/{job_id}/events", response_model=Page[TrainingEventOut], responses=errors(404))
def training_job_events(
    job_id: ResourceId, tenant: Tenant, limit: Limit = 100, offset: Offset = 0
) -> Page[TrainingEventOut]:
    with unit_of_work() as session:
        return Page.of(queries.events(session, tenant, job_id, limit, offset), limit, offset)


@router.get("/{job_id}/metrics", response_model=Page[StepMetricOut], responses=errors(404))
def training_job_metrics(
    job_id: ResourceId,
    tenant: Tenant,
    since_step: Annotated[int, Query(ge=0, le=2**31 - 1, description="only steps from this one on")] = 0,
    limit: Limit = 500,
    offset: Offset = 0,
) -> Page[StepMetricOut]:
    """Step metrics in step order; `since_step` follows a running job."""
    with unit_of_work() as session:
        return Page.of(queries.step_metrics(session, tenant, job_id, since_step, limit, offset), limit, offset)


@router.get("/{job_id}/artifacts", response_model=Page[ArtifactOut], responses=errors(404))
def training_job_artifacts(job_id: ResourceId, tenant: Tenant) -> Page[ArtifactOut]:
    """The adapter (or full model), its tokenizer and run_card.json, once saved."""
    with unit_of_work() as session:
        return Page(data=artifacts.listing(session, tenant, job_id))


@router.get(
    "/{job_id}/artifacts/download",
    response_class=StreamingResponse,
    responses={**errors(404, 409), 200: {"content": {"application/x-tar": {}}}},
)
def download_training_artifacts(job_id: ResourceId, tenant: Tenant) -> StreamingResponse:
    with unit_of_work() as session:
        uri = artifacts.published(session, tenant, job_id)
    return StreamingResponse(
        artifacts.tar_stream(uri, prefix=job_id),
        media_type="application/x-tar",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.tar"'},
    )
