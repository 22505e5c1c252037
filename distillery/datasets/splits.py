"""Deterministic train/eval split by hash of a record's normalised prompt: the same task
lands in the same split in every version and every merge, so no eval prompt leaks into a
later version's train split."""

from __future__ import annotations

from typing import Literal

from distillery.curation.normalize import text_hash

Split = Literal["train", "eval"]
BUCKETS = 10_000
# The share of prompts in the eval split unless a download asks for another.
EVAL_FRACTION = 0.1


def split_of(instruction: str, input_: str, eval_fraction: float) -> Split:
    bucket = int(text_hash(instruction, input_)[:8], 16) % BUCKETS
    return "eval" if bucket < eval_fraction * BUCKETS else "train"
