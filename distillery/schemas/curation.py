"""Curation settings: the checks a method applies while it makes records, and the
set-level passes run over all of a job's accepted records (or over a dataset, again, to
make a new version). Defaults are the published ones (see METHODS.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from distillery.schemas.base import InputModel, Name


class NearDedup(InputModel):
    # Instructions are short: word unigrams+bigrams or character 5-grams. Bigrams keep two
    # questions about different things apart ("the capital of France" / "of Spain": 0.69)
    # while a reworded copy stays above 0.7 (bench/curation.py: recall 0.993).
    shingle: Literal["word", "char"] = "word"
    n: int = Field(default=2, ge=1, le=16, description="word k-grams for k = 1..n, or character n-grams")
    num_perm: int = Field(default=128, ge=16, le=1024, description="MinHash permutations")
    threshold: float = Field(default=0.7, gt=0.0, le=1.0, description="Jaccard similarity that makes a duplicate")
    # Templated tasks ("3 apples" / "7 apples", "about Paris" / "about Lima") are not copies.
    same_particulars: bool = Field(default=True, description="duplicates must also share their numbers and names")


class Heuristics(InputModel):
    min_response_words: int = Field(default=1, ge=0, le=100_000)
    max_response_words: int = Field(default=4000, ge=1, le=1_000_000)
    max_prompt_words: int = Field(default=4000, ge=1, le=1_000_000)
    refusals: bool = Field(default=True, description="reject short apologies ('I'm sorry, but...', 'As an AI...')")
    # Degenerate loops: the share of a response's word 3-grams that repeat an earlier one.
    max_repeated_ngram_share: float = Field(default=0.5, gt=0.0, le=1.0)


class Judge(InputModel):
    # AlpaGasus kept ratings of 4.5 and up on its 0-5 scale: 9 on this 1-10 one.
    min_score: float = Field(default=9.0, ge=1.0, le=10.0, description="judge quality score (1-10) to keep")


class Decontaminate(InputModel):
    datasets: list[Name] = Field(min_length=1, max_length=32, description="uploaded eval sets (purpose 'eval')")
    # GPT-3 decontaminated with 13-grams; an eval item shorter than n is matched whole.
    n: int = Field(default=13, ge=3, le=50)


class Curation(InputModel):
    # While records are made:
    # Self-consistency on GSM8K-style tasks: 0.6 (METHODS.md).
    min_agreement: float = Field(default=0.6, ge=0.0, le=1.0)
    # Self-Instruct: a new task this close (ROUGE-L F1) to one in the pool is rejected.
    max_similarity: float = Field(default=0.7, gt=0.0, le=1.0)
    judge: Judge | None = Field(default=None, description="the judge teacher rates each record 1-10")
    gold: Literal["reject", "keep", "rationalize"] = Field(
        default="reject",
        description="a final answer unlike the seed's gold answer: rejected (gold_mismatch), kept (a score), "
        "or rationalized (asked again with the gold answer as a hint, STaR)",
    )
    # Over the whole set, in this order:
    dedup: bool = Field(default=True, description="remove exact duplicates (normalised text)")
    near_dedup: NearDedup | None = NearDedup()
    max_seed_similarity: float | None = Field(
        default=None, gt=0.0, le=1.0, description="reject records this close (ROUGE-L F1) to a seed task"
    )
    heuristics: Heuristics | None = Heuristics()
    decontaminate: Decontaminate | None = None
    max_records: int | None = Field(default=None, ge=1, le=10_000_000, description="keep the best-scored records")
    # Deita's diversity floor: a record this close (ROUGE-L F1) to one already selected is passed over.
    diversity: float = Field(default=0.9, gt=0.0, le=1.0)
