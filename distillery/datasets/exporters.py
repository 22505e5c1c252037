"""Export formats: one function per format turning a record into one row (a JSON line).

Registry keyed by the public format name, with the dataset kind each format is for;
adding a format is adding one entry.

- `openai-chat`: {"messages": [...]} for the OpenAI fine-tuning API and TRL's SFTTrainer.
- `prompt-completion`: TRL's {"prompt", "completion"} (conversational lists for dialogues).
- `alpaca`: {"instruction", "input", "output"}, with LLaMA-Factory's "history" of earlier
  turns for dialogues.
- `sharegpt`: {"conversations": [{"from": "system"|"human"|"gpt", "value"}]}.
- `dpo`: TRL's {"prompt", "chosen", "rejected"}; with `conversational`, message lists.
- `openai-dpo`: OpenAI's {"input": {"messages"}, "preferred_output", "non_preferred_output"}.
- `candidates`: an uploaded candidates file's lines, {"instruction", "input", "output",
  "candidates"}, for a candidates dataset (a student's samples, from a generate training job):
  a downloaded file uploads again as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from distillery.curation.record_text import RecordText, completion_text, prompt_text
from distillery.datasets.splits import EVAL_FRACTION


class Record(RecordText, Protocol):
    """The columns an export reads (rows.page_of_records selects just these)."""

    @property
    def system_prompt(self) -> str | None: ...
    @property
    def parsed(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ExportOptions:
    # Distilling step-by-step: the rationale is worth training on; keep it by default.
    include_rationale: bool = True
    # Prompt erasure: the student does not see the teacher's system prompt by default.
    include_system: bool = False
    # dpo: message lists instead of plain strings (TRL's conversational preference format).
    conversational: bool = False
    # Share of prompts in the eval split (deterministic by prompt hash; see splits.py).
    eval_fraction: float = EVAL_FRACTION


def _completion(record: Record, options: ExportOptions) -> str:
    return completion_text(record, rationale=options.include_rationale)


def _system(record: Record, options: ExportOptions) -> list[dict[str, str]]:
    if options.include_system and record.system_prompt:
        return [{"role": "system", "content": record.system_prompt}]
    return []


def _turns(record: Record, options: ExportOptions) -> list[dict[str, str]]:
    """The conversation: every turn of a dialogue, or the prompt and its completion."""
    conversation = record.parsed.get("conversation")
    if conversation:
        return [{"role": m["role"], "content": m["content"]} for m in conversation]
    return [
        {"role": "user", "content": prompt_text(record)},
        {"role": "assistant", "content": _completion(record, options)},
    ]


def openai_chat(record: Record, options: ExportOptions) -> dict[str, Any]:
    return {"messages": _system(record, options) + _turns(record, options)}


def prompt_completion(record: Record, options: ExportOptions) -> dict[str, Any]:
    if record.parsed.get("conversation"):
        messages = _system(record, options) + _turns(record, options)
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    system = record.system_prompt if options.include_system and record.system_prompt else ""
    prompt = f"{system}\n\n{prompt_text(record)}" if system else prompt_text(record)
    return {"prompt": prompt, "completion": _completion(record, options)}


def alpaca(record: Record, options: ExportOptions) -> dict[str, Any]:
    conversation = record.parsed.get("conversation")
    row: dict[str, Any]
    if not conversation:
        row = {"instruction": record.instruction, "input": record.input, "output": _completion(record, options)}
    else:
        turns = _turns(record, options)
        pairs = [[turns[i]["content"], turns[i + 1]["content"]] for i in range(0, len(turns) - 1, 2)]
        row = {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1], "history": pairs[:-1]}
    if options.include_system and record.system_prompt:
        row["system"] = record.system_prompt
    return row


_SPEAKERS = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt(record: Record, options: ExportOptions) -> dict[str, Any]:
    messages = _system(record, options) + _turns(record, options)
    return {"conversations": [{"from": _SPEAKERS[m["role"]], "value": m["content"]} for m in messages]}


def dpo(record: Record, options: ExportOptions) -> dict[str, Any]:
    chosen, rejected = record.parsed["chosen"], record.parsed["rejected"]
    if not options.conversational:
        return {"prompt": prompt_text(record), "chosen": chosen, "rejected": rejected}
    return {
        "prompt": _system(record, options) + [{"role": "user", "content": prompt_text(record)}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def openai_dpo(record: Record, options: ExportOptions) -> dict[str, Any]:
    return {
        "input": {"messages": _system(record, options) + [{"role": "user", "content": prompt_text(record)}]},
        "preferred_output": [{"role": "assistant", "content": record.parsed["chosen"]}],
        "non_preferred_output": [{"role": "assistant", "content": record.parsed["rejected"]}],
    }


def candidates(record: Record, options: ExportOptions) -> dict[str, Any]:
    return {
        "instruction": record.instruction,
        "input": record.input,
        "output": record.answer,
        "candidates": list(record.parsed.get("candidates", [])),
    }


@dataclass(frozen=True)
class Exporter:
    row: Callable[[Record, ExportOptions], dict[str, Any]]
    kind: str  # the dataset kind the format is for: "sft", "preference" or "candidates"


EXPORTERS: dict[str, Exporter] = {
    "openai-chat": Exporter(openai_chat, "sft"),
    "prompt-completion": Exporter(prompt_completion, "sft"),
    "alpaca": Exporter(alpaca, "sft"),
    "sharegpt": Exporter(sharegpt, "sft"),
    "dpo": Exporter(dpo, "preference"),
    "openai-dpo": Exporter(openai_dpo, "preference"),
    "candidates": Exporter(candidates, "candidates"),
}
