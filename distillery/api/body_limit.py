"""Request body size limits, as ASGI middleware: a body over its route's limit is a 413.

A declared Content-Length over the limit is answered at once, before the body is read; a
streamed (chunked) body is counted as it arrives and refused once it passes the limit, so
no body is ever buffered beyond it.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distillery.api.errors import error_response

MIB = 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised from `receive` while a route reads its body. An HTTPException, because
    FastAPI turns any other error raised while it reads a body into a 400; the one error
    mapper (distillery/api/errors.py) answers it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _message(limit))


def _message(limit: int) -> str:
    return f"the request body is over this server's limit of {limit // MIB} MB"


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await error_response(413, "payload_too_large", _message(limit))(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
