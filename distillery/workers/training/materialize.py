"""A dataset version as Hugging Face `datasets` in the shape TRL reads, through the same
exporters as a download (so what trains is what a user downloads), split by prompt hash.

- sft: conversational prompt-completion ({"prompt": [...], "completion": [assistant]}) when
  the loss is on the completion only, else {"messages": [...]}; the chat template of the
  student is applied by TRL either way.
- dpo: TRL's conversational {"prompt", "chosen", "rejected"}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from distillery.datasets.download import rows
from distillery.datasets.exporters import ExportOptions
from distillery.datasets.splits import Split
from distillery.training.hyperparameters import SftHyperparameters
from distillery.training.lifecycle import RunSpec


class DataError(Exception):
    """The dataset cannot be trained on as it is."""


@dataclass(frozen=True)
class EvalPrompt:
    messages: list[dict[str, str]]
    # The reference answer alone (no rationale).
    reference: str
    # The reference is a final answer that exact match can check (see `evaluate`).
    final_answer: bool


@dataclass
class Materialized:
    train: Dataset
    eval: Dataset | None
    eval_prompts: list[EvalPrompt] = field(default_factory=list)
    # Rows left out as unusable, e.g. a record without an answer.
    dropped: int = 0


def _all(dataset_id: str, fmt: str, options: ExportOptions, split: Split | None) -> list[dict[str, Any]]:
    return [row for page in rows(dataset_id, fmt, options, split) for row in page]


def _sft_row(row: dict[str, Any], completion_only_loss: bool) -> dict[str, Any] | None:
    messages = row["messages"]
    if len(messages) < 2 or messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        return None
    if completion_only_loss:
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    return {"messages": messages}


def _dpo_row(row: dict[str, Any]) -> dict[str, Any] | None:
    chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
    if not chosen.strip() or not rejected.strip() or chosen == rejected:
        return None
    return row


def _training_rows(spec: RunSpec, split: Split | None) -> tuple[list[dict[str, Any]], int]:
    options = ExportOptions(eval_fraction=spec.eval_split, conversational=True)
    hp = spec.hyperparameters
    assert hp is not None, "only sft and dpo jobs train"
    if isinstance(hp, SftHyperparameters):
        raw = _all(spec.dataset_id, "openai-chat", options, split)
        usable = [r for r in (_sft_row(row, hp.completion_only_loss) for row in raw) if r is not None]
    else:
        raw = _all(spec.dataset_id, "dpo", options, split)
        usable = [r for r in map(_dpo_row, raw) if r is not None]
    return usable, len(raw) - len(usable)


def is_final_answer(reference: str, with_rationale: str) -> bool:
    """A record carries a final answer when the teacher's rationale was kept apart from it
    (chain-of-thought labels), or when the answer is one short line (a number, a label):
    exact match means something there, and not for free-form prose."""
    return with_rationale != reference or ("\n" not in reference and len(reference) <= 100)


def eval_prompts(dataset_id: str, eval_fraction: float = 0.0, split: Split | None = None) -> list[EvalPrompt]:
    """The prompts of `dataset_id` (of its `split` only, if given) whose records carry a
    reference answer, with that answer: a training dataset's held-out split, or a gold set."""
    with_rationale = _all(dataset_id, "openai-chat", ExportOptions(eval_fraction=eval_fraction), split)
    answers = _all(
        dataset_id, "openai-chat", ExportOptions(eval_fraction=eval_fraction, include_rationale=False), split
    )
    prompts = []
    for full, bare in zip(with_rationale, answers, strict=True):
        reference = bare["messages"][-1]["content"]
        if reference.strip():
            prompts.append(
                EvalPrompt(
                    bare["messages"][:-1], reference, is_final_answer(reference, full["messages"][-1]["content"])
                )
            )
    return prompts


def _evaluation_prompts(spec: RunSpec) -> list[EvalPrompt]:
    if spec.evaluate is None:
        return []
    if spec.gold_set_id is not None:
        return eval_prompts(spec.gold_set_id)
    return eval_prompts(spec.dataset_id, spec.eval_split, "eval")


def materialize(spec: RunSpec) -> Materialized:
    held_out = spec.eval_split > 0
    train, dropped = _training_rows(spec, "train" if held_out else None)
    if not train:
        raise DataError(
            f"no usable training rows in dataset {spec.dataset_id}"
            + (f" ({dropped} without an answer)" if dropped else "")
            + (f" after holding out eval_split={spec.eval_split}" if held_out else "")
        )
    evaluation, eval_dropped = _training_rows(spec, "eval") if held_out else ([], 0)
    return Materialized(
        train=Dataset.from_list(train),
        eval=Dataset.from_list(evaluation) if evaluation else None,
        eval_prompts=_evaluation_prompts(spec),
        dropped=dropped + eval_dropped,
    )
