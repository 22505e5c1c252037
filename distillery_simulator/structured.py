"""Shaping a simulated answer into the JSON value a prompt asked for.

Our label prompt asks for "a single JSON value on one line" and may carry a JSON Schema;
an OpenAI request may carry `response_format` instead. The simulator answers with a
minimal value that conforms to the common schema keywords (type, enum, const, properties,
required, items, minItems), filled from the plain answer.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from distillery_simulator.arithmetic import format_number

_SCHEMA_MARKER = "JSON Schema:"
# Deep enough for any real output schema; a hostile schema must not recurse without end.
_MAX_DEPTH = 8


def schema_in(system: str) -> dict[str, Any] | None:
    """The JSON Schema embedded after "JSON Schema:" in a system prompt, if any."""
    start = system.find(_SCHEMA_MARKER)
    if start < 0:
        return None
    text = system[start + len(_SCHEMA_MARKER) :].lstrip()
    try:
        schema, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return None
    return schema if isinstance(schema, dict) else None


def json_answer(answer: str, number: Fraction | None, schema: dict[str, Any] | None) -> str:
    """One line of JSON: the number or the text, shaped to `schema` when there is one."""
    if schema is None:
        # format_number gives a valid JSON number (no exponent, no trailing dot).
        return format_number(number) if number is not None else json.dumps(answer)
    value = _value_for(schema, answer, number, depth=0)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _value_for(schema: Any, answer: str, number: Fraction | None, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return answer
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        # The option the plain answer names, else the first: deterministic either way.
        named = [v for v in schema["enum"] if str(v).lower() == answer.lower()]
        return (named or schema["enum"])[0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return _value_for(options[0], answer, number, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        properties = schema.get("properties") or {}
        wanted = schema.get("required") or list(properties)
        return {
            name: _value_for(properties.get(name, {}), answer, number, depth + 1)
            for name in wanted
            if isinstance(name, str)
        }
    if kind == "array":
        count = max(1, int(schema.get("minItems") or 0))
        item = _value_for(schema.get("items", {}), answer, number, depth + 1)
        return [item] * count
    if kind == "integer":
        return round(number) if number is not None else len(answer.split())
    if kind == "number":
        if number is None:
            return float(len(answer.split()))
        return number.numerator if number.denominator == 1 else float(format_number(number))
    if kind == "boolean":
        return len(answer) % 2 == 0
    if kind == "null":
        return None
    return answer
