"""The student answers prompts: held out after training (the eval split, never trained on),
or a user's gold set (`evaluate.dataset_id`, or an evaluate job's dataset).

Where the records carry a final answer, the score is exact match of the student's final
answer against the reference (the teacher's, or the gold one), normalised as the labeler
compares answers. Where they carry free-form answers and the job names
`evaluate.judge_teacher`, that teacher compares the student's answer with the reference in
both orders, a step the synthesis workers run (distillery/training/judging.py), and the result is
win / tie / loss from the student's side. A few samples are kept for a person to read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from distillery.prompts.extract import stated_answer
from distillery.prompts.matching import answers_match
from distillery.training.judging import Comparison
from distillery.workers.training.materialize import EvalPrompt

BATCH = 16
SAMPLES = 5


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[list[dict[str, str]]],
    max_new_tokens: int,
    *,
    samples: int = 1,
    **sampling: Any,
) -> list[str]:
    """Replies to one batch of prompts, left-padded so every prompt ends where replies start:
    greedy, or drawn with `sampling` (do_sample, temperature, top_p); `samples` replies per
    prompt, a prompt's replies side by side."""
    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    # The chat template already holds any special tokens the model expects.
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            num_return_sequences=samples,
            pad_token_id=tokenizer.pad_token_id,
            **{"do_sample": False, **sampling},
        )
    replies = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    # A byte-level model can emit NUL, which Postgres stores in neither text nor JSON.
    return [reply.replace("\x00", "") for reply in replies]


def evaluate(
    model: Any,
    tokenizer: Any,
    prompts: list[EvalPrompt],
    n: int,
    max_new_tokens: int,
    progress: Callable[[int], bool],
) -> tuple[dict[str, Any], list[Comparison]]:
    """The scores, and the free-form answers beside the teacher's for a judge to compare
    (none when a cancel stopped the answering)."""
    chosen = prompts[:n]
    model.eval()
    replies: list[str] = []
    cancelled = False
    for start in range(0, len(chosen), BATCH):
        batch = chosen[start : start + BATCH]
        replies += generate(model, tokenizer, [p.messages for p in batch], max_new_tokens)
        if cancelled := progress(len(replies)):
            break  # score what was answered
    checked = [(p, r) for p, r in zip(chosen, replies, strict=False) if p.final_answer]
    matches = sum(answers_match(stated_answer(r), p.reference) for p, r in checked)
    free_form = [
        Comparison(p.messages[-1]["content"], r, p.reference)
        for p, r in zip(chosen, replies, strict=False)
        if not p.final_answer
    ]
    return {
        "prompts": len(replies),
        "with_final_answer": len(checked),
        "exact_match": round(matches / len(checked), 4) if checked else None,
        "samples": [
            {"prompt": p.messages[-1]["content"], "reference": p.reference, "student": r}
            for p, r in zip(chosen[:SAMPLES], replies, strict=False)
        ],
    }, [] if cancelled else free_form
