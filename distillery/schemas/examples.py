"""Rows of examples in the shapes they come in: every format we export (see
distillery/datasets/exporters.py) and the common ones users bring, each read into one
`Example`. Uploads (distillery/datasets/uploads.py) read every shape through here, so a
file downloaded from us uploads again as it is; a job's inline seeds take its alpaca and
chat rows (distillery/schemas/job_specs/base.py).

A row's shape is known by its fields (`shape_of`). Each shape is a model that refuses a
field it does not take with what to use instead, and a conversation that is not one
(roles out of order, a system message in the middle) naming the message at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from distillery.schemas.base import InputModel, Text, refuse_unknown_fields

# What a 422 lists when a row's shape is none of these.
ACCEPTED_SHAPES = (
    "alpaca (instruction, input, output), openai-chat (messages), sharegpt (conversations), "
    "prompt-completion (prompt, completion), dpo (prompt, chosen, rejected), "
    "openai-dpo (input, preferred_output, non_preferred_output)"
)


class RowProblem(ValueError):
    """A row whose fields are each fine but do not make an example; named by its field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


NotBlank = Annotated[Text, AfterValidator(_not_blank)]
# Responses to judge (a feedback job's): as many as a generate job samples at most.
Candidates = Annotated[list[NotBlank], Field(min_length=1, max_length=16)]


class Message(InputModel):
    role: Literal["system", "user", "assistant"]
    content: Text


Messages = Annotated[list[Message], Field(min_length=1, max_length=1000)]


def _text_or_messages(value: Any) -> str | None:
    return "(text)" if isinstance(value, str) else "(messages)" if isinstance(value, list) else None


# Tags in parentheses: a field's path leaves them out (see `field_path`).
TextOrMessages = Annotated[
    Annotated[Text, Tag("(text)")] | Annotated[Messages, Tag("(messages)")],
    Discriminator(
        _text_or_messages,
        custom_error_type="text_or_messages",
        custom_error_message="must be a string or a list of messages (role, content)",
    ),
]


def field_path(loc: Sequence[int | str]) -> str:
    """A validation error's location as the API names fields: "messages.2.role"."""
    return ".".join(str(part) for part in loc if not str(part).startswith("("))


@dataclass(frozen=True)
class Example:
    """One row, read: the task, its system prompt and reply, a dialogue's turns, a
    preference pair, candidate responses. A dialogue is known by its opening user turn and
    its first reply, as the records of a dialogue job are."""

    instruction: str
    input: str = ""
    system: str | None = None
    response: str | None = None
    # Every user and assistant turn of a dialogue of more than one exchange.
    turns: tuple[Message, ...] = ()
    chosen: str | None = None
    rejected: str | None = None
    candidates: tuple[str, ...] | None = None
    id: str | None = None

    @property
    def has_reply(self) -> bool:
        return self.response is not None or self.chosen is not None


def read_conversation(messages: Sequence[Message], field: str) -> Example:
    """A conversation as an example: an optional system message first, then user and
    assistant turns in turn. A dialogue of more than one exchange ends with a reply."""
    system = None
    turns = list(messages)
    if turns and turns[0].role == "system":
        system = turns.pop(0).content
    offset = len(messages) - len(turns)
    for n, message in enumerate(turns):
        expected = "user" if n % 2 == 0 else "assistant"
        if message.role != expected:
            where = "comes first, once" if message.role == "system" else "turns alternate, from the user"
            article = "an" if expected == "assistant" else "a"
            raise RowProblem(f"{field}.{n + offset}", f"expected {article} {expected} message ({where})")
    if not turns:
        raise RowProblem(field, "needs a user message")
    if len(turns) <= 2:
        return Example(turns[0].content, system=system, response=turns[1].content if len(turns) == 2 else None)
    if turns[-1].role != "assistant":
        raise RowProblem(f"{field}.{len(messages) - 1}", "a dialogue ends with the assistant's reply")
    return Example(turns[0].content, system=system, response=turns[1].content, turns=tuple(turns))


class Shape(InputModel):
    """A row shape: its fields, what to use instead of a field it does not take, and how
    its rows read as examples."""

    format: ClassVar[str]
    # The field that holds the reply (what an sft dataset needs in every row).
    reply_field: ClassVar[str]
    preference: ClassVar[bool] = False
    hints: ClassVar[dict[str, str]] = {}

    id: Text | None = Field(default=None, max_length=200, description="your id, kept in lineage")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        refuse_unknown_fields(cls, data, cls.hints)
        return data

    def example(self) -> Example:
        raise NotImplementedError


_TASK_HINTS = {
    "question": "instruction",
    "query": "instruction",
    "context": "input",
    "answer": "output",
    "response": "output",
    "completion": "output",
    "system_prompt": "system",
}


class AlpacaRow(Shape):
    format = "alpaca"
    reply_field = "output"
    hints = {**_TASK_HINTS, "prompt": "instruction"}

    instruction: NotBlank
    input: Text = ""
    output: Text | None = Field(default=None, description="the response (a seed's gold answer)")
    system: Text | None = None
    history: list[tuple[Text, Text]] | None = Field(
        default=None, max_length=1000, description="earlier [user, assistant] turns of a dialogue (LLaMA-Factory)"
    )
    candidates: Candidates | None = Field(default=None, description="responses to judge (a candidates dataset)")

    def example(self) -> Example:
        candidates = tuple(self.candidates) if self.candidates is not None else None
        if not self.history:
            return Example(self.instruction, self.input, self.system, self.output, candidates=candidates, id=self.id)
        if self.output is None:
            raise RowProblem("output", "a row with history needs its output (the last reply)")
        task = f"{self.instruction}\n\n{self.input}" if self.input else self.instruction
        pairs = [*self.history, (task, self.output)]
        turns = tuple(
            Message(role=role, content=text)
            for user, assistant in pairs
            for role, text in (("user", user), ("assistant", assistant))
        )
        return Example(
            pairs[0][0], system=self.system, response=pairs[0][1], turns=turns, candidates=candidates, id=self.id
        )


class ChatRow(Shape):
    format = "openai-chat"
    reply_field = "messages"
    hints = {"conversations": "messages", "conversation": "messages"}

    messages: Messages

    def example(self) -> Example:
        return _with_id(read_conversation(self.messages, "messages"), self.id)


_SPEAKERS: dict[str, Literal["system", "user", "assistant"]] = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}


class ShareGptTurn(InputModel):
    speaker: Literal["system", "human", "gpt", "user", "assistant"] = Field(alias="from")
    value: Text


class ShareGptRow(Shape):
    format = "sharegpt"
    reply_field = "conversations"
    conversations: Annotated[list[ShareGptTurn], Field(min_length=1, max_length=1000)]
    system: Text | None = Field(default=None, description="the system prompt (LLaMA-Factory's column)")

    def example(self) -> Example:
        messages = [Message(role="system", content=self.system)] if self.system is not None else []
        messages += [Message(role=_SPEAKERS[t.speaker], content=t.value) for t in self.conversations]
        return _with_id(read_conversation(messages, "conversations"), self.id)


class PromptCompletionRow(Shape):
    """TRL's prompt-completion (or prompt-only) rows: strings, or message lists."""

    format = "prompt-completion"
    reply_field = "completion"
    hints = {"response": "completion", "output": "completion", "answer": "completion"}

    prompt: TextOrMessages
    completion: TextOrMessages | None = None

    def example(self) -> Example:
        if isinstance(self.prompt, str) and not isinstance(self.completion, list):
            if not self.prompt.strip():
                raise RowProblem("prompt", "must not be blank")
            return Example(self.prompt, response=self.completion, id=self.id)
        if isinstance(self.prompt, str) or isinstance(self.completion, str):
            raise RowProblem("completion", "give prompt and completion both as strings or both as message lists")
        return _with_id(read_conversation([*self.prompt, *(self.completion or [])], "prompt"), self.id)


def _prompt_of(messages: Sequence[Message], field: str) -> Example:
    """A preference pair's prompt: one user message, after a system message if any."""
    example = read_conversation(messages, field)
    if example.response is not None:
        raise RowProblem(field, "a preference pair's prompt is one user message (after a system message, if any)")
    return example


def _reply_of(reply: str | Sequence[Message], field: str) -> str:
    if isinstance(reply, str):
        return reply
    if len(reply) != 1 or reply[0].role != "assistant":
        raise RowProblem(field, "must be one assistant message")
    return reply[0].content


def _pair(prompt: Example, chosen: str, rejected: str, ident: str | None) -> Example:
    return Example(prompt.instruction, system=prompt.system, chosen=chosen, rejected=rejected, id=ident)


class DpoRow(Shape):
    """TRL's preference rows: prompt, chosen and rejected as strings or message lists; no
    prompt when chosen and rejected are whole conversations sharing it (implicit prompt)."""

    format = "dpo"
    reply_field = "chosen"
    preference = True
    hints = {"instruction": "prompt", "question": "prompt", "preferred": "chosen", "dispreferred": "rejected"}

    prompt: TextOrMessages | None = None
    chosen: TextOrMessages
    rejected: TextOrMessages

    def example(self) -> Example:
        chosen, rejected = self.chosen, self.rejected
        if self.prompt is None:
            if isinstance(chosen, str) or isinstance(rejected, str):
                raise RowProblem("prompt", "needed unless chosen and rejected are conversations that share it")
            shared = 0
            while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
                shared += 1
            prompt = _prompt_of(chosen[:shared], "chosen")
            chosen, rejected = chosen[shared:], rejected[shared:]
        elif isinstance(self.prompt, str):
            if not self.prompt.strip():
                raise RowProblem("prompt", "must not be blank")
            prompt = Example(self.prompt)
        else:
            prompt = _prompt_of(self.prompt, "prompt")
        return _pair(prompt, _reply_of(chosen, "chosen"), _reply_of(rejected, "rejected"), self.id)


class OpenAIInput(InputModel):
    messages: Messages


class OpenAIDpoRow(Shape):
    """OpenAI's preference fine-tuning rows."""

    format = "openai-dpo"
    reply_field = "preferred_output"
    preference = True
    hints = {"chosen": "preferred_output", "rejected": "non_preferred_output"}

    input: OpenAIInput
    preferred_output: Messages
    non_preferred_output: Messages

    def example(self) -> Example:
        prompt = _prompt_of(self.input.messages, "input.messages")
        chosen = _reply_of(self.preferred_output, "preferred_output")
        return _pair(prompt, chosen, _reply_of(self.non_preferred_output, "non_preferred_output"), self.id)


def _with_id(example: Example, ident: str | None) -> Example:
    return replace(example, id=ident)


# The field that tells a row's shape, most telling first.
_SHAPE_BY_FIELD: tuple[tuple[str, type[Shape]], ...] = (
    ("messages", ChatRow),
    ("conversations", ShareGptRow),
    ("preferred_output", OpenAIDpoRow),
    ("non_preferred_output", OpenAIDpoRow),
    ("chosen", DpoRow),
    ("rejected", DpoRow),
    ("instruction", AlpacaRow),
    ("prompt", PromptCompletionRow),
)


def shape_of(row: dict[str, Any]) -> type[Shape] | None:
    """The shape a row's fields say it is; None when they say none we read."""
    return next((shape for field, shape in _SHAPE_BY_FIELD if field in row), None)
