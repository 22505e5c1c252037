"""Reading job specs from YAML or JSON files (or `-` for stdin)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


class SpecError(Exception):
    """A spec file that cannot be read or is not a mapping."""


def load(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {path}: {exc}") from None
    try:
        # JSON is parsed as JSON so its errors name JSON's line and column; anything else is YAML.
        spec = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: a spec is a mapping of fields (name, method, skill, ...)")
    return spec
