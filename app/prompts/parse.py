"""Parsing teacher replies into rationale and final answer. A failure names its reason."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema

# "Answer: 42", "Final answer: 42", "**Answer:** 42" — the last such line wins.
_ANSWER_LINE = re.compile(r"^\W*(?:final\s+)?answer\W*:\W*?\s*(?P<answer>\S.*?)\s*$", re.I | re.M)


class ParseFailure(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Parsed:
    rationale: str | None
    answer: str
    value: Any = None  # the decoded JSON answer, for output_format json


def parse_reply(
    text: str, *, reasoning: str, output_format: str = "text", output_schema: dict[str, Any] | None = None
) -> Parsed:
    text = text.strip()
    if not text:
        raise ParseFailure("empty_reply", "the teacher returned no text")
    if reasoning == "cot":
        matches = list(_ANSWER_LINE.finditer(text))
        if not matches:
            raise ParseFailure("missing_answer", "no final 'Answer:' line in the reply")
        last = matches[-1]
        rationale = text[: last.start()].strip() or None
        answer = last.group("answer").strip().strip("*").strip()
        if rationale is None:
            raise ParseFailure("missing_rationale", "the reply has an answer but no reasoning")
    else:
        rationale, answer = None, text
    if output_format != "json":
        return Parsed(rationale, answer)
    try:
        value = json.loads(answer)
    except json.JSONDecodeError as exc:
        raise ParseFailure("invalid_json", f"the answer is not JSON ({exc.msg})") from None
    if output_schema is not None:
        try:
            jsonschema.validate(value, output_schema)
        except jsonschema.ValidationError as exc:
            raise ParseFailure("schema_mismatch", exc.message[:500]) from None
    return Parsed(rationale, answer, value)
