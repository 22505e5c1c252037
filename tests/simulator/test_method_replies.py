"""The simulator's replies to every elicitation prompt, rendered from the real templates:
well-formed shapes, meaningful verdicts and the rates of bad replies the service filters."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from distillery.curation.similarity import rouge_l, tokens
from distillery.prompts.parse import ParseFailure, parse_reply
from distillery.prompts.render import SAMPLE_CONTEXT, render
from distillery_simulator import SimulatorConfig, create_app
from distillery_simulator.answers import Reply, compose_reply
from distillery_simulator.arithmetic import find_expression

# Self-Instruct's filters as the service applies them (distillery/methods/self_instruct/propose.py).
MODALITY = re.compile(
    r"\b(?:images?|pictures?|graphs?|files?|maps?|draw|plot|go to|video|audio|music|flowchart|diagram)\b", re.I
)
ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")
ARITHMETIC_EXAMPLES = [{"instruction": f"What is {i + 3} * {i + 7} + {i}?", "input": ""} for i in range(8)]
PROSE_EXAMPLES = [
    {"instruction": "Describe how photosynthesis converts sunlight into chemical energy.", "input": ""},
    {"instruction": "Suggest a name for a bakery that sells sourdough and pastries.", "input": ""},
    {"instruction": "Explain the rules of chess to a ten-year-old.", "input": ""},
    {"instruction": "Classify the sentiment of this review as positive or negative.", "input": "I loved every bite."},
    {"instruction": "Summarize the causes of the French revolution.", "input": ""},
    {"instruction": "Give advice to someone starting a vegetable garden.", "input": ""},
]
RIVERS = " ".join(
    f"The {name} river is {n * 100 + 50} kilometres long and flows into the {sea} sea."
    for n, (name, sea) in enumerate([("Avon", "North"), ("Tamar", "Celtic"), ("Severn", "Irish"), ("Exe", "Red")])
)


def messages(template: str, **context: Any) -> list[dict[str, str]]:
    return render(template, **{**SAMPLE_CONTEXT, **context}).messages


def ask(
    template: str, *, seed: int = 0, sample: str = "", rates: dict[str, float] | None = None, **context: Any
) -> Reply:
    return compose_reply(messages(template, **context), seed=seed, sample=sample, **(rates or {}))


def json_list(text: str) -> list[Any] | None:
    """What the service's list parsers accept: the JSON list between the first [ and last ]."""
    start, end = text.find("["), text.rfind("]")
    try:
        value = json.loads(text[start : end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


def ratings(text: str) -> dict[str, int] | None:
    """The four aspect ratings, as the service's parser reads them; None when it would fail."""
    start, end = text.find("{"), text.rfind("}")
    try:
        value = json.loads(text[start : end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(a), dict) for a in ASPECTS):
        return None
    found = {a: value[a].get("rating") for a in ASPECTS}
    return found if all(isinstance(r, int) and 1 <= r <= 5 for r in found.values()) else None


def verdict(text: str) -> str | None:
    found = [v for v in ("[[A]]", "[[B]]", "[[C]]") if v in text]
    return max(found, key=text.rfind)[2] if found else None


def score(instruction: str, response: str, seed: int = 0) -> float:
    rated = ratings(ask("feedback_rate", seed=seed, instruction=instruction, input="", response=response).content)
    assert rated is not None
    return sum(rated.values()) / 4


def expand_tasks(examples: list[dict[str, str]], requests: int, **rates: float) -> list[list[dict[str, Any]] | None]:
    return [
        json_list(ask("expand", sample=f"{n}/0", rates=rates, examples=examples[n % 3 :][:6], count=5).content)
        for n in range(requests)
    ]


# --- Self-Instruct -----------------------------------------------------------------------


@pytest.mark.parametrize("examples", [ARITHMETIC_EXAMPLES, PROSE_EXAMPLES], ids=["arithmetic", "prose"])
def test_expand_lists_the_requested_tasks_with_each_filter_exercised_at_its_rate(examples: list[Any]) -> None:
    replies = expand_tasks(examples, 200)
    assert all(tasks is not None and len(tasks) == 5 for tasks in replies)
    kinds: Counter[str] = Counter()
    novel = []
    for n, tasks in enumerate(replies):
        shown = examples[n % 3 :][:6]
        for task in tasks or []:
            assert set(task) == {"instruction", "input"} and all(isinstance(v, str) for v in task.values())
            instruction = task["instruction"]
            assert instruction.isascii() and instruction[0].isalnum()
            closest = max(rouge_l(tokens(instruction), tokens(e["instruction"])) for e in shown)
            if closest >= 0.7:
                kinds["near_copy"] += 1
            elif MODALITY.search(instruction):
                kinds["modality"] += 1
            elif len(instruction.split()) < 4:
                kinds["short"] += 1
            else:
                kinds["novel"] += 1
                novel.append(instruction)
    assert 60 <= kinds["near_copy"] <= 145  # about 10% of 1000
    assert 25 <= kinds["modality"] <= 80  # about 5%
    assert 25 <= kinds["short"] <= 80  # about 5%
    if examples is ARITHMETIC_EXAMPLES:
        # The service labels these, so the simulator must be able to compute them.
        assert all(find_expression(task) is not None for task in novel)
    pairs = list(itertools.combinations(novel[:300], 2))
    similar = sum(rouge_l(tokens(a), tokens(b)) >= 0.7 for a, b in pairs)
    assert similar / len(pairs) < 0.005
    assert len(set(novel)) > 0.99 * len(novel)


def test_expand_with_malformed_rate_one_never_gives_a_json_list() -> None:
    for examples in (ARITHMETIC_EXAMPLES, PROSE_EXAMPLES):
        replies = [
            ask("expand", sample=f"{n}/0", rates={"malformed_rate": 1.0}, examples=examples, count=4) for n in range(50)
        ]
        assert all(r.malformed and json_list(r.content) is None and r.content.strip() for r in replies)


def test_expand_reads_the_count_and_builds_prose_tasks_from_the_examples_words() -> None:
    tasks = json_list(ask("expand", examples=PROSE_EXAMPLES, count=12).content)
    assert tasks is not None and len(tasks) == 12
    example_words = {w for e in PROSE_EXAMPLES for w in tokens(e["instruction"]) if len(w) > 4}
    novel = [
        task["instruction"]
        for reply in expand_tasks(PROSE_EXAMPLES, 40)
        for task in reply or []
        if max(rouge_l(tokens(task["instruction"]), tokens(e["instruction"])) for e in PROSE_EXAMPLES) < 0.7
    ]
    assert sum(bool(set(tokens(task)) & example_words) for task in novel) > len(novel) / 4


# --- Evol-Instruct -----------------------------------------------------------------------

OPERATIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input")


@pytest.mark.parametrize("operation", OPERATIONS)
def test_an_in_depth_rewrite_keeps_the_arithmetic_answerable(operation: str) -> None:
    for i in range(20):
        given = f"What is {i + 3} * {i + 7} + {i}?"
        reply = ask("evol", seed=1, instruction=given, operation=operation)
        evolved = reply.content.removeprefix("#Rewritten Prompt#: ")
        assert not reply.malformed and evolved.startswith(given)
        original, kept = find_expression(given), find_expression(evolved)
        assert original is not None and kept is not None and kept.value == original.value


def test_a_breadth_rewrite_is_a_new_task_of_the_same_domain() -> None:
    changed = 0
    for i in range(20):
        given = f"What is {i + 3} * {i + 7} + {i}?"
        evolved = ask("evol", instruction=given, operation="breadth").content.removeprefix("#Rewritten Prompt#: ")
        assert find_expression(evolved) is not None
        changed += evolved != given
    assert changed >= 14
    prose = ask("evol", seed=2, instruction="Describe how volcanoes form.", operation="breadth").content
    assert prose and find_expression(prose) is None


def test_rewrites_come_back_unchanged_or_leaking_markers_at_their_rates() -> None:
    fates: Counter[str] = Counter()
    for i in range(400):
        given = f"Describe how topic number {i} shapes modern life." if i % 2 else f"What is {i} + {i + 9}?"
        content = ask("evol", instruction=given, operation=OPERATIONS[i % 5]).content
        assert "#Given Prompt#" not in content
        fates["leaked" if "#Rewritten Prompt#" in content else "unchanged" if content == given else "evolved"] += 1
    assert 20 <= fates["unchanged"] <= 65  # about 10%
    assert 8 <= fates["leaked"] <= 35  # about 5%


def test_a_malformed_rewrite_is_empty() -> None:
    reply = ask("evol", rates={"malformed_rate": 1.0}, instruction="What is 2 + 3?", operation="deepen")
    assert reply.malformed and reply.content == ""


def test_the_equality_check_says_equal_only_when_nothing_changed() -> None:
    parent = "What is 17 + 25?"
    unchanged = next(
        content
        for i in range(200)
        if (content := ask("evol", sample=f"{i}/0", instruction=parent, operation="deepen").content) == parent
    )
    assert ask("evol_equal", parent=parent, evolved=unchanged).content == "Equal"
    assert ask("evol_equal", parent=parent, evolved="what is 17+25").content == "Equal"
    evolved = f"{parent} Show each intermediate result."
    assert ask("evol_equal", parent=parent, evolved=evolved).content == "Not Equal"


# --- Topics and grounded pairs -------------------------------------------------------------


def test_subtopics_and_questions_are_distinct_lists_about_the_topic() -> None:
    for count in (3, 7, 20):
        subtopics = json_list(ask("subtopics", topic="astronomy", count=count).content)
        assert subtopics is not None and len(subtopics) == count == len(set(subtopics))
        assert all(isinstance(s, str) and "astronomy" in s.lower() for s in subtopics)
        questions = json_list(ask("questions", topic_path=["astronomy", subtopics[0]], count=count).content)
        assert questions is not None and len(questions) == count == len(set(questions))
        assert all(q.endswith("?") and "astronomy" in q.lower() for q in questions)
    # The permutation varies with the topic and the sample.
    assert len({ask("subtopics", topic="cooking", count=3, sample=f"{n}/0").content for n in range(10)}) > 3


@pytest.mark.parametrize("template", ["subtopics", "questions", "grounded_qa"])
def test_malformed_topic_lists_are_not_json(template: str) -> None:
    for n in range(20):
        reply = ask(template, sample=f"{n}/0", rates={"malformed_rate": 1.0}, passage=RIVERS, count=3)
        assert reply.malformed and reply.content and json_list(reply.content) is None


def test_grounded_pairs_quote_the_passage_and_the_check_tells_fabrications_apart() -> None:
    pairs = json_list(ask("grounded_qa", passage=RIVERS, title="Rivers", count=4).content)
    assert pairs is not None and len(pairs) == 4
    for pair in pairs:
        assert set(pair) == {"question", "answer"} and pair["question"].endswith("?")
        assert pair["answer"] in RIVERS
        check = ask("grounded_check", passage=RIVERS, question=pair["question"], answer=pair["answer"]).content
        first, justification = check.split("\n", 1)
        assert first == "SUPPORTED" and justification.strip()

    fabricated = json_list(ask("grounded_qa", rates={"wrong_rate": 1.0}, passage=RIVERS, count=4).content)
    assert fabricated is not None and len(fabricated) == 4
    for pair in fabricated:
        assert pair["answer"] not in RIVERS
        check = ask("grounded_check", passage=RIVERS, question=pair["question"], answer=pair["answer"]).content
        assert check.splitlines()[0] == "UNSUPPORTED"


def test_the_wrong_rate_fabricates_about_that_share_of_pairs() -> None:
    answers = [
        pair["answer"]
        for n in range(60)
        for pair in json_list(ask("grounded_qa", sample=f"{n}/0", rates={"wrong_rate": 0.3}, passage=RIVERS).content)
        or []
    ]
    assert len(answers) == 180
    assert 30 <= sum(a not in RIVERS for a in answers) <= 80


def test_the_grounding_check_counts_content_words() -> None:
    def first_line(answer: str) -> str:
        return ask("grounded_check", passage=RIVERS, question="How long is the Tamar?", answer=answer).content.split(
            "\n"
        )[0]

    assert first_line("The Tamar river is 150 kilometres long.") == "SUPPORTED"
    assert first_line("The Tamar river is 150 kilometres long and full of salmon and otters.") == "UNSUPPORTED"


# --- Dialogues -----------------------------------------------------------------------------


def conversation(instruction: str, seed: int = 0) -> list[dict[str, str]]:
    opening = messages("label", instruction=instruction)
    return [opening[-1], {"role": "assistant", "content": compose_reply(opening, seed=seed).content}]


def test_the_simulated_user_follows_up_on_the_last_reply() -> None:
    follow_ups = set()
    for n in range(30):
        turns = conversation(f"Describe how photosynthesis helps plants grow in season {n}.")
        reply = ask("dialogue_user", sample=f"{n}/0", conversation=turns)
        assert not reply.malformed and reply.content.strip().endswith("?")
        last = set(tokens(turns[-1]["content"]))
        assert set(tokens(reply.content)) & last - {"the", "a", "of", "is"}
        follow_ups.add(reply.content)
    assert len(follow_ups) > 10
    arithmetic = ask("dialogue_user", conversation=conversation("What is 17 + 25?")).content
    assert find_expression(arithmetic) is not None or "operations" in arithmetic
    assert ask("dialogue_user", rates={"malformed_rate": 1.0}, conversation=turns).content == ""


def test_an_assistant_turn_answers_the_follow_up_and_keeps_the_protocol() -> None:
    turns = conversation("Describe how photosynthesis converts sunlight into chemical energy.")
    system = messages("label")[:1]
    question = "Could you explain photosynthesis in more detail?"
    reply = compose_reply([*system, *turns, {"role": "user", "content": question}], seed=0)
    parsed = parse_reply(reply.content, reasoning="cot")
    assert "photosynthesis" in parsed.answer.lower() and parsed.rationale
    assert "previous reply" in parsed.rationale
    follow_up = compose_reply([*system, *turns, {"role": "user", "content": "Now what is 6 * 7?"}], seed=0)
    assert parse_reply(follow_up.content, reasoning="cot").answer == "42"


# --- Refusals ------------------------------------------------------------------------------


def test_refusals_replace_answers_at_their_rate_without_an_answer_line() -> None:
    replies = [ask("label", rates={"refusal_rate": 0.3}, instruction=f"Explain topic number {i}.") for i in range(300)]
    refused = [r for r in replies if r.refused]
    assert 60 <= len(refused) <= 120
    for reply in refused:
        assert reply.content == "I'm sorry, but I can't help with that."
        with pytest.raises(ParseFailure):
            parse_reply(reply.content, reasoning="cot")
    plain = ask("label", rates={"refusal_rate": 1.0}, reasoning="none", instruction="What is 2 + 3?")
    assert plain.content == "I'm sorry, but I can't help with that."
    turns = [*conversation("What is 2 + 3?"), {"role": "user", "content": "Why is that?"}]
    deep = compose_reply([*messages("label")[:1], *turns], seed=0, refusal_rate=1.0)
    assert deep.content == "As an AI language model, I cannot help with that request."
    # Only answers refuse: the other prompts are unaffected.
    assert json_list(ask("expand", rates={"refusal_rate": 1.0}, examples=PROSE_EXAMPLES).content) is not None


def test_refusal_rate_is_validated_and_served() -> None:
    with pytest.raises(ValueError, match="refusal_rate"):
        SimulatorConfig(refusal_rate=1.5)
    http = TestClient(create_app(SimulatorConfig(refusal_rate=1.0)))
    body = {"model": "sim-teacher-1", "messages": messages("label"), "temperature": 0}
    response = http.post("/v1/chat/completions", json=body)
    assert response.json()["choices"][0]["message"]["content"] == "I'm sorry, but I can't help with that."


# --- Feedback ------------------------------------------------------------------------------


def test_ratings_reward_the_right_arithmetic_answer_and_penalise_refusals() -> None:
    for i in range(10):
        instruction, value = f"What is {i + 3} * {i + 7} + {i}?", (i + 3) * (i + 7) + i
        right = compose_reply(messages("label", instruction=instruction), seed=0).content
        assert score(instruction, right) >= 4
        assert score(instruction, f"Answer: {value}") >= 4
        assert score(instruction, f"Answer: {value + 7}") <= 2
        assert score(instruction, f"The total is {value}.") > score(instruction, f"The total is {value - 3}.")
    refusal = ratings(
        ask(
            "feedback_rate", instruction="Explain tides.", input="", response="I'm sorry, but I can't help with that."
        ).content
    )
    assert refusal is not None and refusal["helpfulness"] <= 2 and refusal["instruction_following"] <= 2


def test_prose_ratings_are_a_spread_fixed_by_the_response() -> None:
    scores = [
        score("Describe how tides work.", f"Tides rise and fall because of the moon, version {n}.") for n in range(40)
    ]
    assert len(set(scores)) > 5 and min(scores) >= 2 and max(scores) <= 5
    assert score("Describe how tides work.", "The moon pulls the sea.") == score(
        "Describe how tides work.", "The moon pulls the sea."
    )


def test_malformed_ratings_fail_the_services_parser() -> None:
    replies = [
        ask("feedback_rate", sample=f"{n}/0", rates={"malformed_rate": 1.0}, response=f"Answer: {n}") for n in range(40)
    ]
    assert all(r.malformed and ratings(r.content) is None for r in replies)
    shapes = {"{" in r.content for r in replies}
    assert shapes == {True, False}  # some miss an aspect, some are not JSON at all


def test_pairwise_prefers_the_right_answer_in_both_orders_and_is_sometimes_position_biased() -> None:
    verdicts: Counter[tuple[str | None, str | None]] = Counter()
    for i in range(100):
        instruction = f"What is {i + 3} * {i + 7} + {i}?"
        right, wrong = f"Answer: {(i + 3) * (i + 7) + i}", f"Answer: {(i + 3) * (i + 7) + i + 7}"
        first = ask("feedback_compare", instruction=instruction, input="", response_a=right, response_b=wrong).content
        second = ask("feedback_compare", instruction=instruction, input="", response_a=wrong, response_b=right).content
        assert first.splitlines()[-1] in ("[[A]]", "[[B]]", "[[C]]") and len(first.splitlines()) == 2
        verdicts[(verdict(first), verdict(second))] += 1
    assert verdicts[("A", "B")] >= 75
    assert 3 <= verdicts[("A", "A")] <= 20  # the biased judge, exposed by asking both orders
    assert set(verdicts) <= {("A", "B"), ("A", "A")}
    tie = ask(
        "feedback_compare", instruction="What is 2 + 2?", input="", response_a="Answer: 4", response_b="Answer: 4"
    )
    assert verdict(tie.content) in ("C", "A")
    malformed = ask("feedback_compare", rates={"malformed_rate": 1.0}, response_a="5", response_b="6")
    assert malformed.malformed and verdict(malformed.content) is None


# --- Repair, determinism, structured outputs ------------------------------------------------


def repaired(original: list[dict[str, str]], first: Reply, **rates: float) -> Reply:
    repair = messages("repair", error="the task list is not valid JSON")[-1]
    return compose_reply([*original, {"role": "assistant", "content": first.content}, repair], seed=0, **rates)


def test_a_repair_answers_the_original_request_with_fresh_draws() -> None:
    fixed = 0
    for n in range(100):
        original = messages("expand", examples=ARITHMETIC_EXAMPLES[n % 4 :][:4], count=3 + n % 3)
        first = compose_reply(original, seed=0, sample=f"{n}/0", malformed_rate=0.3)
        if not first.malformed:
            continue
        second = repaired(original, first, malformed_rate=0.3)
        if not second.malformed:
            tasks = json_list(second.content)
            assert tasks is not None and len(tasks) == 3 + n % 3
            fixed += 1
    assert fixed >= 12  # about 70% of some 30 malformed first replies

    label = messages("label", instruction="What is 17 + 25?")
    first = compose_reply(label, seed=0, malformed_rate=1.0)
    second = repaired(label, first)
    assert parse_reply(second.content, reasoning="cot").answer == "42"


def test_every_reply_is_a_pure_function_of_its_inputs() -> None:
    prompts = [
        messages("expand", examples=PROSE_EXAMPLES),
        messages("evol", operation="breadth"),
        messages("evol_equal"),
        messages("subtopics"),
        messages("questions"),
        messages("grounded_qa", passage=RIVERS),
        messages("grounded_check"),
        messages("dialogue_user"),
        messages("feedback_rate"),
        messages("feedback_compare"),
    ]
    rates = {"wrong_rate": 0.5, "malformed_rate": 0.5, "refusal_rate": 0.5}
    for prompt in prompts:
        first = compose_reply(prompt, seed=4, sample="1/2", **rates)
        assert compose_reply(prompt, seed=4, sample="1/2", **rates) == first
        assert first.content or first.malformed


def test_a_declared_json_schema_still_shapes_the_answer() -> None:
    schema = {"type": "object", "properties": {"result": {"type": "number"}}, "required": ["result"]}
    prompt = messages("label", reasoning="none", output_format="json", instruction="What is 6 * 7?")
    reply = compose_reply(
        prompt, seed=0, response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    )
    assert json.loads(reply.content) == {"result": 42}
