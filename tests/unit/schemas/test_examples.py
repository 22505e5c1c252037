"""Rows in every format we export, and those users bring, read as examples: the shape
known by the fields, the task, reply, system prompt, turns and preference pair mapped to
ours, and a bad row named by its field with what to use instead."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from distillery.datasets.exporters import EXPORTERS, ExportOptions
from distillery.db.models import Record
from distillery.schemas.examples import (
    AlpacaRow,
    ChatRow,
    DpoRow,
    Example,
    OpenAIDpoRow,
    PromptCompletionRow,
    RowProblem,
    ShareGptRow,
    shape_of,
)


def _record(**fields: Any) -> Record:
    base = {
        "instruction": "What is 2 + 3?",
        "input": "",
        "rationale": None,
        "answer": "5",
        "system_prompt": "Be exact.",
        "parsed": {},
    }
    return Record(**{**base, **fields})


def _read(row: dict[str, Any]) -> Example:
    shape = shape_of(row)
    assert shape is not None
    return shape.model_validate(row).example()


SFT_FORMATS = ("openai-chat", "prompt-completion", "alpaca", "sharegpt")


@pytest.mark.parametrize("fmt", SFT_FORMATS)
def test_every_sft_export_reads_back_as_its_task_reply_and_system_prompt(fmt):
    row = EXPORTERS[fmt].row(_record(), ExportOptions(include_system=True))
    example = _read(row)
    assert example.response == "5" and not example.turns
    if fmt == "prompt-completion":  # TRL's plain strings: the system prompt is part of the prompt
        assert example.instruction == "Be exact.\n\nWhat is 2 + 3?" and example.system is None
    else:
        assert example.instruction == "What is 2 + 3?" and example.system == "Be exact."


@pytest.mark.parametrize("fmt", SFT_FORMATS)
def test_every_sft_export_of_a_dialogue_reads_back_as_its_turns(fmt):
    conversation = [
        {"role": "user", "content": "What is 2 + 3?"},
        {"role": "assistant", "content": "5"},
        {"role": "user", "content": "And times 2?"},
        {"role": "assistant", "content": "10"},
    ]
    row = EXPORTERS[fmt].row(_record(parsed={"conversation": conversation}), ExportOptions())
    example = _read(row)
    assert [{"role": m.role, "content": m.content} for m in example.turns] == conversation
    assert (example.instruction, example.response) == ("What is 2 + 3?", "5")


@pytest.mark.parametrize("conversational", [False, True])
@pytest.mark.parametrize("fmt", ["dpo", "openai-dpo"])
def test_preference_exports_read_back_as_pairs(fmt, conversational):
    record = _record(parsed={"chosen": "Answer: 5", "rejected": "Answer: 6"})
    row = EXPORTERS[fmt].row(record, ExportOptions(conversational=conversational, include_system=True))
    example = _read(row)
    assert (example.instruction, example.chosen, example.rejected) == ("What is 2 + 3?", "Answer: 5", "Answer: 6")
    expected_system = None if fmt == "dpo" and not conversational else "Be exact."
    assert example.system == expected_system


def test_a_candidates_export_reads_back_with_its_candidates():
    row = EXPORTERS["candidates"].row(_record(parsed={"candidates": ["5", "6"]}), ExportOptions())
    example = _read(row)
    assert (example.response, example.candidates) == ("5", ("5", "6"))


def test_dpo_with_an_implicit_prompt_takes_the_shared_turns_as_the_prompt():
    user = {"role": "user", "content": "What is 2 + 3?"}
    row = {
        "chosen": [user, {"role": "assistant", "content": "5"}],
        "rejected": [user, {"role": "assistant", "content": "6"}],
    }
    example = _read(row)
    assert (example.instruction, example.chosen, example.rejected) == ("What is 2 + 3?", "5", "6")


def test_shapes_are_known_by_their_fields():
    assert shape_of({"messages": []}) is ChatRow
    assert shape_of({"conversations": []}) is ShareGptRow
    assert shape_of({"prompt": "q", "chosen": "a", "rejected": "b"}) is DpoRow
    assert shape_of({"input": {}, "preferred_output": []}) is OpenAIDpoRow
    assert shape_of({"prompt": "q", "completion": "a"}) is PromptCompletionRow
    assert shape_of({"prompt": "q"}) is PromptCompletionRow
    assert shape_of({"instruction": "q", "output": "a"}) is AlpacaRow
    assert shape_of({"text": "q"}) is None


def test_user_sharegpt_rows_and_prompt_only_rows_read_as_seeds():
    row = {"system": "Be kind.", "conversations": [{"from": "user", "value": "Hi"}]}
    assert _read(row) == Example("Hi", system="Be kind.")
    assert _read({"prompt": "Hi"}) == Example("Hi")


def _problems(row: dict[str, Any]) -> list[tuple[str, str]]:
    shape = shape_of(row)
    assert shape is not None
    try:
        shape.model_validate(row).example()
    except ValidationError as exc:
        return [(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
    except RowProblem as exc:
        return [(exc.field, exc.problem)]
    return []


def test_an_unknown_field_says_what_to_use_instead():
    assert _problems({"instruction": "q", "response": "a"}) == [("response", "unknown field; use `output`")]
    assert _problems({"instruction": "q", "outptu": "a"}) == [("outptu", "unknown field; use `output`")]
    assert _problems({"messages": [{"role": "user", "content": "q"}], "tools": []})[0][1].startswith(
        "unknown field; this takes id, messages"
    )


def test_a_conversation_out_of_order_names_the_message():
    def chat(*roles: str) -> dict[str, Any]:
        return {"messages": [{"role": r, "content": "x"} for r in roles]}

    assert _problems(chat("assistant")) == [("messages.0", "expected a user message (turns alternate, from the user)")]
    assert _problems(chat("user", "system")) == [("messages.1", "expected an assistant message (comes first, once)")]
    assert _problems(chat("system")) == [("messages", "needs a user message")]
    assert _problems(chat("user", "assistant", "user")) == [
        ("messages.2", "a dialogue ends with the assistant's reply")
    ]
    assert _problems({"messages": [{"role": "tool", "content": "x"}]})[0][0] == "messages.0.role"


def test_preference_rows_need_one_reply_each_and_a_one_turn_prompt():
    two = [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert _problems({"prompt": "q", "chosen": two, "rejected": "b"}) == [("chosen", "must be one assistant message")]
    assert _problems({"chosen": "a", "rejected": "b"})[0][0] == "prompt"
    assert _problems({"prompt": 3, "chosen": "a", "rejected": "b"}) == [
        ("prompt", "must be a string or a list of messages (role, content)")
    ]
