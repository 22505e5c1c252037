"""A generate job's sampling: `samples` answers per prompt, reproducible by seed, stopped
by a cancel between batches."""

from __future__ import annotations

import pytest

from distillery.schemas.training import Generate
from distillery.workers.training.sampling import BATCH_SEQUENCES, sample
from tests.support.tiny_model import build_tiny_model

PROMPTS = [[{"role": "user", "content": f"What is {a} + {a + 3}?"}] for a in range(5)]


@pytest.fixture(scope="module")
def model_and_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = build_tiny_model(tmp_path_factory.mktemp("tiny"), [p[0]["content"] for p in PROMPTS] + ["Answer: 5"])
    return AutoModelForCausalLM.from_pretrained(directory), AutoTokenizer.from_pretrained(directory)


def test_each_prompt_gets_its_samples_and_a_seed_repeats_them(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    params = Generate(samples=3, temperature=1.0, max_new_tokens=6, seed=7)
    drawn = sample(model, tokenizer, PROMPTS, params, lambda done: False)
    assert [len(answers) for answers in drawn] == [3] * len(PROMPTS)
    assert sample(model, tokenizer, PROMPTS, params, lambda done: False) == drawn
    other = sample(model, tokenizer, PROMPTS, params.model_copy(update={"seed": 8}), lambda done: False)
    assert other != drawn


def test_a_cancel_stops_sampling_after_the_batch_it_was_seen_in(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    params = Generate(samples=BATCH_SEQUENCES // 2, max_new_tokens=4)
    seen: list[int] = []
    drawn = sample(model, tokenizer, PROMPTS, params, lambda done: seen.append(done) or True)
    assert seen == [2] and len(drawn) == 2
