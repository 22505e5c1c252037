"""Deterministic teacher replies to Distillery's own prompts.

Pure functions: the reply is a function of (seed, messages, sample) only, so a repeated
request gets the same reply byte for byte. Whether a reply is wrong or malformed is drawn
from a hash of the same inputs, each with its own salt so the two are independent.

Protocol (see app/prompts/templates/label.j2): a system prompt containing "step by step"
asks for reasoning and a last line "Answer: <final answer>"; otherwise the reply is the
answer alone. "a single JSON value" in the system prompt (or a JSON `response_format`)
asks for the answer as JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from app.simulator.arithmetic import Evaluation, find_expression, format_number
from app.simulator.structured import json_answer, schema_in

_COT_MARKER = "step by step"
_JSON_MARKER = "json value"
_INPUT_SEPARATOR = "\n\nInput:\n"
# Roughly four characters per token for English text: close enough for budgets and limits.
_CHARS_PER_TOKEN = 4
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
# "positive, negative or neutral", "spam or ham": the choices a classification prompt offers.
_OPTIONS = re.compile(r"(\w+(?:\s*,\s*\w+)*),?\s+or\s+(\w+)")
# Words too common to say what a task is about.
# fmt: off
_STOPWORDS = frozenset({
    "a", "about", "above", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "but", "by", "can", "could", "did", "do", "does", "each", "for", "from",
    "give", "given", "has", "have", "here", "how", "if", "in", "input", "into", "is", "it", "its",
    "just", "more", "most", "not", "of", "on", "one", "only", "or", "other", "over", "please",
    "reply", "return", "should", "so", "some", "such", "task", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "to", "under", "very", "was",
    "were", "what", "when", "where", "whether", "which", "who", "whom", "whose", "why", "will",
    "with", "would", "you", "your",
})
# fmt: on
_OPENERS = (
    "First, I identify what the task asks about: {topics}.",
    "Let me restate the task in terms of its key ideas: {topics}.",
    "The task centres on {topics}, so I start there.",
)


@dataclass(frozen=True)
class Reply:
    content: str
    wrong: bool  # the reply shows a deliberately wrong final answer
    malformed: bool  # the reply breaks the protocol (no Answer line, empty, not JSON)


@dataclass(frozen=True)
class _Prompt:
    key: str  # canonical text of every message: what the hash-based draws depend on
    user: str
    instruction: str
    input: str
    cot: bool
    json_mode: bool
    schema: dict[str, Any] | None


def message_text(message: Any) -> str:
    """The text of one chat message; content may be a string, a list of parts or None."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


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
    sample: str = "",
    response_format: Any = None,
) -> Reply:
    """The reply to `messages`. `sample` names one sampled variant ("" for the greedy one)."""
    prompt = _read(messages, response_format)
    key = f"{prompt.key}\x00{sample}"
    wrong = _draw(seed, "wrong", key) < wrong_rate
    malformed = _draw(seed, "malformed", key) < malformed_rate
    evaluation = find_expression(prompt.user)
    if evaluation is not None:
        reasoning, answer, number = _arithmetic(evaluation, wrong, _pick(seed, "slip", key, 10))
        paragraph = answer
    else:
        reasoning, answer, paragraph = _prose(prompt, wrong, lambda salt, n: _pick(seed, salt, key, n))
        number = None
    if prompt.json_mode:
        answer = paragraph = json_answer(answer, number, prompt.schema)
    if prompt.cot:
        lines = reasoning if malformed else [*reasoning, f"Answer: {answer}"]
        return Reply("\n".join(lines), wrong and not malformed, malformed)
    if malformed:
        # Without an Answer line to leave out, break what the service checks instead.
        content = f"Sure! Here is my answer: {answer}" if prompt.json_mode else ""
        return Reply(content, False, True)
    return Reply(paragraph, wrong, False)


def _read(messages: Sequence[Any], response_format: Any) -> _Prompt:
    system = "\n".join(message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "system")
    users = [message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    user = users[-1] if users else ""
    instruction, _, given_input = user.partition(_INPUT_SEPARATOR)
    key = json.dumps(
        [[m.get("role"), message_text(m)] if isinstance(m, dict) else None for m in messages],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    schema = schema_in(system)
    json_mode = _JSON_MARKER in system.lower() or schema is not None
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        json_mode = True
        declared = (response_format.get("json_schema") or {}).get("schema")
        schema = declared if isinstance(declared, dict) else schema
    return _Prompt(key, user, instruction, given_input, _COT_MARKER in system.lower(), json_mode, schema)


def _draw(seed: int, salt: str, key: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, salt, key)."""
    digest = hashlib.sha256(f"{seed}\x00{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _pick(seed: int, salt: str, key: str, n: int) -> int:
    return int(_draw(seed, salt, key) * n)


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
    topics = _keywords(prompt.instruction) or ["the request"]
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
        mentioned = _keywords(prompt.input)[:3]
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


def _keywords(text: str) -> list[str]:
    """Distinct content words in order of first appearance, at most six."""
    words: list[str] = []
    for word in _WORD.findall(text):
        lowered = word.lower().strip("'-")
        if lowered not in _STOPWORDS and lowered not in words:
            words.append(lowered)
            if len(words) == 6:
                break
    return words


def _options(instruction: str) -> list[str]:
    """The choices the last "A, B or C" in the instruction offers; [] when fewer than two."""
    matches = list(_OPTIONS.finditer(instruction))
    if not matches:
        return []
    last = matches[-1]
    named = [w.strip() for w in last.group(1).split(",")] + [last.group(2)]
    options = [w for w in dict.fromkeys(named) if w and w.lower() not in _STOPWORDS]
    return options if len(options) >= 2 else []
