"""Parsing teacher replies into rationale and final answer, with distillery/prompts/extract.py.

A failure names its reason and the exact format a repair must ask for: a repair is sent
only when nothing usable was found, and it says what to write, not just that it failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonschema

from distillery.prompts.extract import clean_answer, final_answer, json_candidates

ANSWER_FORMAT = (
    'Work step by step, then end with one final line of the form "Answer: <final answer>" and nothing after it.'
)
PLAIN_FORMAT = "Reply with the final answer only."
# A repair prompt quotes the schema; a huge one is cut rather than resent whole.
_MAX_SCHEMA_CHARS = 2000
# A short plain reply is its own answer, normalised; a longer one is prose and kept as written.
_SHORT_WORDS = 12


class ParseFailure(Exception):
    def __init__(self, reason: str, detail: str, expected: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.expected = expected  # the format a repair asks for, in the teacher's words


@dataclass(frozen=True)
class Parsed:
    rationale: str | None
    answer: str
    value: Any = None  # the decoded JSON answer, for output_format json


def json_format(reasoning: str, schema: dict[str, Any] | None) -> str:
    """What a JSON answer must look like, as a repair prompt says it."""
    fits = f" matching this JSON Schema: {json.dumps(schema)[:_MAX_SCHEMA_CHARS]}" if schema else ""
    if reasoning == "cot":
        return f'Work step by step, then end with one final line "Answer: <JSON value on one line>"{fits}.'
    return f"Reply with only a JSON value{fits}, and nothing else."


def parse_reply(
    text: str, *, reasoning: str, output_format: str = "text", output_schema: dict[str, Any] | None = None
) -> Parsed:
    text = text.strip()
    cot = reasoning == "cot"
    if output_format == "json":
        return _json_reply(text, cot, output_schema, json_format(reasoning, output_schema))
    expected = ANSWER_FORMAT if cot else PLAIN_FORMAT
    if not text:
        raise ParseFailure("empty_reply", "the teacher returned no text", expected)
    found = final_answer(text)
    if not cot:
        if len(text.split()) <= _SHORT_WORDS:
            return Parsed(None, clean_answer(text) if found is None else found.answer)
        explicit = found is not None and found.how not in ("phrase", "last_line")
        return Parsed(None, found.answer if explicit and found is not None else text)
    if found is None:
        raise ParseFailure(
            "missing_answer", "no final answer in the reply (no 'Answer:' line, \\boxed{} or 'Final Answer')", expected
        )
    rationale = text[: found.start].strip() or None
    if rationale is None:
        raise ParseFailure("missing_rationale", "the reply has an answer but no reasoning", expected)
    return Parsed(rationale, found.answer)


def _json_reply(text: str, cot: bool, schema: dict[str, Any] | None, expected: str) -> Parsed:
    if not text:
        raise ParseFailure("empty_reply", "the teacher returned no text", expected)
    candidates = json_candidates(text)
    if not candidates:
        if cot and final_answer(text) is None:
            raise ParseFailure("missing_answer", "no final answer and no JSON value in the reply", expected)
        raise ParseFailure("invalid_json", "the reply holds no valid JSON value", expected)
    chosen, problem = candidates[0], None
    if schema is not None:
        for candidate in candidates:
            try:
                jsonschema.validate(candidate[1], schema)
            except jsonschema.ValidationError as exc:
                problem = problem or exc.message[:500]
                continue
            chosen, problem = candidate, None
            break
        if problem is not None:
            raise ParseFailure("schema_mismatch", problem, expected)
    start, value = chosen
    rationale = text[:start].strip() or None if cot else None
    if cot and rationale is None:
        raise ParseFailure("missing_rationale", "the reply has an answer but no reasoning", expected)
    return Parsed(rationale, json.dumps(value, ensure_ascii=False), value)
