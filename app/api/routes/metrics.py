"""Prometheus scrape endpoint.

No authentication, by design: operators scrape it from the internal network. It exposes
ids, teacher names, counts and states, never keys, secrets or URLs; keep it off the
public ingress all the same.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from app.observability.collector import build_registry

router = APIRouter(tags=["metrics"])


@lru_cache
def _registry() -> CollectorRegistry:
    return build_registry()


# A sync route: FastAPI runs it on a worker thread, so the scrape's database and broker
# reads stay off the event loop.
@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return Response(content=generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
