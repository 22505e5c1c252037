"""The FastAPI app factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool

from distillery.api import errors, request_ids
from distillery.api.body_limit import MIB, BodyLimit
from distillery.api.routes import datasets, health, jobs, metrics, pipelines, teachers, training_jobs
from distillery.observability.http_metrics import HttpMetrics
from distillery.queue import warm_up
from distillery.security.scrub import install_log_filter
from distillery.settings import get_settings
from distillery.ui import install as install_dashboard


def tune_gc() -> None:
    """A streamed export makes a few containers per record; at CPython's default thresholds
    the cyclic collector then runs thousands of times, its older passes walking every object
    the app loaded at start-up. Those live as long as the process: freeze them, and collect
    the young generation less often (bench/curation.py: exports about 1.6x faster)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    await run_in_threadpool(warm_up)
    tune_gc()
    yield


def _document_bodies(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Add to the OpenAPI document's components the bodies that routes read themselves
    (JSON or YAML), which FastAPI does not see."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            _, schemas = models_json_schema(
                [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
            )
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas.get("$defs", {}))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def create_app() -> FastAPI:
    install_log_filter()
    settings = get_settings()
    app = FastAPI(
        title="Distillery",
        version="0.1.0",
        description="Black-box knowledge distillation of LLMs: teacher-driven data synthesis, curation and datasets.",
        lifespan=_lifespan,
    )
    errors.install(app)
    for module in (health, metrics, teachers, jobs, datasets, training_jobs, pipelines):
        app.include_router(module.router)
    _document_bodies(app, pipelines.BODY_MODELS)
    # Uploads (seeds, eval sets) have their own, larger limit.
    uploads = {str(app.url_path_for("upload_dataset")): settings.max_upload_mb * MIB}
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_mb * MIB, per_path=uploads)
    # Inside the dashboard's bridge, which hands its /ui/api calls to the /v1 routes in a
    # scope of their own: counted under the /v1 route that answered them.
    app.add_middleware(HttpMetrics)
    install_dashboard(app)
    request_ids.install(app)
    return app
