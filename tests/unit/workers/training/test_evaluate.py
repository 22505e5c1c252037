from __future__ import annotations

from pathlib import Path

import pytest

from distillery.prompts.extract import stated_answer
from distillery.workers.training.evaluate import generate
from distillery.workers.training.materialize import is_final_answer
from tests.support.tiny_model import build_tiny_model


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("3 plus 6 makes 9.\n\nAnswer: 9", "9"),
        ("Answer: 4. No wait.\n\nAnswer: 5", "5"),
        ("  42 ", "42"),
        ("", ""),
        ("So 6 * 7 = 42.\n\n$\\boxed{42}$", "42"),
        ("Three packs of 4.\n#### 12", "12"),
    ],
)
def test_the_final_answer_is_found_as_in_a_teachers_reply(reply, answer):
    assert stated_answer(reply) == answer


def test_exact_match_applies_to_separate_final_answers_and_short_lines_only():
    assert is_final_answer("9", "3 plus 6 makes 9.\n\nAnswer: 9")
    assert is_final_answer("Paris", "Paris")
    assert not is_final_answer("First, preheat.\nThen bake.", "First, preheat.\nThen bake.")
    assert not is_final_answer("word " * 40, "word " * 40)


def test_batched_left_padded_generation_matches_one_prompt_at_a_time(tmp_path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prompts = ["What is 1 + 4?", "What is 12 + 15 and then some more?", "Hi"]
    directory = build_tiny_model(tmp_path / "tiny", prompts + ["Answer: 5"])
    model = AutoModelForCausalLM.from_pretrained(directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    conversations = [[{"role": "user", "content": p}] for p in prompts]

    batched = generate(model, tokenizer, conversations, max_new_tokens=8)
    alone = [generate(model, tokenizer, [c], max_new_tokens=8)[0] for c in conversations]
    assert batched == alone
    assert all(reply for reply in batched)
