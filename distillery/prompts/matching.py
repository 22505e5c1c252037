"""When two final answers are the same answer: what self-consistency votes on and what a
gold answer is compared with.

A key, not a fuzzy score: numbers compare as numbers (42 == 42.0 == "42.00", 1,000 ==
1000, 1/2 == 0.5), with units, currency signs and a leading "x =" ignored ("42 apples" ==
42, "$5" == 5); JSON values compare as values (key order and spacing ignored); any other
text compares case-, punctuation- and spacing-insensitively, as exact-duplicate detection
does.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from distillery.curation.normalize import normalize
from distillery.prompts.extract import clean_answer

# "-1,234.5", "+3", ".5", "1/2", "3e5"; a currency sign before, up to three unit words after.
_NUMBER = re.compile(
    r"^(?:[a-z]\s*=\s*)?(?:[$€£¥₹]|usd|eur|gbp)?\s*(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"
    r"(?:\s*/\s*\d+(?:\.\d*)?)?)\s*(?P<unit>%|°|[^\W\d_][^\d]{0,30})?$",
    re.I,
)


def answer_key(text: str) -> str:
    """A canonical form of an answer: equal keys are the same answer."""
    text = (text or "").strip()
    if text[:1] in "{[":
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict | list):
            return "json:" + json.dumps(_canonical(decoded), sort_keys=True, ensure_ascii=False)
    cleaned = clean_answer(text)
    number = _number(cleaned.replace("−", "-").replace(",", ""))
    if number is not None:
        return f"number:{number.numerator}/{number.denominator}"
    return "text:" + normalize(cleaned)


def answers_match(a: str | None, b: str | None) -> bool:
    """Whether two answers are the same answer (None matches nothing)."""
    return a is not None and b is not None and answer_key(a) == answer_key(b)


def _number(value: str) -> Fraction | None:
    found = _NUMBER.match(value.strip())
    if found is None:
        return None
    unit = (found.group("unit") or "").strip()
    if unit and len(unit.split()) > 3:
        return None
    number = found.group("number").replace(" ", "")
    try:
        if "/" in number:
            top, bottom = number.split("/")
            return Fraction(Decimal(top)) / Fraction(Decimal(bottom)) if Decimal(bottom) != 0 else None
        return Fraction(Decimal(number))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None


def _canonical(value: object) -> object:
    """Numbers inside JSON compare as numbers too: 42 and 42.0 are one value."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        number = Fraction(value)
        return str(number)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value
