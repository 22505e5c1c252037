"""One router per resource."""

from __future__ import annotations

from typing import Any

from distillery.schemas.base import ErrorResponse

_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def errors(*statuses: int, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer.

    Every route can answer 401 (no valid key), 422 (invalid parameters), 429 (the tenant's
    request rate) and 503 (the database is busy); one that reads a body also 400 (a body
    that cannot be parsed) and 413 (over the size limit).
    """
    common = (401, 422, 429, 503, *((400, 413) if body else ()))
    entries: dict[int | str, dict[str, Any]] = {status: {"model": ErrorResponse} for status in (*common, *statuses)}
    for status in (429, 503):
        entries[status]["headers"] = _RETRY_AFTER
    return entries
