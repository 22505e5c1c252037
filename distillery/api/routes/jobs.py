from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from distillery.api.deps import NUL_FREE, Limit, Offset, ResourceId, Tenant
from distillery.api.routes import errors
from distillery.db.session import unit_of_work
from distillery.jobs import lifecycle, queries
from distillery.jobs.preview import preview
from distillery.observability.log_context import current_request_id
from distillery.prompts.render import check_overrides
from distillery.queue import ADVANCE_PIPELINE, FINALIZE_JOB, PLAN_JOB, RUN_CHUNK, enqueue
from distillery.schemas.base import Page
from distillery.schemas.jobs import EventOut, JobCreate, JobOut, JobRetry, RecordOut
from distillery.schemas.previews import JobPreview
from distillery.settings import get_settings

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


_DRY_RUN: dict[int | str, dict[str, Any]] = {
    200: {"model": JobPreview, "description": "dry_run=true: what the job would send and spend"}
}


@router.post("", status_code=202, response_model=JobOut, responses={**errors(body=True), **_DRY_RUN})
def create_job(
    body: JobCreate,
    tenant: Tenant,
    dry_run: Annotated[
        bool, Query(description="check and price the job, showing its first prompts; nothing is created or sent")
    ] = False,
) -> JobOut | JSONResponse:
    # Here, in FastAPI's threadpool, not in a validator: bodies are validated on the loop.
    check_overrides(body.templates or {}, body.template_contexts())
    max_active = get_settings().tenant_max_active_jobs
    if dry_run:
        with unit_of_work() as session:
            shown = preview(session, tenant, body, max_active=max_active)
        return JSONResponse(shown.model_dump(mode="json"))
    with unit_of_work() as session:
        created = lifecycle.create(session, tenant, body, max_active=max_active, request_id=current_request_id())
        job = queries.to_out(session, created)
    enqueue(PLAN_JOB, job.id)
    return job


@router.get("", response_model=Page[JobOut], responses=errors())
def list_jobs(tenant: Tenant, limit: Limit = 50, offset: Offset = 0) -> Page[JobOut]:
    with unit_of_work() as session:
        return Page.of(queries.list_all(session, tenant, limit, offset), limit, offset)


@router.get("/{job_id}", response_model=JobOut, responses=errors(404))
def get_job(job_id: ResourceId, tenant: Tenant) -> JobOut:
    with unit_of_work() as session:
        return queries.get(session, tenant, job_id)


@router.post("/{job_id}/cancel", response_model=JobOut, responses=errors(404, 409))
def cancel_job(job_id: ResourceId, tenant: Tenant) -> JobOut:
    with unit_of_work() as session:
        job = lifecycle.cancel(session, tenant, job_id)
        pipeline_id, out = job.pipeline_id, queries.to_out(session, job)
    if pipeline_id is not None:  # a stage of a pipeline, which now fails
        enqueue(ADVANCE_PIPELINE, pipeline_id)
    return out


@router.post("/{job_id}/retry", status_code=202, response_model=JobOut, responses=errors(404, 409, body=True))
def retry_job(job_id: ResourceId, tenant: Tenant, body: JobRetry | None = None) -> JobOut:
    """Run the job's failed and skipped items again; replies already paid for come from the cache."""
    settings = get_settings()
    with unit_of_work() as session:
        job, chunks = lifecycle.retry(
            session,
            tenant,
            job_id,
            body.budget if body else None,
            chunk_size=settings.chunk_size,
            lease_s=settings.lease_seconds,
        )
        out = queries.to_out(session, job)
    for chunk in chunks:
        enqueue(RUN_CHUNK, job_id, chunk)
    if not chunks:
        enqueue(FINALIZE_JOB, job_id)
    return out


@router.get("/{job_id}/events", response_model=Page[EventOut], responses=errors(404))
def job_events(job_id: ResourceId, tenant: Tenant, limit: Limit = 100, offset: Offset = 0) -> Page[EventOut]:
    with unit_of_work() as session:
        return Page.of(queries.events(session, tenant, job_id, limit, offset), limit, offset)


@router.get("/{job_id}/records", response_model=Page[RecordOut], responses=errors(404))
def job_records(
    job_id: ResourceId,
    tenant: Tenant,
    status: Literal["accepted", "rejected", "failed"] | None = None,
    reason: Annotated[str | None, Query(max_length=200, pattern=NUL_FREE, description="a reject reason")] = None,
    q: Annotated[
        str | None, Query(max_length=500, pattern=NUL_FREE, description="text the record contains (any case)")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[RecordOut]:
    where = queries.RecordFilter(status=status, reason=reason, text=q)
    with unit_of_work() as session:
        return Page.of(queries.records(session, tenant, job_id, where, limit, offset), limit, offset)
