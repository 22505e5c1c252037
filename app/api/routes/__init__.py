"""One router per resource."""

from __future__ import annotations

from typing import Any

from app.schemas.base import ErrorResponse


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {status: {"model": ErrorResponse} for status in (401, 422, *statuses)}
