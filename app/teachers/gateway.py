"""The teacher gateway: the only code that talks to teachers (through the openai SDK).

Per call: cache lookup → budget reservation → bounded, retried request → the reply and
its usage persisted in one transaction before anything else awaits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import openai
from openai import AsyncOpenAI
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential_jitter,
)

from app.db.session import in_transaction
from app.jobs import budget
from app.teachers import cache
from app.teachers.pricing import cost_usd

# Longest we wait on a Retry-After before trying again; providers rarely ask for more.
MAX_RETRY_AFTER_S = 60.0
# How long an item keeps waiting out 429s before it is recorded as failed.
RATE_LIMIT_PATIENCE_S = 600.0


@dataclass(frozen=True)
class TeacherEndpoint:
    id: str
    name: str
    tenant_id: str
    base_url: str
    model: str
    api_key: str | None
    max_concurrency: int
    input_price_per_mtok: Decimal
    output_price_per_mtok: Decimal


@dataclass(frozen=True)
class Completion:
    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    request_hash: str


class TeacherFailed(Exception):
    """The teacher gave no usable reply after all retries; `reason` is recorded."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)  # includes APITimeoutError


def _retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:  # an HTTP date: fall back to backoff
        return None
    return None


class _RetryAfterOrBackoff:
    """Wait at least the server's Retry-After, plus exponential jitter: callers told the
    same Retry-After must not all come back in the same instant."""

    def __init__(self) -> None:
        self._backoff = wait_exponential_jitter(multiplier=0.25, max=20, jitter=1.0)

    def __call__(self, state: RetryCallState) -> float:
        hinted = _retry_after(state.outcome.exception() if state.outcome else None)
        return min(hinted or 0.0, MAX_RETRY_AFTER_S) + self._backoff(state)


class _GiveUp:
    """Stop after `max_attempts` failures; a 429 is pacing, not failure, so rate-limited
    attempts count only once they outlast RATE_LIMIT_PATIENCE_S."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts
        self.rate_limited = 0

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, openai.RateLimitError):
            self.rate_limited += 1
            return state.seconds_since_start > RATE_LIMIT_PATIENCE_S
        return state.attempt_number - self.rate_limited >= self.max_attempts


def _failure(exc: BaseException) -> TeacherFailed:
    if isinstance(exc, openai.APIStatusError):
        # The provider's message, never our request (it may carry the key in headers).
        message = exc.message if isinstance(exc.message, str) else type(exc).__name__
        return TeacherFailed(f"teacher_http_{exc.status_code}", message[:500])
    if isinstance(exc, openai.APITimeoutError):
        return TeacherFailed("teacher_timeout", "the teacher did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return TeacherFailed("teacher_unreachable", "could not connect to the teacher")
    return TeacherFailed("teacher_bad_reply", f"{type(exc).__name__}: {str(exc)[:300]}")


class TeacherGateway:
    """One per (job, teacher, event loop): its client and semaphore belong to that loop."""

    def __init__(self, endpoint: TeacherEndpoint, job_id: str, *, timeout_s: float, max_attempts: int) -> None:
        self.endpoint = endpoint
        self.job_id = job_id
        self.max_attempts = max_attempts
        self._client = AsyncOpenAI(
            base_url=endpoint.base_url,
            # Simulators and local servers need no key; the SDK insists on a value.
            api_key=endpoint.api_key or "no-key",
            max_retries=0,
            timeout=timeout_s,
        )
        self._slots = asyncio.Semaphore(endpoint.max_concurrency)

    async def close(self) -> None:
        await self._client.close()

    async def complete(self, messages: list[dict[str, str]], *, temperature: float, max_tokens: int) -> Completion:
        params = {"temperature": temperature, "max_tokens": max_tokens}
        ep = self.endpoint
        key = cache.request_hash(ep.tenant_id, ep.base_url, ep.model, messages, params)

        hit = await in_transaction(self._take_cached, key)
        if hit is not None:
            return hit
        # The slot is taken before the budget is reserved: a job's budget is checked
        # against what calls in flight have charged, so waiting calls must not pre-pass.
        async with self._slots:
            await in_transaction(budget.reserve_request, self.job_id)
            try:
                response = await self._request(messages, params)
            except BaseException:
                await asyncio.shield(in_transaction(budget.release_request, self.job_id))
                raise
            completion = self._completion(response, key, cached=False)
            await asyncio.shield(in_transaction(self._persist, key, response, completion))
        return completion

    async def _request(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        retrying = AsyncRetrying(
            stop=_GiveUp(self.max_attempts),
            wait=_RetryAfterOrBackoff(),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    reply = await self._client.chat.completions.create(
                        model=self.endpoint.model,
                        messages=messages,  # type: ignore[arg-type]
                        **params,
                    )
        except openai.OpenAIError as exc:
            raise _failure(exc) from None
        if not reply.choices:
            raise TeacherFailed("teacher_bad_reply", "the reply has no choices")
        return reply.model_dump(mode="json")

    def _completion(self, response: dict[str, Any], key: str, *, cached: bool) -> Completion:
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Completion(
            content=(choice.get("message") or {}).get("content") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached=cached,
            request_hash=key,
        )

    def _cost(self, completion: Completion) -> Decimal:
        ep = self.endpoint
        return cost_usd(
            completion.prompt_tokens, completion.completion_tokens, ep.input_price_per_mtok, ep.output_price_per_mtok
        )

    def _take_cached(self, session: Any, key: str) -> Completion | None:
        row = cache.lookup(session, key)
        if row is None:
            return None
        completion = self._completion(row.response, key, cached=True)
        budget.charge(
            session,
            self.job_id,
            self.endpoint.id,
            key,
            cached=True,
            prompt_tokens=0,
            completion_tokens=0,
            cost_usd=Decimal(0),
        )
        return completion

    def _persist(self, session: Any, key: str, response: dict[str, Any], completion: Completion) -> None:
        ep = self.endpoint
        cache.store(
            session, key, ep.tenant_id, ep.model, response, completion.prompt_tokens, completion.completion_tokens
        )
        budget.charge(
            session,
            self.job_id,
            ep.id,
            key,
            cached=False,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost_usd=self._cost(completion),
        )
