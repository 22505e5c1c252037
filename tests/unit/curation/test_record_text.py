"""A record's prompt, completion and response: one definition that exports, curation,
stats and the judge all read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distillery.curation.candidates import candidate_of
from distillery.curation.record_text import completion_text, prompt_text, response_text
from distillery.datasets.exporters import EXPORTERS, ExportOptions


@dataclass
class _Record:
    instruction: str = "What is 2 + 3?"
    input: str = ""
    rationale: str | None = None
    answer: str | None = "5"
    parsed: dict[str, Any] | None = field(default_factory=dict)
    system_prompt: str | None = None
    id: int = 1
    finish_reason: str | None = "stop"
    scores: dict[str, Any] | None = None


def test_the_prompt_is_the_instruction_then_its_input():
    assert prompt_text(_Record()) == "What is 2 + 3?"
    assert prompt_text(_Record(instruction="Sum these", input="2, 3")) == "Sum these\n\n2, 3"


def test_the_completion_puts_the_rationale_first_and_labels_the_answer():
    cot = _Record(rationale="Two and three make five.")
    assert completion_text(cot) == "Two and three make five.\n\nAnswer: 5"
    assert completion_text(cot, rationale=False) == "5"
    assert completion_text(_Record()) == "5"
    assert completion_text(_Record(answer=None)) == ""


def test_the_response_is_unlabelled_and_covers_dialogues_and_pairs():
    assert response_text(_Record(rationale="Two and three make five.")) == "Two and three make five.\n\n5"
    assert response_text(_Record(parsed=None)) == "5"
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "Goodbye."},
    ]
    assert response_text(_Record(answer="Hello.", parsed={"conversation": turns})) == "Hello.\nGoodbye."
    assert response_text(_Record(answer="It is 5.", parsed={"chosen": "It is 5.", "rejected": "6"})) == "It is 5."


def test_exports_train_on_the_completion_and_curation_measures_the_response():
    record = _Record(instruction="Sum these", input="2, 3", rationale="Two and three make five.")
    messages = EXPORTERS["openai-chat"].row(record, ExportOptions())["messages"]
    assert messages == [
        {"role": "user", "content": prompt_text(record)},
        {"role": "assistant", "content": completion_text(record)},
    ]
    candidate = candidate_of(record)
    assert (candidate.prompt, candidate.response) == (prompt_text(record), response_text(record))
