"""The one renderer: template files (or a job's own text) in a sandbox, StrictUndefined."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES = Path(__file__).parent / "templates"

_env = SandboxedEnvironment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False)


@dataclass(frozen=True)
class Prompt:
    template_name: str
    template_version: str
    messages: list[dict[str, str]]

    @property
    def system(self) -> str | None:
        return next((m["content"] for m in self.messages if m["role"] == "system"), None)


@lru_cache
def _load(name: str) -> tuple[Template, str]:
    source = (TEMPLATES / f"{name}.j2").read_text()
    return _env.get_template(f"{name}.j2"), hashlib.sha256(source.encode()).hexdigest()[:12]


def _block(template: Template, block: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(context))).strip()


def render(name: str, **context: Any) -> Prompt:
    """Render template `name`'s `system` and `user` blocks into chat messages."""
    template, version = _load(name)
    messages = []
    system = _block(template, "system", context)
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": _block(template, "user", context)})
    return Prompt(template_name=name, template_version=version, messages=messages)
