"""The teacher gateway: the only code that talks to teachers (through the openai SDK).

Per call: cache lookup → budget reservation → a slot of the teacher's shared schedule →
the request, retried → the reply and its usage persisted in one transaction before
anything else awaits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx
import openai
from sqlalchemy.orm import Session

from app.db.batching import TransactionBatcher
from app.errors import BudgetExhausted
from app.jobs import budget
from app.observability import teacher_metrics
from app.teachers import cache, clients
from app.teachers.limiter import Limits, make_limiter
from app.teachers.pricing import cost_usd
from app.teachers.retries import TeacherFailed, as_failure, outcome, policy, retry_after

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
    batch_price_factor: Decimal = Decimal(1)
    structured_outputs: bool = False


@dataclass(frozen=True)
class Call:
    """One chat request, and the hash it is cached and deduplicated by."""

    messages: list[dict[str, str]]
    params: dict[str, Any]
    key: str


@dataclass(frozen=True)
class Completion:
    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    request_hash: str


class Teacher(Protocol):
    """What methods call: the online gateway, or the batch gateway over it."""

    endpoint: TeacherEndpoint

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> Completion: ...


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
        data_dir: Path,
        on_throttle: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.job_id = job_id
        self._db = db
        self.max_attempts = max_attempts
        self.client = clients.openai_client(endpoint.base_url, endpoint.api_key, timeout_s)
        self._slots = asyncio.Semaphore(endpoint.max_concurrency)
        self._limiter = make_limiter(redis_url, data_dir, endpoint.id, Limits(endpoint.rpm, endpoint.tpm))
        self._on_throttle = on_throttle

    def call(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> Call:
        params: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        # Only when set, so the cache keys of plain requests stay what they were. The seed
        # tells samples of one prompt apart (self-consistency): each is its own request.
        if seed is not None:
            params["seed"] = seed
        if response_format is not None:
            params["response_format"] = response_format
        ep = self.endpoint
        return Call(messages, params, cache.request_hash(ep.tenant_id, ep.base_url, ep.model, messages, params))

    async def complete(self, messages: list[dict[str, str]], **params: Any) -> Completion:
        call = self.call(messages, **params)
        return await self.cached(call) or await self.online(call)

    async def cached(self, call: Call) -> Completion | None:
        """The cached reply to `call` (charged to the job as a free, cached request)."""
        return await self._db.each(self._take_cached, call.key)

    async def online(self, call: Call) -> Completion:
        """Ask the teacher now, paced and retried; the reply is persisted before returning."""
        # The slot is taken before the budget is reserved: a job's budget is checked
        # against what calls in flight have charged, so waiting calls must not pre-pass.
        async with self._slots:
            if not await self._db.each(budget.reserve_requests, self.job_id):
                raise BudgetExhausted(self.job_id)
            try:
                response = await self._request(call.messages, call.params)
            except BaseException:
                await self.release()
                raise
            return await self.store(call, response)

    async def release(self) -> None:
        """Give back a reserved request that will not be paid for."""
        await self._db.each(budget.release_requests, self.job_id)

    async def store(self, call: Call, response: dict[str, Any], price_factor: Decimal = Decimal(1)) -> Completion:
        """Cache a paid reply and charge it (at `price_factor` of the online price)."""
        completion = self._completion(response, call.key, cached=False)
        await self._db.each(self._persist, (call.key, response, completion, price_factor))
        teacher_metrics.record_usage(
            self.endpoint.id,
            completion.prompt_tokens,
            completion.completion_tokens,
            self._cost(completion, price_factor),
        )
        return completion

    async def _request(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        estimate = sum(len(m["content"]) for m in messages) // CHARS_PER_TOKEN + params["max_tokens"]
        try:
            async for attempt in policy(self.max_attempts):
                with attempt:
                    await self._limiter.acquire(estimate)
                    started = time.monotonic()
                    try:
                        raw = await self.client.chat.completions.with_raw_response.create(
                            model=self.endpoint.model,
                            messages=messages,  # type: ignore[arg-type]
                            **params,
                        )
                    except openai.OpenAIError as exc:
                        teacher_metrics.record_request(self.endpoint.id, outcome(exc), time.monotonic() - started)
                        if isinstance(exc, openai.RateLimitError):
                            await self._throttled(retry_after(exc))
                        raise
                    teacher_metrics.record_request(self.endpoint.id, "ok", time.monotonic() - started)
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

    def _cost(self, completion: Completion, price_factor: Decimal) -> Decimal:
        ep = self.endpoint
        price = cost_usd(
            completion.prompt_tokens, completion.completion_tokens, ep.input_price_per_mtok, ep.output_price_per_mtok
        )
        return price * price_factor

    def _take_cached(self, session: Session, keys: list[str]) -> list[Completion | None]:
        rows = cache.lookup(session, keys)
        hits = [self._completion(rows[k].response, k, cached=True) if k in rows else None for k in keys]
        charges = [budget.Charge(self.job_id, self.endpoint.id, k, cached=True) for k in keys if k in rows]
        if charges:
            budget.charge(session, charges)
        return hits

    def _persist(self, session: Session, replies: list[tuple[str, dict[str, Any], Completion, Decimal]]) -> list[None]:
        ep = self.endpoint
        cache.store(
            session,
            [
                {
                    "request_hash": key,
                    "tenant_id": ep.tenant_id,
                    "model": ep.model,
                    "response": response,
                    "prompt_tokens": c.prompt_tokens,
                    "completion_tokens": c.completion_tokens,
                }
                for key, response, c, _ in replies
            ],
        )
        charges = [
            budget.Charge(
                self.job_id,
                ep.id,
                key,
                cached=False,
                prompt_tokens=c.prompt_tokens,
                completion_tokens=c.completion_tokens,
                cost_usd=self._cost(c, factor),
            )
            for key, _, c, factor in replies
        ]
        return budget.charge(session, charges)
