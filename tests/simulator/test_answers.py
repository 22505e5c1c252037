"""The simulator's replies to our prompts: arithmetic, wrong and malformed draws, token estimates."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from distillery.prompts.parse import ParseFailure, parse_reply
from distillery_simulator.answers import compose_reply, estimate_tokens, prompt_tokens, truncate_to_tokens
from distillery_simulator.arithmetic import find_expression

COT_SYSTEM = (
    "You are a careful expert tutor. Think step by step and explain your reasoning clearly.\n"
    "Work through the problem step by step first. End your reply with one final line of the form "
    '"Answer: <final answer>" and nothing after it.'
)
PLAIN_SYSTEM = "You are a careful expert. Answer the task accurately and concisely.\nReply with the final answer only."


def cot(user: str, system: str = COT_SYSTEM) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def plain(user: str) -> list[dict[str, str]]:
    return cot(user, PLAIN_SYSTEM)


def final_answer(content: str) -> str:
    last = content.splitlines()[-1]
    assert last.startswith("Answer: "), content
    return last.removeprefix("Answer: ")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is 17 + 25?", "42"),
        ("Compute (3 + 4) * 12.", "84"),
        ("What is 2 + 3 * 4?", "14"),
        ("What is 10 / 4?", "2.5"),
        ("What is 1 / 3?", "0.333333"),
        ("What is 0.1 + 0.2?", "0.3"),
        ("What is -3 + 5?", "2"),
        ("What is 2 * 3.5?", "7"),
        ("Calculate 100 - 250.", "-150"),
    ],
)
def test_arithmetic_is_answered_correctly_with_and_without_reasoning(question: str, expected: str) -> None:
    assert final_answer(compose_reply(cot(question), seed=0).content) == expected
    assert compose_reply(plain(question), seed=0).content == expected


def test_the_rationale_walks_each_operation_in_evaluation_order() -> None:
    lines = compose_reply(cot("Compute (3 + 4) * 12."), seed=0).content.splitlines()
    assert [line for line in lines if line.startswith("Step")] == ["Step 1: 3 + 4 = 7", "Step 2: 7 * 12 = 84"]

    lines = compose_reply(cot("What is 2 + 3 * 4?"), seed=0).content.splitlines()
    assert [line for line in lines if line.startswith("Step")] == ["Step 1: 3 * 4 = 12", "Step 2: 2 + 12 = 14"]


def test_the_expression_can_sit_in_the_input_block() -> None:
    reply = compose_reply(cot("Evaluate the expression.\n\nInput:\n6 * (2 + 5)"), seed=0)
    assert final_answer(reply.content) == "42"


def test_division_by_zero_is_undefined_with_an_explanation() -> None:
    content = compose_reply(cot("What is 5 / (3 - 3)?"), seed=0).content
    assert final_answer(content) == "undefined"
    assert "division by zero" in content.lower()
    assert compose_reply(plain("What is 5 / (3 - 3)?"), seed=0).content == "undefined"


@pytest.mark.parametrize(
    "text",
    [
        "Chapter 3 begins here.",
        "__import__('os').system('echo hi') + 1",
        "9 ** 9 ** 9 ** 9",  # a power tower would hang an eval-based simulator
        "Name the capital of France.",
    ],
)
def test_only_plain_arithmetic_is_evaluated(text: str) -> None:
    started = time.perf_counter()
    assert find_expression(text) is None
    assert time.perf_counter() - started < 0.5


def test_the_same_prompt_and_seed_give_the_same_reply_byte_for_byte() -> None:
    for messages in (cot("What is 17 + 25?"), cot("Summarise the causes of the French revolution.")):
        first = compose_reply(messages, seed=7, wrong_rate=0.5, malformed_rate=0.5)
        assert compose_reply(messages, seed=7, wrong_rate=0.5, malformed_rate=0.5) == first


def test_the_seed_changes_which_prompts_are_wrong() -> None:
    prompts = [cot(f"What is {i} + {i * 3}?") for i in range(200)]
    wrong_0 = {i for i, m in enumerate(prompts) if compose_reply(m, seed=0, wrong_rate=0.5).wrong}
    wrong_1 = {i for i, m in enumerate(prompts) if compose_reply(m, seed=1, wrong_rate=0.5).wrong}
    assert wrong_0 != wrong_1
    assert 60 <= len(wrong_0) <= 140


def test_wrong_rate_one_makes_every_final_answer_wrong() -> None:
    for a, b in [(17, 25), (3, 4), (100, 7), (0, 0), (12, 5)]:
        reply = compose_reply(cot(f"What is {a} + {b}?"), seed=3, wrong_rate=1.0)
        assert reply.wrong
        assert final_answer(reply.content) != str(a + b)
        # The rationale stays consistent with the wrong answer it reaches.
        assert f"= {final_answer(reply.content)}" in reply.content
        assert compose_reply(plain(f"What is {a} + {b}?"), seed=3, wrong_rate=1.0).content != str(a + b)


def test_wrong_rate_one_picks_another_of_the_offered_options() -> None:
    messages = cot("Classify the sentiment as positive, negative or neutral.\n\nInput:\nWhat a lovely day.")
    right = final_answer(compose_reply(messages, seed=0).content)
    wrong = final_answer(compose_reply(messages, seed=0, wrong_rate=1.0).content)
    assert {right, wrong} <= {"positive", "negative", "neutral"}
    assert right != wrong


def test_malformed_rate_one_drops_the_answer_line_so_the_service_rejects_it() -> None:
    reply = compose_reply(cot("What is 17 + 25?"), seed=0, malformed_rate=1.0)
    assert reply.malformed
    assert "Answer:" not in reply.content
    with pytest.raises(ParseFailure) as failure:
        parse_reply(reply.content, reasoning="cot")
    assert failure.value.reason == "missing_answer"


def test_malformed_plain_reply_is_empty() -> None:
    reply = compose_reply(plain("What is 17 + 25?"), seed=0, malformed_rate=1.0)
    assert reply.malformed and reply.content == ""


def test_wrong_and_malformed_are_drawn_independently() -> None:
    replies = [
        compose_reply(cot(f"Explain topic number {i}."), seed=0, wrong_rate=0.5, malformed_rate=0.5) for i in range(400)
    ]
    malformed = sum(r.malformed for r in replies)
    # wrong is only reported when visible, i.e. on well-formed replies: about a quarter.
    wrong_and_visible = sum(r.wrong for r in replies)
    assert 150 <= malformed <= 250
    assert 60 <= wrong_and_visible <= 140


def test_well_formed_prose_reply_parses_and_mentions_the_instruction() -> None:
    content = compose_reply(cot("Describe how photosynthesis converts sunlight into chemical energy."), seed=0).content
    parsed = parse_reply(content, reasoning="cot")
    assert parsed.rationale is not None and "photosynthesis" in parsed.rationale
    assert parsed.answer


def test_plain_prompts_get_no_reasoning_and_no_answer_line() -> None:
    content = compose_reply(plain("Describe how photosynthesis converts sunlight."), seed=0).content
    assert "Answer:" not in content and "\n" not in content
    assert content.endswith(".")


def test_json_prompts_get_a_value_that_fits_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["spam", "ham"]}, "score": {"type": "number"}},
        "required": ["label", "score"],
    }
    system = (
        "You are a careful expert.\nThe final answer must be a single JSON value on one line that "
        f"conforms to this JSON Schema: {json.dumps(schema)}.\n" + COT_SYSTEM
    )
    for question in ("Is this message spam or ham?\n\nInput:\nWin money now", "What is 6 * 7?"):
        parsed = parse_reply(
            compose_reply(cot(question, system), seed=0).content,
            reasoning="cot",
            output_format="json",
            output_schema=schema,
        )
        jsonschema.validate(parsed.value, schema)
    plain_json = compose_reply(
        [
            {"role": "system", "content": "Reply with a single JSON value."},
            {"role": "user", "content": "What is 6 * 7?"},
        ],
        seed=0,
    )
    assert json.loads(plain_json.content) == 42


def test_sampled_variants_differ_but_each_is_reproducible() -> None:
    messages = cot("Suggest a name for a bakery that sells sourdough and pastries.")
    variants = [compose_reply(messages, seed=0, sample=f"None/{i}").content for i in range(8)]
    assert len(set(variants)) > 1
    assert variants == [compose_reply(messages, seed=0, sample=f"None/{i}").content for i in range(8)]


def test_token_estimates_are_a_quarter_of_the_characters_rounded_up() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert prompt_tokens([{"role": "system", "content": "abcd"}, {"role": "user", "content": "abcde"}]) == 3
    assert prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "abcdefgh"}]}]) == 2
    assert estimate_tokens(truncate_to_tokens("x" * 100, 7)) == 7


def test_mixed_reply_styles_vary_per_request_repeat_exactly_and_parse_to_the_same_answer() -> None:
    from distillery.prompts.matching import answers_match

    contents = []
    for i in range(60):
        question, gold = f"What is {i + 3} * {i + 7} + {i}?", str((i + 3) * (i + 7) + i)
        reply = compose_reply(cot(question), seed=0, reply_styles="mixed")
        assert reply.content == compose_reply(cot(question), seed=0, reply_styles="mixed").content
        assert parse_reply(reply.content, reasoning="cot").answer == gold
        wrong = compose_reply(cot(question), seed=0, wrong_rate=1.0, reply_styles="mixed")
        assert wrong.wrong and not answers_match(parse_reply(wrong.content, reasoning="cot").answer, gold)
        contents.append(reply.content)
    assert sum("Answer: " in c.splitlines()[-1] for c in contents) < 20  # most replies use another style
    assert any("\\boxed" in c for c in contents) and any("####" in c for c in contents)
