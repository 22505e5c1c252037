"""The domain error tree. Names say the condition; api/errors.py maps them to HTTP."""

from __future__ import annotations

import math
from typing import Any


class DistilleryError(Exception):
    """Base of every error a client may see; `status` is the HTTP status it maps to."""

    status = 400
    type = "bad_request"
    # Seconds a client should wait before trying again (the Retry-After header), if any.
    retry_after_s: int | None = None

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


class RateLimited(DistilleryError):
    """The tenant sent more requests than its rate (DISTILLERY_TENANT_RPS) allows."""

    status = 429
    type = "rate_limited"

    def __init__(self, rate_per_s: float, retry_after_s: float) -> None:
        super().__init__(f"over this tenant's limit of {rate_per_s:g} requests per second; retry shortly")
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class TooManyActiveJobs(DistilleryError):
    """The tenant has as many synthesis jobs queued or running as it may."""

    status = 429
    type = "too_many_active_jobs"
    # Jobs take minutes: a client that waits a while finds one finished.
    retry_after_s = 30

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this tenant already has {limit} jobs queued or running, its limit; wait for one to finish or cancel one"
        )


class DatabaseBusy(DistilleryError):
    status = 503
    type = "database_busy"
    retry_after_s = 1


class BudgetExhausted(Exception):
    """Raised inside a job when its budget may pay for no more teacher calls."""


class JobClosed(Exception):
    """Raised inside a job when it was cancelled, failed or stopped meanwhile: the call is
    not sent. Not a budget stop: a retry may have reopened the job since."""


class TeacherRefused(Exception):
    """Raised inside a job when its teacher refuses every call (a wrong key, no access, an
    unknown model: HTTP 401, 403, 404): the job stops with the reason."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class InvalidUpload(DistilleryError):
    """An uploaded file with bad lines: each named by number, nothing imported."""

    status = 422
    type = "invalid_upload"


class UploadTooLarge(DistilleryError):
    """An uploaded file that, decompressed, is over the upload limit (a gzip bomb, say)."""

    status = 413
    type = "payload_too_large"
