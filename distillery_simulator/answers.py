"""Deterministic teacher replies to Distillery's own prompts.

Pure functions: the reply is a function of (seed, messages, sample, rates) only, so a
repeated request gets the same reply byte for byte. Whether a reply is wrong, malformed or
a refusal is drawn from a hash of the same inputs, each with its own salt so they are
independent.

Protocol (the templates in distillery/prompts/templates), told apart by the system prompt:
- label.j2 (anything not below): "step by step" asks for reasoning and a last line
  "Answer: <final answer>"; otherwise the answer alone. "a single JSON value" (or a JSON
  `response_format`) asks for the answer as JSON. Prior turns make it a dialogue turn.
- "JSON list of new tasks" (expand), "prompt rewriter" (evol), '"Equal"' + '"Not Equal"'
  (evol_equal): tasks.py and judging.py.
- "JSON list of subtopics", "JSON list of questions", "JSON list of question-answer pairs":
  topics.py; "SUPPORTED or UNSUPPORTED" (grounded_check), "instruction_following" +
  "Rate the response" (feedback_rate), "data quality judge" (quality_rate), "[[A]]"
  (feedback_compare): judging.py.
- "You play the user" (dialogue_user): dialogue.py.
- "together with its correct final answer" (rationalize.j2, STaR): a label reply that
  reaches the hinted answer (an arithmetic one computed, never wrong).
- A last user message "Your previous reply could not be used:" (repair.j2) is answered as
  the original request, with the draws redrawn.

`reply_styles="mixed"` formats well-formed label, JSON and task-list replies in the real
styles of styles.py, one per request by its own draw; "project" keeps the protocol above.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from distillery_simulator import dialogue, judging, styles, tasks, topics
from distillery_simulator.arithmetic import Evaluation, find_expression, format_number
from distillery_simulator.common import STOPWORDS, Chat, Dice, Rates, Reply, keywords, message_text, read_chat
from distillery_simulator.structured import json_answer, schema_in

__all__ = ["Reply", "compose_reply", "estimate_tokens", "message_text", "prompt_tokens", "truncate_to_tokens"]

_COT_MARKER = "step by step"
_JSON_MARKER = "json value"
_INPUT_SEPARATOR = "\n\nInput:\n"
_REPAIR_MARKER = "Your previous reply could not be used:"
_RATIONALIZE_MARKER = "together with its correct final answer"
_HINT = re.compile(r"\n\n\(Correct final answer, for you only: (?P<answer>.*)\)\s*$", re.S)
REPLY_STYLES = ("project", "mixed")
# Roughly four characters per token for English text: close enough for budgets and limits.
_CHARS_PER_TOKEN = 4
# "positive, negative or neutral", "spam or ham": the choices a classification prompt offers.
_OPTIONS = re.compile(r"(\w+(?:\s*,\s*\w+)*),?\s+or\s+(\w+)")
_OPENERS = (
    "First, I identify what the task asks about: {topics}.",
    "Let me restate the task in terms of its key ideas: {topics}.",
    "The task centres on {topics}, so I start there.",
)
_REFUSAL = "I'm sorry, but I can't help with that."
# Deep in a conversation, a refusal sounds like the canned line dialogue filters look for.
_DIALOGUE_REFUSAL = "As an AI language model, I cannot help with that request."
_Handler = Callable[[Chat, Dice, Rates], Reply]
# (phrases that must all be in the system prompt, lowercased; the reply for that prompt type).
# Checked in order: the grounded pairs' phrase before the questions' one.
_TYPES: tuple[tuple[tuple[str, ...], _Handler], ...] = (
    (("json list of new tasks",), tasks.expand),
    (("prompt rewriter",), tasks.evolve),
    (('"equal"', '"not equal"'), judging.equality),
    (("json list of subtopics",), topics.subtopics),
    (("json list of question-answer pairs",), topics.grounded_pairs),
    (("json list of questions",), topics.questions),
    (("supported or unsupported",), judging.grounded_check),
    (("you play the user",), dialogue.user_turn),
    (("instruction_following", "rate the response"), judging.rate),
    (("data quality judge",), judging.quality),
    (("[[a]]",), judging.compare),
)


@dataclass(frozen=True)
class _Prompt:
    user: str
    instruction: str
    input: str
    cot: bool
    json_mode: bool
    schema: dict[str, Any] | None


def estimate_tokens(text: str) -> int:
    """ceil(len / 4), at least 1: cheap, deterministic and stable across runs."""
    return max(1, math.ceil(len(text) / _CHARS_PER_TOKEN))


def prompt_tokens(messages: Sequence[Any]) -> int:
    return estimate_tokens("".join(message_text(m) for m in messages))


def truncate_to_tokens(text: str, budget: int) -> str:
    """The longest prefix of `text` that `estimate_tokens` counts within `budget`."""
    return text[: max(0, budget) * _CHARS_PER_TOKEN]


def compose_reply(
    messages: Sequence[Any],
    *,
    seed: int,
    wrong_rate: float = 0.0,
    malformed_rate: float = 0.0,
    refusal_rate: float = 0.0,
    sample: str = "",
    response_format: Any = None,
    reply_styles: str = "project",
) -> Reply:
    """The reply to `messages`. `sample` names one sampled variant ("" for the greedy one)."""
    original = _before_repair(messages)
    if original is not None:
        # A repair answers the original request afresh: its own draws, mostly well-formed now.
        return compose_reply(
            original,
            seed=seed,
            wrong_rate=wrong_rate,
            malformed_rate=malformed_rate,
            refusal_rate=refusal_rate,
            sample=f"{sample}/repair",
            response_format=response_format,
            reply_styles=reply_styles,
        )
    chat = read_chat(messages)
    rates = Rates(wrong_rate, malformed_rate, refusal_rate, mixed_styles=reply_styles == "mixed")
    dice = Dice(seed, f"{chat.key}\x00{sample}")
    system = chat.system.lower()
    for markers, handler in _TYPES:
        if all(marker in system for marker in markers):
            return handler(chat, dice, rates)
    if _RATIONALIZE_MARKER in system:
        hint = _HINT.search(chat.user)
        if hint is not None:
            user = chat.user[: hint.start()]
            chat = Chat(chat.messages, chat.system, (*chat.users[:-1], user), chat.key)
            return _label(chat, dice, rates, response_format, hint=hint.group("answer").strip())
    return _label(chat, dice, rates, response_format)


def _before_repair(messages: Sequence[Any]) -> list[Any] | None:
    """The messages up to the reply being repaired, when the last message asks for a repair."""
    if len(messages) < 3 or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        return None
    if not message_text(messages[-1]).lstrip().startswith(_REPAIR_MARKER):
        return None
    before = list(messages[:-1])
    if isinstance(before[-1], dict) and before[-1].get("role") == "assistant":
        before.pop()
    return before if any(isinstance(m, dict) and m.get("role") == "user" for m in before) else None


def _label(chat: Chat, dice: Dice, rates: Rates, response_format: Any, hint: str | None = None) -> Reply:
    prompt = _read(chat, response_format)
    if hint is None and dice.draw("refusal") < rates.refusal:
        multi_turn = dialogue.user_turn_count(chat.messages) > 1
        return Reply(_DIALOGUE_REFUSAL if multi_turn else _REFUSAL, False, False, refused=True)
    # With the answer as a hint (rationalize.j2) the teacher reaches it: never wrong.
    wrong = hint is None and dice.draw("wrong") < rates.wrong
    malformed = dice.draw("malformed") < rates.malformed
    evaluation = find_expression(prompt.user)
    if evaluation is not None:
        reasoning, answer, number = _arithmetic(evaluation, wrong, dice.pick("slip", 10))
        paragraph = answer
    elif len(chat.users) > 1 and not prompt.json_mode:
        # A dialogue's follow-up: an answer that builds on the previous reply.
        reasoning, answer, paragraph = dialogue.follow_up_prose(chat, prompt.user, wrong, dice.pick)
        number = None
    else:
        reasoning, answer, paragraph = _prose(prompt, wrong, dice.pick)
        number = None
        if hint is not None:
            reasoning[-1] = f"Weighing everything together, {hint} fits best."
            answer = paragraph = hint
    # Structured outputs return the bare value, whatever the style: the API enforces it.
    mixed = rates.mixed_styles and not _structured(response_format)
    if prompt.json_mode:
        answer = paragraph = json_answer(answer, number, prompt.schema)
        if mixed and not malformed:
            return Reply(styles.json_value(reasoning if prompt.cot else None, answer, dice), wrong, False)
    if prompt.cot:
        if malformed:
            return Reply("\n".join(reasoning), False, True)
        if mixed and not prompt.json_mode:
            return Reply(styles.cot(reasoning, answer, dice), wrong, False)
        return Reply("\n".join([*reasoning, f"Answer: {answer}"]), wrong, False)
    if malformed:
        # Without an Answer line to leave out, break what the service checks instead: JSON
        # written with Python's quotes.
        content = f"Sure! Here is my answer: {answer.replace(chr(34), chr(39))}" if prompt.json_mode else ""
        return Reply(content, False, True)
    return Reply(paragraph, wrong, False)


def _structured(response_format: Any) -> bool:
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")


def _read(chat: Chat, response_format: Any) -> _Prompt:
    system = chat.system
    user = chat.user
    instruction, _, given_input = user.partition(_INPUT_SEPARATOR)
    schema = schema_in(system)
    json_mode = _JSON_MARKER in system.lower() or schema is not None
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        json_mode = True
        declared = (response_format.get("json_schema") or {}).get("schema")
        schema = declared if isinstance(declared, dict) else schema
    return _Prompt(user, instruction, given_input, _COT_MARKER in system.lower(), json_mode, schema)


def _arithmetic(evaluation: Evaluation, wrong: bool, slip: int) -> tuple[list[str], str, Fraction | None]:
    value = evaluation.value
    if wrong:
        # A slip of 1..5 either way is never zero, so the wrong answer always differs.
        value = Fraction(0) if value is None else value + (slip % 5 + 1) * (1 if slip < 5 else -1)
    lines = [f"We need to evaluate {evaluation.expression}, one operation at a time."]
    last = len(evaluation.steps) - 1
    for number, step in enumerate(evaluation.steps):
        # A wrong reply slips on its last step, so its rationale leads to the wrong answer.
        shown = value if wrong and number == last else None
        lines.append(f"Step {number + 1}: {step.describe(shown)}")
    if value is None:
        lines.append("Division by zero has no value, so the expression is undefined.")
        return lines, "undefined", None
    answer = format_number(value)
    lines.append(f"So the result is {answer}.")
    return lines, answer, value


def _prose(prompt: _Prompt, wrong: bool, pick: Callable[[str, int], int]) -> tuple[list[str], str, str]:
    topics = keywords(prompt.instruction) or ["the request"]
    options = _options(prompt.instruction)
    if options:
        choice = pick("option", len(options))
        answer = options[(choice + 1) % len(options) if wrong else choice]
    else:
        start = pick("answer", len(topics))
        answer = " ".join((topics * 2)[start : start + 2]) if len(topics) > 1 else topics[0]
        answer = f"not {answer}" if wrong else answer
    lines = [_OPENERS[pick("opener", len(_OPENERS))].format(topics=", ".join(topics[:3]))]
    if prompt.input.strip():
        mentioned = keywords(prompt.input)[:3]
        lines.append(
            f"The input mentions {', '.join(mentioned)}, which I weigh against the task."
            if mentioned
            else "The input is short, so I read it in full."
        )
    if options:
        lines.append(f"The possible answers are {', '.join(options)}.")
    lines.append(f"Considering {topics[-1]} together with the rest, {answer} fits best.")
    paragraph = answer if options else f"{answer.capitalize()}. The task turns on {', '.join(topics[:3])}."
    return lines, answer, paragraph


def _options(instruction: str) -> list[str]:
    """The choices the last "A, B or C" in the instruction offers; [] when fewer than two."""
    matches = list(_OPTIONS.finditer(instruction))
    if not matches:
        return []
    last = matches[-1]
    named = [w.strip() for w in last.group(1).split(",")] + [last.group(2)]
    options = [w for w in dict.fromkeys(named) if w and w.lower() not in STOPWORDS]
    return options if len(options) >= 2 else []
