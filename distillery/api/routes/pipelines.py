from __future__ import annotations

from fastapi import APIRouter

from distillery.api.deps import Limit, Offset, ResourceId, Tenant
from distillery.api.routes import errors
from distillery.api.spec_body import RawBody, openapi, parse
from distillery.db.session import unit_of_work
from distillery.observability.log_context import current_request_id
from distillery.pipelines import lifecycle, preflight, queries, report
from distillery.pipelines.stages import Runtime
from distillery.prompts.render import check_overrides
from distillery.queue import ADVANCE_PIPELINE, enqueue, send
from distillery.schemas.base import Page
from distillery.schemas.jobs import JobCreate
from distillery.schemas.pipeline_reports import PipelineReport
from distillery.schemas.pipelines import PipelineCreate, PipelineEventOut, PipelineOut
from distillery.settings import get_settings

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])
# The body's schema, which no parameter declares (the route reads JSON or YAML itself).
BODY_MODELS = [PipelineCreate]


@router.post(
    "", status_code=202, response_model=PipelineOut, responses=errors(body=True), openapi_extra=openapi(PipelineCreate)
)
def create_pipeline(tenant: Tenant, raw: RawBody) -> PipelineOut:
    """A distillation run: its stages run one after another, each an ordinary job. The
    body is JSON or YAML (Content-Type application/yaml)."""
    body = parse(raw, PipelineCreate)
    for n, spec in enumerate(body.bodies()):
        if isinstance(spec, JobCreate) and spec.templates:
            with preflight.within(n):
                check_overrides(spec.templates, spec.template_contexts())
    with unit_of_work() as session:
        created = lifecycle.create(session, tenant, body, Runtime.of(get_settings()), request_id=current_request_id())
        out = queries.to_out(session, created)
    enqueue(ADVANCE_PIPELINE, out.id)
    return out


@router.get("", response_model=Page[PipelineOut], responses=errors())
def list_pipelines(tenant: Tenant, limit: Limit = 50, offset: Offset = 0) -> Page[PipelineOut]:
    with unit_of_work() as session:
        return Page.of(queries.list_all(session, tenant, limit, offset), limit, offset)


@router.get("/{pipeline_id}", response_model=PipelineOut, responses=errors(404))
def get_pipeline(pipeline_id: ResourceId, tenant: Tenant) -> PipelineOut:
    with unit_of_work() as session:
        return queries.get(session, tenant, pipeline_id)


@router.get("/{pipeline_id}/events", response_model=Page[PipelineEventOut], responses=errors(404))
def pipeline_events(
    pipeline_id: ResourceId, tenant: Tenant, limit: Limit = 100, offset: Offset = 0
) -> Page[PipelineEventOut]:
    with unit_of_work() as session:
        return Page.of(queries.events(session, tenant, pipeline_id, limit, offset), limit, offset)


@router.post("/{pipeline_id}/cancel", response_model=PipelineOut, responses=errors(404, 409))
def cancel_pipeline(pipeline_id: ResourceId, tenant: Tenant) -> PipelineOut:
    """Cancel the running stage's job and the stages still to come."""
    with unit_of_work() as session:
        pipeline, messages = lifecycle.cancel(session, tenant, pipeline_id)
        out = queries.to_out(session, pipeline)
    send(messages)
    return out


@router.post("/{pipeline_id}/retry", status_code=202, response_model=PipelineOut, responses=errors(404, 409))
def retry_pipeline(pipeline_id: ResourceId, tenant: Tenant) -> PipelineOut:
    """Run a failed or cancelled pipeline on from the stage that did not finish."""
    with unit_of_work() as session:
        pipeline, messages = lifecycle.retry(session, tenant, pipeline_id, Runtime.of(get_settings()))
        out = queries.to_out(session, pipeline)
    send(messages)
    return out


@router.get("/{pipeline_id}/report", response_model=PipelineReport, responses=errors(404))
def pipeline_report(pipeline_id: ResourceId, tenant: Tenant) -> PipelineReport:
    """Per stage: records kept and rejected, teacher cost, training, and the student against
    the teacher on the gold set."""
    with unit_of_work() as session:
        return report.report(session, tenant, pipeline_id)
