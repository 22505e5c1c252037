"""The teacher gateway: the only code that talks to teachers (through the openai SDK).

Per call: cache lookup → budget reservation → a slot of the teacher's shared schedule →
the request, retried → the reply and its usage persisted in one transaction before
anything else awaits.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import certifi
import httpx
import openai
from openai import AsyncOpenAI
from tenacity import AsyncRetrying, retry_if_exception

from app.db.batching import TransactionBatcher
from app.jobs import budget
from app.teachers import cache
from app.teachers.limiter import Limits, make_limiter
from app.teachers.pricing import cost_usd
from app.teachers.retries import GiveUp, TeacherFailed, Wait, as_failure, retry_after, retryable

# Rough tokens per character, for the pre-call estimate the TPM schedule needs.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class TeacherEndpoint:
    id: str
    name: str
    tenant_id: str
    base_url: str
    model: str
    api_key: str | None
    max_concurrency: int
    rpm: int | None
    tpm: int | None
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


@lru_cache
def _tls() -> ssl.SSLContext:
    # One per process: building it loads the CA bundle, which costs milliseconds per client.
    return ssl.create_default_context(cafile=certifi.where())


def _header_limit(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(f"x-ratelimit-limit-{name}")
    return int(value) if value and value.isdigit() and int(value) > 0 else None


class TeacherGateway:
    """One per (job, teacher, event loop): its client, semaphore and batcher belong to
    that loop.

    `on_throttle(message)` is awaited when a 429 made the shared schedule slow down.
    """

    def __init__(
        self,
        endpoint: TeacherEndpoint,
        job_id: str,
        db: TransactionBatcher,
        *,
        timeout_s: float,
        max_attempts: int,
        redis_url: str | None,
        on_throttle: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.job_id = job_id
        self._db = db
        self.max_attempts = max_attempts
        self._client = AsyncOpenAI(
            base_url=endpoint.base_url,
            # Simulators and local servers need no key; the SDK insists on a value.
            api_key=endpoint.api_key or "no-key",
            max_retries=0,
            timeout=timeout_s,
            http_client=openai.DefaultAsyncHttpxClient(verify=_tls()),
        )
        self._slots = asyncio.Semaphore(endpoint.max_concurrency)
        self._limiter = make_limiter(redis_url, endpoint.id, Limits(endpoint.rpm, endpoint.tpm))
        self._on_throttle = on_throttle

    async def close(self) -> None:
        await self._client.close()
        await self._limiter.close()

    async def complete(self, messages: list[dict[str, str]], *, temperature: float, max_tokens: int) -> Completion:
        params = {"temperature": temperature, "max_tokens": max_tokens}
        ep = self.endpoint
        key = cache.request_hash(ep.tenant_id, ep.base_url, ep.model, messages, params)

        hit = await self._db.run(self._take_cached, key)
        if hit is not None:
            return hit
        # The slot is taken before the budget is reserved: a job's budget is checked
        # against what calls in flight have charged, so waiting calls must not pre-pass.
        async with self._slots:
            await self._db.run(budget.reserve_request, self.job_id)
            try:
                response = await self._request(messages, params)
            except BaseException:
                await self._db.run(budget.release_request, self.job_id)
                raise
            completion = self._completion(response, key, cached=False)
            await self._db.run(self._persist, key, response, completion)
        return completion

    async def _request(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        estimate = sum(len(m["content"]) for m in messages) // CHARS_PER_TOKEN + params["max_tokens"]
        retrying = AsyncRetrying(
            stop=GiveUp(self.max_attempts), wait=Wait(), retry=retry_if_exception(retryable), reraise=True
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._limiter.acquire(estimate)
                    try:
                        raw = await self._client.chat.completions.with_raw_response.create(
                            model=self.endpoint.model,
                            messages=messages,  # type: ignore[arg-type]
                            **params,
                        )
                    except openai.RateLimitError as exc:
                        await self._throttled(retry_after(exc))
                        raise
        except openai.OpenAIError as exc:
            raise as_failure(exc) from None
        reply = raw.parse()
        if not reply.choices:
            raise TeacherFailed("teacher_bad_reply", "the reply has no choices")
        used = reply.usage.total_tokens if reply.usage else estimate
        learned = Limits(_header_limit(raw.headers, "requests"), _header_limit(raw.headers, "tokens"))
        await self._limiter.succeeded(estimate - used, learned)
        return reply.model_dump(mode="json")

    async def _throttled(self, retry_after_s: float | None) -> None:
        factor = await self._limiter.rate_limited(retry_after_s)
        if factor is None or self._on_throttle is None:
            return
        ep = self.endpoint
        pace = f"{factor * ep.rpm:.0f} rpm" if ep.rpm else f"{factor:.0%} of its limit"
        wait = f", waiting {retry_after_s:.1f}s as asked" if retry_after_s else ""
        await self._on_throttle(f"rate limited by teacher '{ep.name}'{wait}; pacing at {pace}")

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
