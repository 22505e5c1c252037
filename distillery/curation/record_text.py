"""The text of a record, defined once: its prompt, its completion and its response.

Every reader of a record agrees on these: the curation passes and the dataset stats measure
the response, the exporters write the prompt and the completion, and the judge reads the
completion. A record is anything with the record's text columns: an ORM row, a selected
row, an export row or a method's draft.
"""

from __future__ import annotations

from typing import Any, Protocol

# Distilling step-by-step: the rationale first, then the final answer on a line of its own.
# The student learns to write this label, and `distillery/workers/training/evaluate.py` finds its final
# answer after it, as in a teacher's reply.
ANSWER_LABEL = "Answer: "


class RecordText(Protocol):
    @property
    def instruction(self) -> str: ...
    @property
    def input(self) -> str: ...
    @property
    def rationale(self) -> str | None: ...
    @property
    def answer(self) -> str | None: ...
    @property
    def parsed(self) -> dict[str, Any] | None: ...


def prompt_text(record: RecordText) -> str:
    """The task as the student reads it: the instruction, then its input if any."""
    return f"{record.instruction}\n\n{record.input}" if record.input else record.instruction


def completion_text(record: RecordText, *, rationale: bool = True, label: str = ANSWER_LABEL) -> str:
    """The reply to the record's instruction: its rationale (when kept), then its final
    answer after `label`; the answer alone when there is no rationale."""
    answer = record.answer or ""
    if rationale and record.rationale:
        return f"{record.rationale}\n\n{label}{answer}"
    return answer


def split_completion(text: str) -> tuple[str | None, str]:
    """(rationale, answer) of a completion, as `completion_text` wrote it: the text before
    the last answer label and the text after it; no rationale when there is no label."""
    rationale, label, answer = text.rpartition(f"\n\n{ANSWER_LABEL}")
    return (rationale, answer) if label and rationale else (None, text)


def response_text(record: RecordText) -> str:
    """Everything the record answers, as curation and stats measure it: a dialogue's
    assistant turns, a preference pair's chosen response, else the rationale and the
    answer. Unlabelled: the passes measure the teacher's words, not the export's format."""
    parsed = record.parsed or {}
    conversation = parsed.get("conversation")
    if conversation:
        return "\n".join(m["content"] for m in conversation if m["role"] == "assistant")
    if "chosen" in parsed:
        chosen: str = parsed["chosen"]
        return chosen
    return completion_text(record, label="")
