"""Batch API mode: the calls a chunk's items make, sent together as one provider batch
(OpenAI's /v1/files and /v1/batches) and paid at the provider's batch discount.

Methods do not change: they await `complete()`. A call waits until every item still
running is waiting too; then all waiting calls go out as one batch (a method with several
steps makes one batch per step). Lines the batch did not answer are retried online.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from sqlalchemy.orm import Session

from distillery.db.base import utcnow
from distillery.db.batching import TransactionBatcher
from distillery.db.models import TeacherBatch
from distillery.errors import BudgetExhausted
from distillery.ledger import budget
from distillery.teachers.gateway import Call, Completion, TeacherGateway
from distillery.teachers.http import TeacherHTTPError
from distillery.teachers.retries import policy

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")

Notify = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class ProviderBatch:
    """What we read of a provider's batch object."""

    id: str
    status: str
    output_file_id: str | None

    @classmethod
    def of(cls, body: Any) -> ProviderBatch:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("status"), str):
            raise ValueError("the teacher's batch object has no id or status")
        output = body.get("output_file_id")
        return cls(body["id"], body["status"], output if isinstance(output, str) else None)


class BatchGateway:
    """One per (job, teacher) in a chunk, over that teacher's online gateway."""

    def __init__(self, online: TeacherGateway, db: TransactionBatcher, *, poll_s: float, notify: Notify) -> None:
        self.online = online
        self.endpoint = online.endpoint
        self._db = db
        self._poll_s = poll_s
        self._notify = notify
        self._running = 0
        self._waiting: dict[str, tuple[Call, list[asyncio.Future[Completion]]]] = {}
        self._rounds: set[asyncio.Task[None]] = set()

    async def run(self, work: list[Awaitable[None]]) -> None:
        """Run the items' work; their teacher calls are batched round by round."""
        self._running += len(work)
        await asyncio.gather(*(self._tracked(w) for w in work))

    async def _tracked(self, work: Awaitable[None]) -> None:
        try:
            await work
        finally:
            self._running -= 1
            self._maybe_send()

    async def complete(self, messages: list[dict[str, str]], **params: Any) -> Completion:
        call = self.online.call(messages, **params)
        hit = await self.online.cached(call)
        if hit is not None:
            return hit
        reply: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        # The same request twice in a round is one line, answered to both.
        self._waiting.setdefault(call.key, (call, []))[1].append(reply)
        self._maybe_send()
        return await reply

    def _maybe_send(self) -> None:
        waiting = sum(len(replies) for _, replies in self._waiting.values())
        if waiting and waiting >= self._running:
            round_, self._waiting = self._waiting, {}
            task = asyncio.create_task(self._round(round_))
            self._rounds.add(task)
            task.add_done_callback(self._rounds.discard)

    async def _round(self, calls: dict[str, tuple[Call, list[asyncio.Future[Completion]]]]) -> None:
        try:
            await self._send(calls)
        except Exception as exc:  # never leave an item waiting for a reply
            log.exception("a batch round of job %s failed", self.online.job_id)
            for _, replies in calls.values():
                for reply in replies:
                    if not reply.done():
                        reply.set_exception(exc)

    async def _send(self, calls: dict[str, tuple[Call, list[asyncio.Future[Completion]]]]) -> None:
        job_id, ep = self.online.job_id, self.endpoint
        batch_id = "bat_" + hashlib.sha256("\n".join(sorted(calls)).encode()).hexdigest()[:24]
        asks = [self._reservation(call) for call, _ in calls.values()]
        row = await self.online.job_row.run(_open, batch_id, ep.id, asks, list(calls))
        reserved = set(row.request_hashes)
        answered: dict[str, Completion] = {}
        if reserved:
            try:
                answered = await self._batch(row, [call for call, _ in calls.values() if call.key in reserved])
            except (TeacherHTTPError, ValueError) as exc:
                # The batch itself failed (not a line of it): every line goes online.
                log.warning("batch for job %s failed: %s", job_id, exc)
                await self._notify("batch_failed", f"the batch failed ({type(exc).__name__}); retrying online")
        await asyncio.gather(
            *(self._settle(call, replies, answered, reserved=call.key in reserved) for call, replies in calls.values())
        )

    async def _settle(
        self, call: Call, replies: list[asyncio.Future[Completion]], answered: dict[str, Completion], *, reserved: bool
    ) -> None:
        try:
            if not reserved:
                raise BudgetExhausted(self.online.job_id)
            # Paid in the batch (or before it broke off) and charged: the reservation goes.
            completion = answered.get(call.key) or await self.online.cached(call)
            await self.online.release(self._hold(call))
            if completion is None:
                completion = await self.online.online(call)
        except BaseException as exc:
            for reply in replies:
                reply.set_exception(exc)
            return
        for reply in replies:
            reply.set_result(completion)

    def _reservation(self, call: Call) -> budget.Reservation:
        """A line's worst case, at the batch price."""
        worst = self.online.worst_cost(call) * self.endpoint.batch_price_factor
        return budget.Reservation(self.online.job_id, worst, batched=True)

    def _hold(self, call: Call) -> budget.Reservation | None:
        """The reservation `_open` made for a line, when the job has a budget to hold it."""
        return self._reservation(call) if self.online.budgeted else None

    async def _batch(self, row: TeacherBatch, calls: list[Call]) -> dict[str, Completion]:
        """Submit the batch of `calls` (unless an earlier worker did), wait for it, and
        store the answered lines; returns them by request hash."""
        job_id, ep = self.online.job_id, self.endpoint
        if row.provider_batch_id is None:
            input_file_id = await self._api(self._upload, f"{row.id}.jsonl", self._jsonl(calls))
            body = {
                "input_file_id": input_file_id,
                "endpoint": ENDPOINT,
                "completion_window": "24h",
                "metadata": {"distillery_batch": row.id, "job_id": job_id},
            }
            batch = await self._api(self._batch_object, "/batches", orjson.dumps(body))
            await self._db.run(_submitted, row.id, batch.id, input_file_id)
            await self._notify("batch_submitted", f"batch {batch.id} of {len(calls)} requests sent to '{ep.name}'")
        else:
            await self._notify("batch_resumed", f"polling batch {row.provider_batch_id}, submitted earlier")
        batch = await self._wait(row.provider_batch_id or batch.id)
        bodies = await self._output(batch)
        by_key = {c.key: c for c in calls}
        stored = await asyncio.gather(
            *(self.online.store(by_key[k], body, ep.batch_price_factor) for k, body in bodies.items() if k in by_key)
        )
        await self._db.run(_finished, row.id, batch.status)
        missing = len(calls) - len(stored)
        await self._notify(
            "batch_finished",
            f"batch {batch.id} {batch.status}: {len(stored)} of {len(calls)} answered"
            + (f"; {missing} retried online" if missing else ""),
        )
        return {c.request_hash: c for c in stored}

    async def _api(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """A Batch API call, retried like a chat call."""
        return await policy(self.online.max_attempts)(fn, *args, **kwargs)

    async def _batch_object(self, path: str, body: bytes | None = None) -> ProviderBatch:
        """POST `body` to `path`, or GET it."""
        http = self.online.http
        reply = await (http.post_json(path, body) if body is not None else http.request("GET", path))
        return ProviderBatch.of(reply.json())

    async def _upload(self, filename: str, content: bytes) -> str:
        """The id of the uploaded batch input file."""
        form = aiohttp.FormData()  # made per attempt: a sent form cannot be sent again
        form.add_field("purpose", "batch")
        form.add_field("file", content, filename=filename, content_type="application/jsonl")
        uploaded = (await self.online.http.request("POST", "/files", data=form)).json()
        if not isinstance(uploaded, dict) or not isinstance(uploaded.get("id"), str):
            raise ValueError("the teacher's file object has no id")
        return str(uploaded["id"])

    def _jsonl(self, calls: list[Call]) -> bytes:
        lines = (
            json.dumps(
                {
                    "custom_id": c.key,
                    "method": "POST",
                    "url": ENDPOINT,
                    "body": {"model": self.endpoint.model, "messages": c.messages, **c.params},
                },
                ensure_ascii=False,
            )
            for c in calls
        )
        return ("\n".join(lines) + "\n").encode()

    async def _wait(self, provider_batch_id: str) -> ProviderBatch:
        while True:
            batch = await self._api(self._batch_object, f"/batches/{provider_batch_id}")
            if batch.status in TERMINAL:
                return batch
            await asyncio.sleep(self._poll_s)

    async def _output(self, batch: ProviderBatch) -> dict[str, dict[str, Any]]:
        """The 200 replies of the batch's output file, by custom_id; error lines are left
        out (they are retried online)."""
        if not batch.output_file_id:
            return {}
        content = await self._api(self.online.http.request, "GET", f"/files/{batch.output_file_id}/content")
        bodies = {}
        for line in content.content.decode().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            response = entry.get("response") or {}
            if response.get("status_code") == 200 and (response.get("body") or {}).get("choices"):
                bodies[entry["custom_id"]] = response["body"]
        return bodies


def _open(
    session: Session, batch_id: str, teacher_id: str, asks: list[budget.Reservation], keys: list[str]
) -> TeacherBatch:
    """The round's batch row: the one an earlier worker made for these calls, or a new
    one holding the calls the job's budget grants, reserved in the same transaction (so a
    crash never leaves reservations without a row that accounts for them)."""
    row = session.get(TeacherBatch, batch_id)
    if row is None:
        verdicts = budget.reserve(session, asks)
        granted = [key for key, verdict in zip(keys, verdicts, strict=True) if verdict in ("held", "free")]
        row = TeacherBatch(id=batch_id, job_id=asks[0].job_id, teacher_id=teacher_id, request_hashes=granted)
        session.add(row)
        session.flush()
    session.expunge(row)
    return row


def _submitted(session: Session, batch_id: str, provider_batch_id: str, input_file_id: str) -> None:
    row = session.get_one(TeacherBatch, batch_id)
    row.provider_batch_id, row.input_file_id, row.status = provider_batch_id, input_file_id, "submitted"


def _finished(session: Session, batch_id: str, status: str) -> None:
    row = session.get_one(TeacherBatch, batch_id)
    row.status, row.finished_at = status, utcnow()
