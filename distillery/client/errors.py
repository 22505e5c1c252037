"""What the client raises: the server's {"error": {type, message, details}}, kept whole."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base of everything the client raises."""


class ServerUnreachable(ClientError):
    """No HTTP answer at all: wrong URL, server down, network trouble."""


class ApiError(ClientError):
    """The server answered with an error status. `type`, `message` and `details` are its own."""

    def __init__(self, status: int, type_: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {type_}: {message}")
        self.status = status
        self.type = type_
        self.message = message
        self.details = details


class AuthenticationError(ApiError):
    """401: no key, or a key that is unknown or revoked."""


class NotFoundError(ApiError):
    """404: no such resource for this tenant (another tenant's ids are not found either)."""


class InvalidRequestError(ApiError):
    """422: `details` lists {field, problem} for each problem."""


class LocalSpecError(InvalidRequestError):
    """A spec failed the server's own checks on this machine; nothing was sent. Shaped as
    the server's 422 (type `invalid_request`, details {field, problem})."""

    def __init__(self, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(422, "invalid_request", message, details)


class ConflictError(ApiError):
    """409: e.g. cancelling a finished job, or a teacher name already taken."""


class WaitTimeout(ClientError):
    """`wait()` gave up; `last` is the resource as it was last seen."""

    def __init__(self, message: str, last: Any) -> None:
        super().__init__(message)
        self.last = last


_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
}


def from_response(response: httpx.Response) -> ApiError:
    """The error a failed response stands for; bodies that are not ours (a proxy's HTML) still make one."""
    try:
        body = response.json()["error"]
        type_, message, details = str(body["type"]), str(body["message"]), body.get("details")
    except (ValueError, KeyError, TypeError):
        type_, message, details = "http_error", response.text[:500] or response.reason_phrase, None
    return _BY_STATUS.get(response.status_code, ApiError)(response.status_code, type_, message, details)
