"""Asking a teacher for something parseable: the one path every method's steps take.

A reply cut at `max_tokens` is rejected as `truncated` (asking again at the same limit
would pay for the same cut). A reply that fails its parser gets one repair attempt that
shows the teacher why; a second failure is rejected with the parser's reason. Nothing is
re-asked blindly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from distillery.ledger.records import RecordDraft
from distillery.methods.base import JobContext
from distillery.prompts.parse import ParseFailure
from distillery.prompts.render import Prompt
from distillery.teachers.gateway import Completion, Teacher
from distillery.teachers.retries import TeacherFailed

T = TypeVar("T")


@dataclass
class Exchange(Generic[T]):
    """One step's conversation with a teacher and what came of it."""

    prompt: Prompt
    reply: Completion | None = None
    value: T | None = None
    # (status, reason, detail) when the step produced nothing usable.
    failure: tuple[str, str, str] | None = None
    repaired: bool = False
    messages: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def record(self, draft: RecordDraft) -> RecordDraft:
        """Write this exchange's lineage (and failure, if any) onto `draft`."""
        draft.messages = self.messages or self.prompt.messages
        draft.system_prompt = draft.system_prompt or self.prompt.system
        note_template(draft, self.prompt)
        if self.reply is not None:
            draft.raw_response, draft.finish_reason = self.reply.content, self.reply.finish_reason
        if self.repaired:
            draft.parsed["repaired"] = True
        if self.failure is not None:
            draft.status, draft.reject_reason, draft.reject_detail = self.failure  # type: ignore[assignment]
        return draft


def note_template(draft: RecordDraft, prompt: Prompt) -> None:
    """Every template a record's steps used, by name and content hash; the first is its own."""
    if draft.template_name is None:
        draft.template_name, draft.template_version = prompt.template_name, prompt.template_version
    draft.parsed.setdefault("templates", {})[prompt.template_name] = prompt.template_version


async def ask(
    teacher: Teacher,
    job: JobContext,
    prompt: Prompt,
    parse: Callable[[str], T],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    response_format: dict[str, Any] | None = None,
) -> Exchange[T]:
    """Send `prompt`, parse the reply with `parse` (which raises ParseFailure), repair once."""
    exchange: Exchange[T] = Exchange(prompt)
    messages = list(prompt.messages)
    params: dict[str, Any] = {
        "temperature": job.params.temperature if temperature is None else temperature,
        "max_tokens": max_tokens or job.params.max_tokens,
        "seed": seed,
        "response_format": response_format,
    }
    for attempt in range(2):
        try:
            reply = await teacher.complete(messages, **params)
        except TeacherFailed as failure:
            exchange.failure = ("failed", failure.reason, failure.detail)
            break
        exchange.reply, exchange.messages = reply, messages
        if reply.finish_reason == "length":
            exchange.failure = ("rejected", "truncated", f"the reply was cut at max_tokens={params['max_tokens']}")
            break
        try:
            exchange.value, exchange.failure = parse(reply.content), None
            break
        except ParseFailure as failure:
            exchange.failure = ("rejected", failure.reason, failure.detail)
            if attempt == 0:
                repair = job.prompt("repair", error=failure.detail, expected=failure.expected).messages[-1]
                messages = [*messages, {"role": "assistant", "content": reply.content}, repair]
                exchange.repaired = True
    return exchange
