"""The domain error tree. Names say the condition; api/errors.py maps them to HTTP."""

from __future__ import annotations

from typing import Any


class DistilleryError(Exception):
    """Base of every error a client may see; `status` is the HTTP status it maps to."""

    status = 400
    type = "bad_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DistilleryError):
    status = 404
    type = "not_found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} '{ident}' not found")


class Unauthenticated(DistilleryError):
    status = 401
    type = "unauthenticated"


class InvalidSpec(DistilleryError):
    """Input that parsed but is wrong in context (e.g. names a teacher that does not exist)."""

    status = 422
    type = "invalid_request"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", [{"field": field, "problem": problem}])


class Conflict(DistilleryError):
    status = 409
    type = "conflict"


class DatabaseBusy(DistilleryError):
    status = 503
    type = "database_busy"


class BudgetExhausted(Exception):
    """Raised inside a job when it may pay for no more teacher calls: its budget is spent,
    or it was cancelled or stopped meanwhile."""


class InvalidUpload(DistilleryError):
    """An uploaded file with bad lines: each named by number, nothing imported."""

    status = 422
    type = "invalid_upload"


class PayloadTooLarge(DistilleryError):
    status = 413
    type = "payload_too_large"
