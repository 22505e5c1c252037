"""Every request gets a request id: the caller's `X-Request-ID` when it is a sane token,
else a new one. It is answered in the `X-Request-ID` response header, carried by every log
line made while the request is served, and stored on the jobs, training jobs and pipelines
the request creates, whose workers' log lines carry it in turn.

The middleware wraps the whole app, outside Starlette's ServerErrorMiddleware (see
`install`): a request that fails with a 500 gets the header too, and the log line of its
traceback the id.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from distillery.observability.log_context import REQUEST_ID_HEADER, bound, request_id_from


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope).get(REQUEST_ID_HEADER))

        async def answered(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with bound(request_id=request_id):
            await self.app(scope, receive, answered)


def install(app: FastAPI) -> None:
    """Wrap the app's whole middleware stack, ServerErrorMiddleware included (middleware
    added with `add_middleware` runs inside it, and would miss the 500s)."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestIds(build())  # type: ignore[method-assign]
