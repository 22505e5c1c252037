"""What one template render may cost: Jinja2's immutable sandbox with every costly step bounded.

A deadline cannot stop work done in C (`10 ** 10 ** 9`, `'%1000000000s' % x`, `[s] * 10 ** 8`
hold the GIL until they finish), so each such step is priced before it runs and refused when
too big. The invariants, for a render under `limits()`:

- every value the template makes prints as at most MAX_VALUE characters (ints at most
  MAX_INT_BITS bits), checked before the C work that would build a bigger one, and after
  calls and filters for what they return;
- a loop runs at most MAX_ITERATIONS times in all, `range()` at most MAX_RANGE long;
- calls (macros, `loop()`, `caller()`) nest at most MAX_DEPTH deep;
- every loop iteration, call, filter and operator checks the render's deadline.

A refusal is a `TemplateTooCostly`, a jinja2 `SecurityError`, so it is a TemplateError
like any other broken template.
"""

from __future__ import annotations

import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import Namespace
from jinja2.visitor import NodeTransformer

# Five times the longest prompt (render.MAX_PROMPT_CHARS): room for a value a filter then
# cuts down, and a megabyte at most for any one step.
MAX_VALUE = 1_000_000
# ~1200 decimal digits, under Python's 4300-digit int/str conversion limit.
MAX_INT_BITS = 4096
MAX_RANGE = 10_000
MAX_ITERATIONS = 100_000
MAX_DEPTH = 32


class TemplateTooCostly(SecurityError):
    """The template asked for more than a render may cost."""


@dataclass
class _Budget:
    seconds: float
    deadline: float
    iterations: int = 0
    depth: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def limits(seconds: float) -> Iterator[None]:
    """Renders inside share one budget of `seconds` (an enclosing budget, if any, wins)."""
    if _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget(seconds, time.monotonic() + seconds))
    try:
        yield
    finally:
        _budget.reset(token)


def _tick() -> _Budget | None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateTooCostly(f"rendering took over {budget.seconds:g}s")
    return budget


def weight(value: Any, limit: int = MAX_VALUE) -> int:
    """About how many characters `value` prints as, counting shared parts each time they
    appear (`[s, s]` weighs twice `s`); stops counting once past `limit`."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1  # ~0.3 digits per bit, rounded up
        elif isinstance(item, list | tuple | set | frozenset | types.MappingProxyType):
            total += 2 + 2 * len(item)
            stack.extend(item.items() if isinstance(item, types.MappingProxyType) else item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.items())
        elif isinstance(item, type({}.items()) | type({}.keys()) | type({}.values())):
            total += 16 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(getattr(item, "_Namespace__attrs", {}))  # its repr shows its contents
        else:
            total += 24
    return total


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_VALUE:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list | tuple):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _size(value: Any) -> int:
    """What `value` prints as on its own (a string without quotes)."""
    return len(value) if isinstance(value, str | bytes) else weight(value)


def check_value(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise TemplateTooCostly(f"the template makes a number over {MAX_INT_BITS} bits")
    if _size(value) > MAX_VALUE:
        raise TemplateTooCostly(f"the template makes a value over {MAX_VALUE} characters")
    return value


def _at_most(size: float, what: str) -> None:
    if size > MAX_VALUE:
        raise TemplateTooCostly(f"{what} would make a value over {MAX_VALUE} characters")


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


# printf-style conversions: %[(key)][flags][width][.precision][length]type
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?([a-zA-Z%])")
# format-spec mini-language: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[+\- ]?z?#?0?(\d*)[,_]?(?:\.(\d+))?[a-zA-Z%]?$", re.S)


def _check_printf(fmt: str | bytes, args: Any) -> None:
    """`fmt % args` costs its widths and precisions (`%*s` takes them from args) plus args."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    positional = list(args) if isinstance(args, tuple) else [args]
    size = len(text) + weight(args)
    for width, precision, _ in _PRINTF.findall(text):
        for part in (width, precision):
            if part == "*":
                size += abs(_int(positional.pop(0))) if positional else 0
            elif part:
                size += int(part) if len(part) < 12 else MAX_VALUE + 1
        _at_most(size, "the format")


def _check_format_string(fmt: str) -> None:
    """`fmt.format(...)` costs its fields' widths and precisions; a width taken from an
    argument (`{:{w}}`) cannot be priced in advance, so it is refused."""
    size = len(fmt)
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is None or not spec:
            continue
        if "{" in spec:
            raise TemplateTooCostly("format widths taken from arguments are not allowed in templates")
        match = _FORMAT_SPEC.match(spec)
        for part in match.groups() if match else ():
            if part:
                size += int(part) if len(part) < 12 else MAX_VALUE + 1
        _at_most(size, "the format")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    ints = [isinstance(v, int) and not isinstance(v, bool) for v in (left, right)]
    if operator == "**" and all(ints) and abs(left) > 1:
        if right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise TemplateTooCostly(f"the power would be over {MAX_INT_BITS} bits")
    elif operator == "*":
        if all(ints) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateTooCostly(f"the product would be over {MAX_INT_BITS} bits")
        if isinstance(right, int) and not isinstance(left, int | float):
            _at_most(_size(left) * right, "the repetition")
        elif isinstance(left, int) and not isinstance(right, int | float):
            _at_most(_size(right) * left, "the repetition")
    elif operator == "+" and not any(ints):
        _at_most(_size(left) + _size(right), "the concatenation")
    elif operator == "%" and isinstance(left, str | bytes):
        _check_printf(left, right)


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Price a str/bytes/int method whose result size its arguments choose; returns the
    arguments (a `join`'s iterable is read into a list to be priced)."""
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if isinstance(owner, str | bytes):
        if name in ("center", "ljust", "rjust", "zfill"):
            _at_most(_int(_arg(args, kwargs, 0, "width", 0)), f"{name}()")
        elif name == "expandtabs":
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            _at_most(
                len(owner) + tabs * _int(_arg(args, kwargs, 0, "tabsize", 8)),
                "expandtabs()",
            )
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            hits = len(owner) + 1 if not old else owner.count(old)
            _at_most(len(owner) + hits * len(new), "replace()")
        elif name == "join" and args:
            items = list(args[0])
            _at_most(sum(_size(i) for i in items) + len(owner) * len(items), "join()")
            return (items, *args[1:])
        elif name == "translate" and args and isinstance(args[0], dict):
            _at_most(len(owner) * max([weight(v) for v in args[0].values()] or [1]), "translate()")
    elif isinstance(owner, int) and name == "to_bytes":
        _at_most(_int(_arg(args, kwargs, 0, "length", 1)), "to_bytes()")
    return args


# Filters whose result size an argument chooses: priced from (value, *args, **kwargs).
def _center(value: Any, width: Any = 80) -> None:
    _at_most(_int(width), "center")


def _indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    text = str(value)
    step = len(width) if isinstance(width, str) else _int(kwargs.get("width", width))
    _at_most(len(text) + (text.count("\n") + 1) * step, "indent")


def _wordwrap(value: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, **kw: Any) -> None:
    wrap = kw.get("wrapstring", wrapstring) or "\n"
    _at_most(len(str(value)) * (1 + len(str(wrap))), "wordwrap")


def _format(value: Any, *args: Any, **kwargs: Any) -> None:
    _check_printf(str(value), kwargs or args)


def _replace(value: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    text, old = str(value), str(old)
    hits = len(text) + 1 if not old else text.count(old)
    _at_most(len(text) + hits * len(str(new)), "replace")


def _join(value: Any, d: Any = "", attribute: Any = None) -> None:
    _at_most(weight(value) + len(str(d)) * len(value), "join")


def _tojson(value: Any, indent: Any = None) -> None:
    # Each line is indented once per level it is nested at.
    step = len(indent) if isinstance(indent, str) else _int(indent)
    _at_most(weight(value) * (1 + step * _depth(value)), "tojson")


def _urlize(
    value: Any, trim_url_limit: Any = None, nofollow: Any = False, target: Any = None, rel: Any = None, **kwargs: Any
) -> None:
    # At most one link per 4 characters, each with its attributes and its address twice.
    extra = len(str(target or "")) + len(str(rel or "")) + 40
    _at_most(3 * len(str(value)) + len(str(value)) // 4 * extra, "urlize")


def _batch(value: Any, linecount: Any = 1, fill_with: Any = None) -> None:
    if fill_with is not None:
        _at_most(_int(linecount) * weight(fill_with), "batch")


def _slice(value: Any, slices: Any = 1, fill_with: Any = None) -> None:
    if _int(slices) > MAX_RANGE:
        raise TemplateTooCostly(f"slice into over {MAX_RANGE} parts")


_FILTER_PRICES: dict[str, Callable[..., None]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "format": _format,
    "replace": _replace,
    "batch": _batch,
    "join": _join,
    "tojson": _tojson,
    "urlize": _urlize,
    "slice": _slice,
}
# Filters that read their input to the end: given as a list, so it can be priced first.
_READ_WHOLE = frozenset(["join", "sum"])


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # pass_context / pass_eval_context / pass_environment filters get that first.
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    price = _FILTER_PRICES.get(name)

    @wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if name in _READ_WHOLE and len(args) > skip and not isinstance(args[skip], str):
            args = (*args[:skip], list(args[skip]), *args[skip + 1 :])
        for value in (*args[skip:], *kwargs.values()):
            check_value(value)
        if price is not None:
            price(*args[skip:], **kwargs)
        if name == "sum" and not isinstance(_arg(args[skip + 1 :], kwargs, 1, "start", 0), int | float):
            # sum() of lists copies the growing total at each step.
            _at_most(len(args[skip]) * weight(args[skip]) / 10, "sum")
        return check_value(func(*args, **kwargs))

    return bounded


def _loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """What a `for` loop iterates: the items, counted against the render's budget."""
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_ITERATIONS:
                raise TemplateTooCostly(f"the template loops over {MAX_ITERATIONS} times")
            _tick()
        yield item


def _join_values(values: list[Any]) -> str:
    """`a ~ b`: each part is priced before it becomes a string."""
    _at_most(sum(_size(v) for v in values), "the concatenation")
    return "".join(str(v) for v in values)


def _bounded_concat(pieces: Iterable[str]) -> str:
    """Jinja's join of a block's output (a macro's, a `{% set %}` block's)."""
    pieces = list(pieces)
    _at_most(sum(len(p) for p in pieces), "the block")
    return "".join(pieces)


def _range(*args: int) -> range:
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = MAX_RANGE + 1
    if length > MAX_RANGE:
        raise TemplateTooCostly(f"range() over {MAX_RANGE} numbers")
    return numbers


def _wrap(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class _Bounder(NodeTransformer):
    """Routes `for` loops through `_loop`, `~` through `_join_values`, and list, tuple and
    dict literals through `_made` (filters, so the compiled template calls them like any
    other). Priced literals keep `[x, x]` doubling in a loop from making a value that is
    tiny in memory but exponential to compare or print."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _wrap(node.iter, "_loop")
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _wrap(nodes.List(node.nodes, lineno=node.lineno), "_join_values")

    def _literal(self, node: nodes.List | nodes.Tuple | nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node, nodes.Tuple) and node.ctx != "load":  # an assignment target
            return node
        return _wrap(node, "_made")

    visit_List = visit_Tuple = visit_Dict = _literal


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox (no `list.append`, `dict.update`: nothing grows in place) with
    every costly step priced; see the module's invariants."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])
    concat = staticmethod(_bounded_concat)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, finalize=check_value, **kwargs)
        self.filters = {name: _bounded_filter(name, func) for name, func in self.filters.items()}
        self.filters |= {"_loop": _loop, "_join_values": _join_values, "_made": check_value}
        self.globals["range"] = _range
        # Random text has no place in a prompt; unbounded, lipsum(n, max=10**9) runs for ever.
        self.globals.pop("lipsum", None)

    def compile(self, source: Any, name: str | None = None, filename: str | None = None, *args: Any, **kw: Any) -> Any:
        if isinstance(source, str):
            source = self.parse(source, name, filename)
        if isinstance(source, nodes.Template):
            source = _Bounder().visit(source)
        return super().compile(source, name, filename, *args, **kw)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = _tick()
        for value in (*args, *kwargs.values()):
            check_value(value)
        args = _check_method(__obj, args, kwargs)
        if isinstance(__obj, LoopContext) and args:  # a `recursive` loop's next level
            args = (_loop(args[0]), *args[1:])
        if budget is not None:
            budget.depth += 1
        try:
            if budget is not None and budget.depth > MAX_DEPTH:
                raise TemplateTooCostly(f"calls nest over {MAX_DEPTH} deep")
            return check_value(super().call(__context, __obj, *args, **kwargs))
        finally:
            if budget is not None:
                budget.depth -= 1

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        text = value.__self__

        def bounded(*args: Any, **kwargs: Any) -> str:
            _check_format_string(text)
            for item in (*args, *kwargs.values()):
                check_value(item)
            return check_value(formatter(*args, **kwargs))

        return bounded
