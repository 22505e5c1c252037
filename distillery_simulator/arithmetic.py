"""Finding the arithmetic in a prompt and evaluating it safely, step by step.

The expression is parsed with `ast` and walked by hand: only numbers, + - * / and unary
signs are accepted, so a prompt can never make the simulator run code. Values are exact
`Fraction`s, so 0.1 + 0.2 is 0.3 and the printed steps agree with the final answer.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from fractions import Fraction

# Runs of characters that can belong to an expression; letters and "?" end a run.
_CANDIDATE = re.compile(r"[-+*/().\d\s]+")
_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}
# Bounds on one prompt's work: a request must never cost the event loop noticeable time.
_MAX_EXPRESSION_CHARS = 400
_MAX_OPERATIONS = 64
_DECIMALS = 6


@dataclass(frozen=True)
class Step:
    """One operation in evaluation order; `result` is None when it divides by zero."""

    left: Fraction | None  # None for a negation
    operator: str
    right: Fraction
    result: Fraction | None

    def describe(self, result: Fraction | None = None) -> str:
        shown = self.result if result is None else result
        operation = (
            f"-({format_number(self.right)})"
            if self.left is None
            else f"{format_number(self.left)} {self.operator} {format_number(self.right)}"
        )
        if shown is None:
            return f"{operation} is undefined, because division by zero is not defined."
        return f"{operation} = {format_number(shown)}"


@dataclass(frozen=True)
class Evaluation:
    expression: str
    steps: tuple[Step, ...]
    value: Fraction | None  # None: the expression divides by zero


class _DivisionByZero(Exception):
    pass


def format_number(value: Fraction) -> str:
    """Integers without ".0"; others rounded to 6 decimals with trailing zeros stripped."""
    if value.denominator == 1:
        return str(value.numerator)
    scaled = round(value * 10**_DECIMALS)
    sign = "-" if scaled < 0 else ""
    whole, fraction = divmod(abs(scaled), 10**_DECIMALS)
    digits = f"{fraction:0{_DECIMALS}d}".rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}" if whole else "0"


def find_expression(text: str) -> Evaluation | None:
    """The expression in `text` with the most operations (the first on a tie), evaluated."""
    best: Evaluation | None = None
    for match in _CANDIDATE.finditer(text.replace("×", "*").replace("÷", "/")):
        source = _clean(match.group())
        if len(source) > _MAX_EXPRESSION_CHARS or not any(c.isdigit() for c in source):
            continue
        tree = _parse(source)
        if tree is None:
            continue
        evaluation = _evaluate(source, tree)
        if evaluation is not None and (best is None or len(evaluation.steps) > len(best.steps)):
            best = evaluation
    return best


def _clean(source: str) -> str:
    # "Compute (3 + 4) * 12." ends a sentence, not a decimal; stray brackets from prose go.
    source = " ".join(source.split()).rstrip(". ")
    while source.startswith("(") and source.count("(") > source.count(")"):
        source = source[1:].lstrip()
    while source.endswith(")") and source.count(")") > source.count("("):
        source = source[:-1].rstrip()
    return source


def _parse(source: str) -> ast.expr | None:
    try:
        tree = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: an integer literal past the digit limit
        return None
    operations = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _OPERATORS:
                return None
            operations += 1
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.UAdd | ast.USub):
                return None
        elif isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                return None
        elif not isinstance(node, ast.operator | ast.unaryop):
            return None
    # A bare number ("Chapter 3") is not arithmetic; an expression has an operation.
    return tree if 0 < operations <= _MAX_OPERATIONS else None


def _evaluate(source: str, tree: ast.expr) -> Evaluation | None:
    steps: list[Step] = []
    try:
        value: Fraction | None = _walk(tree, steps)
    except _DivisionByZero:
        value = None
    except (ValueError, OverflowError):  # inf/nan literals such as 1e999
        return None
    return Evaluation(source, tuple(steps), value)


def _walk(node: ast.expr, steps: list[Step]) -> Fraction:
    if isinstance(node, ast.Constant):
        # str() keeps the literal's decimal digits: Fraction("0.1") is exactly 1/10.
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp):
        operand = _walk(node.operand, steps)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.operand, ast.Constant):  # "-3" is a number, not a step
            return -operand
        steps.append(Step(None, "-", operand, -operand))
        return -operand
    assert isinstance(node, ast.BinOp)  # _parse admitted nothing else
    left, right = _walk(node.left, steps), _walk(node.right, steps)
    operator = _OPERATORS[type(node.op)]
    if operator == "/" and right == 0:
        steps.append(Step(left, operator, right, None))
        raise _DivisionByZero
    match operator:
        case "+":
            result = left + right
        case "-":
            result = left - right
        case "*":
            result = left * right
        case _:
            result = left / right
    steps.append(Step(left, operator, right, result))
    return result
