"""The one renderer: template files (or a job's own text) in a sandbox, StrictUndefined.

A template has a `system` and a `user` block. A job may replace any template with its own
text: with those blocks it replaces both, plain text replaces the user message only. The
override is checked at submission (`check_overrides`, on a sample of the job's data), so a
bad one is a 422; on data the sample missed, it fails that item as `template_error`.

Every render runs under the bounds of `sandbox` and a deadline: RENDER_SECONDS each in the
workers, CHECK_SECONDS for the whole check at submission. Anything a job's own template
raises is a TemplateError, so the worker records it on the item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, meta, nodes

from distillery.errors import InvalidSpec
from distillery.prompts.sandbox import BoundedSandbox, TemplateTooCostly, limits

TEMPLATES = Path(__file__).parent / "templates"
# Bounds on what a job's own template can make: a prompt longer than this is a mistake, and
# a template must not tie up the API or a worker building one.
MAX_PROMPT_CHARS = 200_000
MAX_OVERRIDE_CHARS = 50_000
# A worker's render of one prompt; the API's check of all of a job's templates on its sample.
RENDER_SECONDS = 1.0
CHECK_SECONDS = 1.0


class TemplateFailed(TemplateError):
    """A job's own template raised something other than a TemplateError (1 / 0, ...)."""


_env = BoundedSandbox(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False)

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


def _text(pieces: Iterator[str]) -> str:
    """The output, read piece by piece and cut off once it is too long for a prompt."""
    kept, size = [], 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_PROMPT_CHARS:
            raise TemplateTooCostly(f"the rendered prompt is longer than {MAX_PROMPT_CHARS} characters")
        kept.append(piece)
    return "".join(kept)


def _block(template: Template, block: str, context: dict[str, Any]) -> str:
    return _text(template.blocks[block](template.new_context(context))).strip()


def render(name: str, overrides: dict[str, str] | None = None, **context: Any) -> Prompt:
    """Render template `name` (or the job's override of it) into chat messages."""
    text = (overrides or {}).get(name)
    with limits(RENDER_SECONDS):
        if text is None:
            return _render(name, None, context)
        try:
            return _render(name, text, context)
        except TemplateError:
            raise
        except Exception as exc:  # the job's template, not our code, failed on this data
            raise TemplateFailed(f"{type(exc).__name__}: {exc}") from exc


def _render(name: str, text: str | None, context: dict[str, Any]) -> Prompt:
    builtin, version, _ = _builtin(name)
    system_from = user_from = builtin
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
    if user_from is not None:
        user = _block(user_from, "user", context)
    else:
        plain = _override(text or "")
        user = _text(plain.root_render_func(plain.new_context(context)))
    messages.append({"role": "user", "content": user.strip()})
    if sum(len(m["content"]) for m in messages) > MAX_PROMPT_CHARS:
        raise TemplateTooCostly(f"the rendered prompt is longer than {MAX_PROMPT_CHARS} characters")
    return Prompt(template_name=name, template_version=version, messages=messages)


def check_overrides(overrides: dict[str, str], contexts: list[dict[str, Any]]) -> None:
    """Raise InvalidSpec on `templates.<name>` for the first of a job's templates that
    `check_override` refuses; all of them share one CHECK_SECONDS."""
    with limits(CHECK_SECONDS):
        for name, text in overrides.items():
            problem = check_override(name, text, contexts)
            if problem:
                raise InvalidSpec(f"templates.{name}", problem)


def check_override(name: str, text: str, contexts: list[dict[str, Any]] | None = None) -> str | None:
    """Why a job's text for template `name` cannot be used, or None when it can: it must
    parse, use only the template's variables, stay in the sandbox, and render each of
    `contexts` (over the sample context) within its bounds and CHECK_SECONDS."""
    if name not in names():
        return f"no template named '{name}'; templates: {', '.join(names())}"
    if len(text) > MAX_OVERRIDE_CHARS:
        return f"longer than {MAX_OVERRIDE_CHARS} characters"
    try:
        ast = _env.parse(text)
    except TemplateError as exc:
        return f"template syntax error on line {getattr(exc, 'lineno', '?')}: {exc.message}"
    except (ValueError, RecursionError, MemoryError) as exc:  # a 5000-digit number, 1000 nested brackets
        return f"the template cannot be read: {type(exc).__name__}"
    unknown = sorted(meta.find_undeclared_variables(ast) - _builtin(name)[2] - _env.globals.keys())
    if unknown:
        return f"unknown variable '{unknown[0]}'; this template is given: {', '.join(sorted(_builtin(name)[2]))}"
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(getattr(node, "arg", None), "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            return f"the template reaches for '{attr}', which the sandbox does not allow"
    with limits(CHECK_SECONDS):
        for context in contexts or [{}]:
            try:
                render(name, {name: text}, **{**SAMPLE_CONTEXT, **context})
            except Exception as exc:  # anything a template can raise is the template's fault
                return f"the template fails to render: {type(exc).__name__}: {exc}"[:500]
    return None
