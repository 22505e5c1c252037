"""The one renderer: template files (or a job's own text) in a sandbox, StrictUndefined.

A template has a `system` and a `user` block. A job may replace any template with its own
text: with those blocks it replaces both, plain text replaces the user message only. The
override is checked at submission (`check_override`), so a bad one is a 422, never a
failed job.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

TEMPLATES = Path(__file__).parent / "templates"
# Bounds on what a job's own template can make: a prompt longer than this is a mistake, and
# a template must not tie up the API or a worker building one.
MAX_PROMPT_CHARS = 200_000
MAX_OVERRIDE_CHARS = 50_000
CHECK_SECONDS = 1.0


class _BoundedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox, with `*` and `**` kept from building huge strings or numbers."""

    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponents above 64 are not allowed in templates")
        if operator == "*":
            sized = [v for v in (left, right) if isinstance(v, str | list | tuple)]
            times = [v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)]
            if sized and times and len(sized[0]) * times[0] > MAX_PROMPT_CHARS:
                raise SecurityError(f"the template builds a value over {MAX_PROMPT_CHARS} long")
        return super().call_binop(context, operator, left, right)


_env = _BoundedSandbox(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False)

# A value of the right shape for every variable a template is given: what an override is
# trial-rendered with at submission.
SAMPLE_CONTEXT: dict[str, Any] = {
    "system_prompt": None,
    "reasoning": "cot",
    "skill_name": "arithmetic",
    "skill_description": "Evaluate expressions exactly.",
    "output_format": "text",
    "output_schema": None,
    "instruction": "What is 2 + 3?",
    "input": "",
    "error": "no final 'Answer:' line in the reply",
    "expected": 'End with one final line of the form "Answer: <final answer>".',
    "examples": [{"instruction": "What is 4 * 5?", "input": ""}],
    "count": 3,
    "operation": "add_constraints",
    "parent": "What is 2 + 3?",
    "evolved": "What is 2 + 3, written in words?",
    "topic": "fractions",
    "topic_path": ["arithmetic", "fractions"],
    "title": "Notes",
    "passage": "Two plus three is five.",
    "question": "What is two plus three?",
    "answer": "Five.",
    "conversation": [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "5"}],
    "response": "2 + 3 = 5.",
    "response_a": "5",
    "response_b": "6",
}


@dataclass(frozen=True)
class Prompt:
    template_name: str
    template_version: str
    messages: list[dict[str, str]]

    @property
    def system(self) -> str | None:
        return next((m["content"] for m in self.messages if m["role"] == "system"), None)


def names() -> list[str]:
    return sorted(p.stem for p in TEMPLATES.glob("*.j2"))


@lru_cache
def _builtin(name: str) -> tuple[Template, str, frozenset[str]]:
    source = (TEMPLATES / f"{name}.j2").read_text()
    variables = frozenset(meta.find_undeclared_variables(_env.parse(source)))
    return _env.get_template(f"{name}.j2"), _version(source), variables


@lru_cache(maxsize=256)
def _override(text: str) -> Template:
    return _env.from_string(text)


def _version(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _block(template: Template, block: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(context))).strip()


def render(name: str, overrides: dict[str, str] | None = None, **context: Any) -> Prompt:
    """Render template `name` (or the job's override of it) into chat messages."""
    builtin, version, _ = _builtin(name)
    system_from = user_from = builtin
    text = (overrides or {}).get(name)
    if text is not None:
        custom = _override(text)
        version = _version(text)
        # Plain text is the user message; blocks replace the parts they name.
        if "user" in custom.blocks:
            user_from = custom
        elif "system" not in custom.blocks:
            user_from = None  # type: ignore[assignment]
        system_from = custom if "system" in custom.blocks else builtin
    messages = []
    system = _block(system_from, "system", context)
    if system:
        messages.append({"role": "system", "content": system})
    user = _block(user_from, "user", context) if user_from is not None else _override(text or "").render(context)
    messages.append({"role": "user", "content": user.strip()})
    if sum(len(m["content"]) for m in messages) > MAX_PROMPT_CHARS:
        raise SecurityError(f"the rendered prompt is longer than {MAX_PROMPT_CHARS} characters")
    return Prompt(template_name=name, template_version=version, messages=messages)


def check_override(name: str, text: str, contexts: list[dict[str, Any]] | None = None) -> str | None:
    """Why a job's text for template `name` cannot be used, or None when it can: it must
    parse, use only the template's variables, stay in the sandbox, and render each of
    `contexts` (over the sample context) within CHECK_SECONDS."""
    if name not in names():
        return f"no template named '{name}'; templates: {', '.join(names())}"
    if len(text) > MAX_OVERRIDE_CHARS:
        return f"longer than {MAX_OVERRIDE_CHARS} characters"
    try:
        ast = _env.parse(text)
    except TemplateError as exc:
        return f"template syntax error on line {getattr(exc, 'lineno', '?')}: {exc.message}"
    unknown = sorted(meta.find_undeclared_variables(ast) - _builtin(name)[2])
    if unknown:
        return f"unknown variable '{unknown[0]}'; this template is given: {', '.join(sorted(_builtin(name)[2]))}"
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            return f"the template reaches for '{attr}', which the sandbox does not allow"
    deadline = time.monotonic() + CHECK_SECONDS
    for context in contexts or [{}]:
        try:
            _with_deadline(deadline, lambda c=context: render(name, {name: text}, **{**SAMPLE_CONTEXT, **c}))
        except Exception as exc:  # anything a template can raise is the template's fault
            return f"the template fails to render: {type(exc).__name__}: {exc}"[:500]
    return None


class _Overtime(Exception):
    def __str__(self) -> str:
        return f"rendering took over {CHECK_SECONDS}s"


def _with_deadline(deadline: float, work: Any) -> Any:
    """Run `work`, raising _Overtime inside it once `deadline` passes: a compiled template
    is Python code, so a line tracer can stop a loop that would never end."""

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _Overtime
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return work()
    finally:
        sys.settrace(previous)
