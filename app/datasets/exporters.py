"""Export formats: one function per format turning a record into one JSON line's object.

Registry keyed by the public format name; adding a format is adding one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.db.models import Record


@dataclass(frozen=True)
class ExportOptions:
    # Distilling step-by-step: the rationale is worth training on; keep it by default.
    include_rationale: bool = True
    # Prompt erasure: the student does not see the teacher's system prompt by default.
    include_system: bool = False


def _prompt(record: Record) -> str:
    return f"{record.instruction}\n\n{record.input}" if record.input else record.instruction


def completion(record: Record, options: ExportOptions) -> str:
    answer = record.answer or ""
    if options.include_rationale and record.rationale:
        return f"{record.rationale}\n\nAnswer: {answer}"
    return answer


def _turns(record: Record, options: ExportOptions) -> list[dict[str, str]]:
    """The conversation: every turn of a dialogue, or the prompt and its completion."""
    conversation = record.parsed.get("conversation")
    if conversation:
        return [{"role": m["role"], "content": m["content"]} for m in conversation]
    return [
        {"role": "user", "content": _prompt(record)},
        {"role": "assistant", "content": completion(record, options)},
    ]


def openai_chat(record: Record, options: ExportOptions) -> dict[str, Any]:
    messages = []
    if options.include_system and record.system_prompt:
        messages.append({"role": "system", "content": record.system_prompt})
    return {"messages": messages + _turns(record, options)}


def dpo(record: Record, options: ExportOptions) -> dict[str, Any]:
    """TRL's preference format: prompt, chosen, rejected."""
    return {"prompt": _prompt(record), "chosen": record.parsed["chosen"], "rejected": record.parsed["rejected"]}


def alpaca(record: Record, options: ExportOptions) -> dict[str, Any]:
    return {"instruction": record.instruction, "input": record.input, "output": completion(record, options)}


EXPORTERS: dict[str, Callable[[Record, ExportOptions], dict[str, Any]]] = {
    "openai-chat": openai_chat,
    "alpaca": alpaca,
    "dpo": dpo,
}
