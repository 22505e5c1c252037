"""The teacher gateway: the only code that asks teachers for chat completions.

Per call: cache lookup → budget reservation of the call's worst case → the teacher's
circuit (waits while the teacher is down) → a slot of the teacher's shared schedule →
a check that the job still takes work (distillery/ledger/closed_flag.py: nothing starts after a
cancel) → the request, retried → the reply and its usage persisted in one transaction before
anything else awaits → the reservation given back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy.orm import Session

from distillery.db.batching import TransactionBatcher
from distillery.errors import BudgetExhausted, JobClosed, TeacherRefused
from distillery.ledger import budget, closed_flag
from distillery.observability import teacher_metrics
from distillery.teachers import cache, clients
from distillery.teachers.circuit import Admission, Refused, make_breaker
from distillery.teachers.http import StatusError, TeacherHTTP, TeacherHTTPError
from distillery.teachers.limiter import make_limiter
from distillery.teachers.pacing import Limits
from distillery.teachers.pricing import cost_usd
from distillery.teachers.retries import (
    GiveUp,
    TeacherFailed,
    as_failure,
    outcome,
    policy,
    rate_limited,
    retry_after,
    retryable,
)

# Tokens per character, on the safe side (English runs about 4), and per message: the
# pre-call estimate that the TPM schedule paces and a budget reserves.
CHARS_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 4
# While a call's worst case does not fit in the budget beside calls in flight, it asks
# again this often, and gives up (the budget is spent) after BUDGET_PATIENCE_S.
BUDGET_POLL_S = 0.2
BUDGET_PATIENCE_S = 120.0


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


@dataclass
class Attempts:
    """HTTP requests one call sent (all but the last that answered got an error)."""

    sent: int = 0


# A wrong key, no access, an unknown model: no retry, and no other call, can help.
REFUSALS = (401, 403, 404)


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"]) // CHARS_PER_TOKEN + TOKENS_PER_MESSAGE for m in messages)


def _header_limit(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(f"x-ratelimit-limit-{name}")
    return int(value) if value and value.isdigit() and int(value) > 0 else None


class Events(Protocol):
    """What a gateway tells its job about its teacher."""

    async def throttled(self, message: str) -> None:
        """A 429 made the shared schedule slow down."""

    async def unavailable(self, teacher: str, cause: str) -> None:
        """The teacher's circuit is open: the job's calls wait for it."""

    async def available(self, teacher: str) -> None:
        """The teacher answers again."""


class TeacherGateway:
    """One per (job, teacher, event loop): its client, semaphore and batchers belong to
    that loop. `db` is the group commit; `job_row` the lane of short transactions on the
    job's own row (budget reservations), kept apart so they never wait in a cycle."""

    def __init__(
        self,
        endpoint: TeacherEndpoint,
        job_id: str,
        db: TransactionBatcher,
        job_row: TransactionBatcher,
        events: Events,
        *,
        budgeted: bool,
        timeout_s: float,
        max_attempts: int,
        redis_url: str | None,
        data_dir: Path,
    ) -> None:
        self.endpoint = endpoint
        self.job_id = job_id
        self.db = db
        self.job_row = job_row
        self._events = events
        self.budgeted = budgeted
        self.max_attempts = max_attempts
        self.http: TeacherHTTP = clients.teacher_http(endpoint.base_url, endpoint.api_key, timeout_s)
        self._slots = asyncio.Semaphore(endpoint.max_concurrency)
        self._limiter = make_limiter(redis_url, data_dir, endpoint.id, Limits(endpoint.rpm, endpoint.tpm))
        # A probe may take every attempt's timeout before another caller may probe.
        self._breaker = make_breaker(redis_url, data_dir, endpoint.id, probe_s=timeout_s + 5)
        self._paused = False
        self._job_open = closed_flag.OpenCheck(job_id, job_row, clients.redis_client(redis_url) if redis_url else None)

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
        return await self.db.each(self._take_cached, call.key)

    async def online(self, call: Call) -> Completion:
        """Ask the teacher now, paced and retried; the reply is persisted before returning."""
        # The slot is taken before the budget is reserved: waiting calls must not hold
        # reservations that calls in flight could have used.
        async with self._slots:
            hold = await self.reserve(self.worst_cost(call))
            try:
                attempts = Attempts()
                try:
                    response = await self._request(call.messages, call.params, attempts)
                except (TeacherFailed, TeacherRefused, JobClosed):
                    if attempts.sent:
                        await self.db.each(budget.unpaid, (self.job_id, self.endpoint.id, attempts.sent))
                    raise
                return await self.store(call, response, attempts=attempts)
            finally:
                await self.release(hold)

    def worst_cost(self, call: Call) -> Decimal:
        """What `call` can cost at most: its estimated prompt and all of `max_tokens`."""
        ep = self.endpoint
        return cost_usd(
            estimate_tokens(call.messages), call.params["max_tokens"], ep.input_price_per_mtok, ep.output_price_per_mtok
        )

    async def reserve(self, worst_cost: Decimal) -> budget.Reservation | None:
        """Reserve a call in the job's budget (None: the job has none to hold it in);
        waits while the call does not fit beside calls in flight. Raises BudgetExhausted, or
        JobClosed when the job no longer takes work."""
        if not self.budgeted:
            return None  # nothing to hold; whether the job still takes work is asked per attempt
        ask = budget.Reservation(self.job_id, worst_cost)
        deadline = time.monotonic() + BUDGET_PATIENCE_S
        while True:
            verdict = await self.job_row.each(budget.reserve, ask)
            if verdict == "held":
                return ask
            if verdict == "free":
                return None
            if verdict == "closed":
                raise JobClosed(self.job_id)
            if verdict != "wait" or time.monotonic() > deadline:
                raise BudgetExhausted(self.job_id)
            await asyncio.sleep(BUDGET_POLL_S)

    async def release(self, hold: budget.Reservation | None) -> None:
        """Give back a reservation: its call was charged, or will never be."""
        if hold is not None:
            await self.job_row.each(budget.release, hold)

    async def store(
        self,
        call: Call,
        response: dict[str, Any],
        price_factor: Decimal = Decimal(1),
        *,
        attempts: Attempts | None = None,
    ) -> Completion:
        """Cache a paid reply and charge it (at `price_factor` of the online price)."""
        completion = self._completion(response, call.key, cached=False)
        tried = attempts or Attempts(sent=1)
        await self.db.each(self._persist, (call.key, response, completion, price_factor, tried))
        teacher_metrics.record_usage(
            self.endpoint.id,
            completion.prompt_tokens,
            completion.completion_tokens,
            self._cost(completion, price_factor),
        )
        return completion

    async def _request(
        self, messages: list[dict[str, str]], params: dict[str, Any], attempts: Attempts
    ) -> dict[str, Any]:
        estimate = estimate_tokens(messages) + params["max_tokens"]
        give_up = GiveUp(self.max_attempts)
        try:
            async for attempt in policy(give_up):
                with attempt:
                    admission = await self._admit()
                    down = admission.circuit.state == "open"
                    try:
                        await self._limiter.acquire(estimate)
                        # Waiting for the circuit, the schedule or a backoff took a while.
                        await self._job_open.ensure_open()
                    except BaseException:
                        if admission.probe:
                            await self._breaker.withdraw()
                        raise
                    started = time.monotonic()
                    attempts.sent += 1
                    try:
                        raw = await self.http.post_json(
                            "/chat/completions",
                            orjson.dumps({"model": self.endpoint.model, "messages": messages, **params}),
                        )
                    except TeacherHTTPError as exc:
                        teacher_metrics.record_request(self.endpoint.id, outcome(exc), time.monotonic() - started)
                        if rate_limited(exc):
                            await self._throttled(retry_after(exc))
                        if await self._failed(exc) or down:
                            give_up.excuse()  # the teacher is down: waiting for it is no failure of the call
                        raise
                    teacher_metrics.record_request(self.endpoint.id, "ok", time.monotonic() - started)
                    await self._answered()
        except TeacherHTTPError as exc:
            raise self._scrubbed(as_failure(exc)) from None
        except Refused as refused:
            raise TeacherRefused(f"teacher '{self.endpoint.name}' {refused.cause}") from None
        try:
            reply = raw.json()
        except orjson.JSONDecodeError:
            raise TeacherFailed("teacher_bad_reply", "the reply is not JSON") from None
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise TeacherFailed("teacher_bad_reply", "the reply has no choices")
        if not isinstance(choices[0].get("message") or {}, dict):
            raise TeacherFailed("teacher_bad_reply", "the reply's message is not an object")
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        used = usage.get("total_tokens") if isinstance(usage.get("total_tokens"), int) else estimate
        learned = Limits(_header_limit(raw.headers, "requests"), _header_limit(raw.headers, "tokens"))
        await self._limiter.succeeded(estimate - used, learned)
        return reply

    async def _admit(self) -> Admission:
        """Wait for the teacher's circuit, while the job still takes work."""
        admission = await self._breaker.admit(self._job_open.ensure_open)
        circuit = admission.circuit
        if circuit.state == "open" and not self._paused:
            self._paused = True
            await self._events.unavailable(self.endpoint.name, circuit.cause)
        return admission

    async def _answered(self) -> None:
        await self._breaker.succeeded()
        if self._paused:
            self._paused = False
            await self._events.available(self.endpoint.name)

    async def _failed(self, exc: TeacherHTTPError) -> bool:
        """Tell the circuit how the teacher failed; True unless it is closed (the teacher is
        down, or has yet to answer: the attempt is not the call's fault). A refusal (401,
        403, 404) is final for every caller; any other answer, a 429 or a 400, shows the
        teacher up."""
        if isinstance(exc, StatusError) and exc.status in REFUSALS:
            # The same words for this call and for every call the circuit then turns away.
            cause = f"refused the requests (HTTP {exc.status}: {self._scrubbed(as_failure(exc)).detail})"
            await self._breaker.failed(cause, transient=False)
            raise Refused(cause)
        if retryable(exc) and not rate_limited(exc):
            failure = self._scrubbed(as_failure(exc))
            circuit = await self._breaker.failed(f"{failure.reason}: {failure.detail}", transient=True)
            return circuit.state != "closed"
        await self._answered()
        return False

    def _scrubbed(self, failure: TeacherFailed) -> TeacherFailed:
        """The provider's words without the key, which some echo back ("Incorrect API key
        provided: sk-...")."""
        key = self.endpoint.api_key
        if key and key in failure.detail:
            return type(failure)(failure.reason, failure.detail.replace(key, "[redacted]"))
        return failure

    async def _throttled(self, retry_after_s: float | None) -> None:
        cut = await self._limiter.rate_limited(retry_after_s)
        if cut is None:
            return
        ep = self.endpoint
        if ep.rpm:
            pace = f"{cut.factor * ep.rpm:.0f} rpm"
        elif cut.guessed_rpm:
            pace = f"about {cut.guessed_rpm:.0f} rpm, guessed from what it accepted (it states no limit)"
        else:
            pace = f"{cut.factor:.0%} of its limit"
        wait = f", waiting {retry_after_s:.1f}s as asked" if retry_after_s else ""
        await self._events.throttled(f"rate limited by teacher '{ep.name}'{wait}; pacing at {pace}")

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

    def _persist(
        self, session: Session, replies: list[tuple[str, dict[str, Any], Completion, Decimal, Attempts]]
    ) -> None:
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
                for key, response, c, _, _ in replies
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
                attempts=tried.sent,
                errors=tried.sent - 1,
            )
            for key, _, c, factor, tried in replies
        ]
        budget.charge(session, charges)
