"""The API's own request metrics, counted in this process by an ASGI middleware and read
by /metrics with the rest: requests by method, route template and status code, and their
durations by method and route template.

With several API processes (`distillery serve --workers N`), each writes its counts to
files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, set by `serve`
before the processes start) and any of them answers a scrape with the sum of all.

Labels are bounded: the route is the template (`/v1/jobs/{job_id}`), never the raw path
(one series per job id would grow without end); a request no route matched is `unmatched`,
an unusual method `other`. /metrics itself is not counted.
"""

from __future__ import annotations

import os
import time

from prometheus_client import Counter, Histogram
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
NOT_COUNTED = frozenset({"/metrics"})
# From a cached GET (a few ms) to a large streamed export (minutes).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# registry=None: /metrics' own registries read them (distillery/observability/collector.py),
# directly or, in multiprocess mode, from every process's files.
REQUESTS = Counter(
    "distillery_http_requests",
    "HTTP requests answered by the API, by method, route template and status code.",
    ["method", "route", "status"],
    registry=None,
)
DURATION = Histogram(
    "distillery_http_request_duration_seconds",
    "Time the API took to answer a request, to the end of its body, by method and route template.",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
    registry=None,
)
COLLECTORS: tuple[Collector, ...] = (REQUESTS, DURATION)
# prometheus-client reads it when it is imported: set before the API's processes start.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def shared_between_processes() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR))


def route_of(scope: Scope) -> str:
    """The template of the route that served the request (the router records it in the
    scope), else `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped the app

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            route = route_of(scope)
            if route not in NOT_COUNTED:
                method = scope["method"] if scope["method"] in METHODS else "other"
                REQUESTS.labels(method, route, str(status)).inc()
                DURATION.labels(method, route).observe(time.perf_counter() - started)
