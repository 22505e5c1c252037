"""Final answers, JSON values and task lists found in replies written the way real teachers
write them (GPT-4-, Claude- and Qwen/DeepSeek-class models), and answers compared as values."""

from __future__ import annotations

import pytest

from distillery.methods.self_instruct.propose import parse_tasks
from distillery.prompts.extract import final_answer, find_json, task_list
from distillery.prompts.matching import answer_key, answers_match
from distillery.prompts.parse import ParseFailure, parse_reply

# (reply, expected final answer, expected end of the rationale or None for "no rationale check")
REPLIES = [
    ("Step 1: 6 * 7 = 42.\nAnswer: 42", "42", "6 * 7 = 42."),
    ("We add the two numbers: 17 + 25 = 42.\n\n**Final answer:** 42", "42", "= 42."),
    ("Let's compute.\n\n**Final Answer:** $42$", "42", "compute."),
    ("6 × 7 = 42\n\n**Answer: 42**", "42", "= 42"),
    ("6 × 7 = 42\n\n**Answer:** 42 apples", "42 apples", "= 42"),
    ("Multiplying gives 42.\n\nThe final answer is 42.", "42", "gives 42."),
    ("Multiplying gives 42. The answer is 42.", "42", "gives 42."),
    ("We have 6 groups of 7.\nTherefore, the answer is **42**.", "42", "groups of 7."),
    ("Simplify the fraction.\n\nThe final answer is $\\boxed{\\frac{3}{4}}$.", "3/4", "fraction."),
    ("First, 6 * 7 = 42.\nSo the final answer is $\\boxed{42}$.", "42", "= 42."),
    ("Compute step by step.\n\\[\n\\boxed{42}\n\\]", "42", "step by step."),
    ("Compute.\n\\[ \\boxed{1{,}250} \\]", "1250", "Compute."),
    ("The set is $\\{1, 2\\}$, so the size is\n$$\\boxed{2}$$", "2", "the size is"),
    ("Solve for x: 2x = 10.\n\n$\\boxed{x = 5}$", "x = 5", "2x = 10."),
    ("We need the nested value.\n\\boxed{\\frac{\\sqrt{2}}{2}}", "\\sqrt{2}/2", "nested value."),
    ("The cost is 5 * 250 = 1250 dollars.\n\\boxed{\\$1,250}", "$1250", "dollars."),
    ("The word is a colour.\n\\boxed{\\text{blue}}", "blue", "colour."),
    ("Natalia sold 48/2 = <<48/2=24>>24 clips.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72", "72", "clips."),
    ("She pays 3 * 4 = 12 dollars.\n#### 1,200", "1200", "dollars."),
    ("#### Step 1: Multiply\n6 * 7 = 42\n\n#### Step 2: Check\n42 / 7 = 6\n\nAnswer: 42", "42", "= 6"),
    ("## Step 1\nAdd 2 and 3.\n\n### Final Answer\n5", "5", "Add 2 and 3."),
    ("Reasoning here.\n\n### Final Answer\n\n\\[\n\\boxed{12}\n\\]", "12", "Reasoning here."),
    ("Reasoning here.\n\n**Final Answer**\n\n**42**", "42", "Reasoning here."),
    ("We compute it.\n\n## Final Answer\nThe final answer is $\\boxed{7}$.", "7", "We compute it."),
    ("Reasoning.\nAnswer: 42.", "42", "Reasoning."),
    ("Reasoning.\nAnswer: \\(42\\)", "42", "Reasoning."),
    ("Reasoning.\nAnswer: $-3.5$", "-3.5", "Reasoning."),
    ("Reasoning.\nAnswer: `positive`", "positive", "Reasoning."),
    ('The review praises the food.\nAnswer: "positive"', "positive", "the food."),
    ("Reasoning.\nAnswer: \\text{negative}", "negative", "Reasoning."),
    ("Reasoning.\n\nAnswer: 42\n\nThis works because 6 times 7 is 42, which you can check.", "42", "Reasoning."),
    ("Reasoning.\nFinal Answer: The final answer is $42$. I hope it is correct.", "42", "Reasoning."),
    ("Reasoning.\nFinal answer: 1,000,000", "1000000", "Reasoning."),
    ("Reasoning here.\n\n**42**", "42", "Reasoning here."),
    ("2 + 2 = 4\n\n4", "4", "= 4"),
    ("- 17 + 25 = 42\n- Answer: 42", "42", "= 42"),
    ("Let me think.\n> **Answer:** Paris", "Paris", "think."),
    ("Step 1: 10% of 50 is 5.\nAnswer: 5%", "5%", "is 5."),
    ("It is below freezing.\nAnswer: $-5^\\circ$", "-5°", "freezing."),
    ("Both answers were considered: 3 and 4.\nThe correct answer is (B).", "(B)", "3 and 4."),
    ("Dividing, 1/4 = 0.25.\n\nAnswer: **0.25**", "0.25", "= 0.25."),
    ("Answer: 4 is wrong\nStep 2: check\nFinal answer: **5**", "5", "check"),
]


@pytest.mark.parametrize(("reply", "answer", "rationale_end"), REPLIES)
def test_the_final_answer_is_found_in_real_reply_styles(reply, answer, rationale_end):
    parsed = parse_reply(reply, reasoning="cot")
    assert parsed.answer == answer
    assert parsed.rationale is not None and parsed.rationale.endswith(rationale_end)


@pytest.mark.parametrize(
    "reply",
    [
        "We need to evaluate 2 + 3.\nStep 1: 2 + 3 = 5\nSo the result is 5.",
        "First, I identify what the task asks about: gardening.\nConsidering gardening, bread fits best.",
        "I'm not sure how to approach this one.",
    ],
)
def test_reasoning_without_a_final_answer_is_missing_answer_and_the_repair_names_the_format(reply):
    with pytest.raises(ParseFailure) as failure:
        parse_reply(reply, reasoning="cot")
    assert failure.value.reason == "missing_answer"
    assert 'final line of the form "Answer: <final answer>"' in failure.value.expected


def test_an_answer_without_reasoning_is_missing_rationale():
    for reply in ("Answer: 5", "$\\boxed{5}$", "#### 5"):
        with pytest.raises(ParseFailure) as failure:
            parse_reply(reply, reasoning="cot")
        assert failure.value.reason == "missing_rationale"


def test_plain_replies_are_normalised_when_short_and_kept_when_prose():
    assert parse_reply("**42.**", reasoning="none").answer == "42"
    assert parse_reply("The answer is 42.", reasoning="none").answer == "42"
    prose = "Photosynthesis turns light into chemical energy. The answer is complex: it has two stages, light and dark."
    assert parse_reply(prose, reasoning="none").answer == prose


SCHEMA = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["pos", "neg"]}}}


@pytest.mark.parametrize(
    "reply",
    [
        '{"label": "pos"}',
        '```json\n{\n  "label": "pos"\n}\n```',
        '```\n{"label": "pos"}\n```',
        'Here is the JSON you asked for:\n{"label": "pos"}',
        '{"label": "pos"}\n\nThe review is clearly positive.',
        'Sure! Here it is:\n\n```json\n{"label": "pos"}\n```\n\nLet me know if you need anything else.',
        'Answer: `{"label": "pos"}`',
        '**Answer:**\n```json\n{"label": "pos"}\n```',
    ],
)
def test_json_answers_are_found_in_fences_and_prose_and_checked_against_the_schema(reply):
    assert parse_reply(reply, reasoning="none", output_format="json", output_schema=SCHEMA).value == {"label": "pos"}
    text = f"The review is warm.\n\n{reply}"
    reasoned = parse_reply(text, reasoning="cot", output_format="json", output_schema=SCHEMA)
    assert reasoned.value == {"label": "pos"} and reasoned.rationale.startswith("The review is warm.")


def test_json_that_fits_the_schema_is_preferred_and_failures_name_the_format():
    reply = 'An example shape: {"label": "maybe"}.\n\nAnswer: {"label": "neg"}'
    assert parse_reply(reply, reasoning="cot", output_format="json", output_schema=SCHEMA).value == {"label": "neg"}
    unusable = [('{"label": "meh"}', "schema_mismatch"), ("{label: pos}", "invalid_json"), ("", "empty_reply")]
    for text, reason in unusable:
        with pytest.raises(ParseFailure) as failure:
            parse_reply(text, reasoning="none", output_format="json", output_schema=SCHEMA)
        assert failure.value.reason == reason
        assert "Reply with only a JSON value matching this JSON Schema" in failure.value.expected
    assert find_json('Numbers [1, 2] then {"a": [3]} end', dict) == {"a": [3]}


@pytest.mark.parametrize(
    ("reply", "instructions", "inputs"),
    [
        ('[{"instruction": "Sum 2 and 3", "input": ""}, "Name a prime"]', ["Sum 2 and 3", "Name a prime"], ["", ""]),
        ('```json\n[\n  {"instruction": "Sum 2 and 3"}\n]\n```', ["Sum 2 and 3"], [""]),
        ('Here are tasks:\n[{"instruction": "Sum 2 and 3"}]\nHope these help!', ["Sum 2 and 3"], [""]),
        ('{"tasks": [{"instruction": "Sum 2 and 3", "input": "x"}]}', ["Sum 2 and 3"], ["x"]),
        ("Here are some new tasks:\n\n1. Sum 2 and 3.\n2. Name a prime.", ["Sum 2 and 3.", "Name a prime."], ["", ""]),
        ("- **Sum** 2 and 3\n* Name a prime", ["Sum 2 and 3", "Name a prime"], ["", ""]),
        ("1. **Task:** Sum 2 and 3\n2. **Task:** Name a prime", ["Sum 2 and 3", "Name a prime"], ["", ""]),
        (
            "Instruction: Classify the review.\nInput: I loved it.\n\nInstruction: Name a prime.\nInput: <noinput>",
            ["Classify the review.", "Name a prime."],
            ["I loved it.", ""],
        ),
        (
            "### Task 1\n**Instruction:** Classify the review.\n**Input:** I loved it.\n\n"
            "### Task 2\n**Instruction:** Name a prime.\n**Input:** None",
            ["Classify the review.", "Name a prime."],
            ["I loved it.", ""],
        ),
    ],
)
def test_task_lists_are_read_from_json_markdown_lists_and_instruction_blocks(reply, instructions, inputs):
    tasks = task_list(reply)
    assert [t["instruction"] for t in tasks] == instructions
    assert [t["input"] for t in tasks] == inputs


@pytest.mark.parametrize("reply", ["", "  \n", "Sorry, I have no ideas.", "[]", '[{"instruction": "Sum 2', '[""]'])
def test_an_unusable_task_list_is_a_parse_failure_that_asks_for_json(reply):
    with pytest.raises(ParseFailure) as failure:
        parse_tasks(reply)
    assert "JSON list of tasks" in failure.value.expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("42", "42.0"),
        ("42", "42.00"),
        ("1,000", "1000"),
        ("42 apples", "42"),
        ("$5", "5"),
        ("$1,250.50", "1250.5"),
        ("0.5", "1/2"),
        ("\\frac{1}{2}", "0.5"),
        ("x = 5", "5"),
        ("-3", "−3"),
        ("Paris", "paris."),
        ("**Positive**", "positive"),
        ('{"a": 1, "b": 2}', '{"b": 2.0, "a": 1}'),
        ("$\\boxed{42}$", "42"),
    ],
)
def test_equal_answers_match(a, b):
    assert answers_match(a, b) and answer_key(a) == answer_key(b)


@pytest.mark.parametrize(("a", "b"), [("42", "43"), ("42", "420"), ("1/2", "2"), ("Paris", "London"), ("5", None)])
def test_different_answers_do_not_match(a, b):
    assert not answers_match(a, b)


def test_no_answer_is_found_in_an_empty_reply():
    assert final_answer("") is None and final_answer("   ") is None
