"""Prometheus scrape endpoint.

With DISTILLERY_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>` and
gets the per-teacher series (teacher ids and names); without it, anyone who reaches the
endpoint gets only figures that name no tenant: teacher series summed over all teachers,
jobs, work items and queues by state, and the API's HTTP requests by route template
(every API process's, with `serve --workers N`). Never keys, secrets or URLs. Keep it off
the public ingress all the same.
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from distillery.errors import Unauthenticated
from distillery.observability.collector import build_registry
from distillery.settings import get_settings

router = APIRouter(tags=["metrics"])


@lru_cache
def _registry(per_teacher: bool) -> CollectorRegistry:
    return build_registry(per_teacher=per_teacher)


def _scraper_is_operator(authorization: str | None) -> bool:
    """False without a configured token; Unauthenticated when one is configured and the
    scrape does not send it."""
    token = get_settings().metrics_token
    expected = token.get_secret_value() if token is not None else ""
    if not expected:
        return False
    scheme, _, sent = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(), expected.encode()):
        raise Unauthenticated("/metrics needs 'Authorization: Bearer <DISTILLERY_METRICS_TOKEN>'")
    return True


# A sync route: FastAPI runs it on a worker thread, so the scrape's database and broker
# reads stay off the event loop.
@router.get("/metrics", include_in_schema=False)
def metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
    registry = _registry(_scraper_is_operator(authorization))
    return Response(content=generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
