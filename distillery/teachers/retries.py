"""Which teacher failures are retried, how long to wait, when to give up, and how a final
failure is named on the record."""

from __future__ import annotations

import random
from collections.abc import Mapping

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from distillery.security.scrub import scrub_excerpt
from distillery.teachers.http import ConnectionFailed, StatusError, TeacherHTTPError, TimedOut

# Longest we honour a Retry-After before trying again; providers rarely ask for more.
MAX_RETRY_AFTER_S = 60.0
# How long an item keeps waiting out 429s before it is recorded as failed.
RATE_LIMIT_PATIENCE_S = 600.0
# The most of a teacher's error message a tenant sees (in records, job errors, events).
EXCERPT_CHARS = 200


class TeacherFailed(Exception):
    """The teacher gave no usable reply after all retries; `reason` is recorded."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def rate_limited(exc: BaseException | None) -> bool:
    return isinstance(exc, StatusError) and exc.status == 429


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, StatusError):
        return exc.status in (408, 409, 429) or exc.status >= 500
    # The guard's verdict does not change on a retry.
    return isinstance(exc, TimedOut) or (isinstance(exc, ConnectionFailed) and exc.refused is None)


def retry_after(exc: BaseException | None) -> float | None:
    return retry_after_from(exc.headers) if isinstance(exc, StatusError) else None


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:  # an HTTP date: fall back to backoff
        return None
    return None


class Wait:
    """A 429's Retry-After is enforced for every worker by the shared limiter, so here
    it needs only a little jitter; other failures back off exponentially, with the
    server's Retry-After (e.g. on a 503) as a floor."""

    def __init__(self) -> None:
        # A lone 5xx is usually gone at once (0.1 s, then doubling): the shared limiter keeps
        # retries from storming, and a teacher that stays down opens its circuit instead.
        self._backoff = wait_exponential_jitter(multiplier=0.1, max=20, jitter=0.1)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if rate_limited(exc):
            return random.uniform(0, 0.05)
        return min(retry_after(exc) or 0.0, MAX_RETRY_AFTER_S) + self._backoff(state)


class GiveUp:
    """Stop after `max_attempts` failures; a 429 is pacing, not failure, so rate-limited
    attempts count only once they outlast RATE_LIMIT_PATIENCE_S; an attempt excused
    (made while the teacher was down, see circuit.py) does not count at all."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts
        self.rate_limited = 0
        self.excused = 0

    def excuse(self) -> None:
        self.excused += 1

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if rate_limited(exc):
            self.rate_limited += 1
            return (state.seconds_since_start or 0.0) > RATE_LIMIT_PATIENCE_S
        return state.attempt_number - self.rate_limited - self.excused >= self.max_attempts


def policy(give_up: GiveUp | int) -> AsyncRetrying:
    """The retry policy of every teacher API call (fresh per call: GiveUp counts)."""
    stop = give_up if isinstance(give_up, GiveUp) else GiveUp(give_up)
    return AsyncRetrying(stop=stop, wait=Wait(), retry=retry_if_exception(retryable), reraise=True)


def outcome(exc: BaseException | None) -> str:
    """How a call ended, as /metrics counts it."""
    if exc is None:
        return "ok"
    if rate_limited(exc):
        return "rate_limited"
    if isinstance(exc, StatusError):
        return "server_error" if exc.status >= 500 else "client_error"
    if isinstance(exc, TimedOut):
        return "timeout"
    return "connection_error"


def as_failure(exc: TeacherHTTPError) -> TeacherFailed:
    if isinstance(exc, StatusError):
        # The provider's message, never our request (its headers carry the key); only a short,
        # scrubbed excerpt: the body may be an internal service's page, or quote the key.
        return TeacherFailed(f"teacher_http_{exc.status}", scrub_excerpt(exc.message, EXCERPT_CHARS))
    if isinstance(exc, TimedOut):
        return TeacherFailed("teacher_timeout", "the teacher did not answer in time")
    if isinstance(exc, ConnectionFailed) and exc.refused is not None:
        return TeacherFailed("teacher_address_refused", scrub_excerpt(exc.refused, EXCERPT_CHARS))
    return TeacherFailed("teacher_unreachable", "could not connect to the teacher")
