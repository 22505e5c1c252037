"""A request body given as JSON or as YAML (Content-Type application/yaml or text/yaml),
for specs people write by hand. FastAPI parses JSON bodies only, so the route reads the
bytes (`RawBody`), and parses and validates them in its thread (`parse`): YAML is CPU work.

YAML is read safely (no Python objects); a document whose aliases would expand past
MAX_NODES (a "billion laughs") is refused before anything walks it, and what YAML has but
JSON lacks (binary, sets, NaN) is refused: the spec is stored as JSON. Dates become ISO
strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, TypeVar

import yaml
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from distillery.errors import InvalidSpec
from distillery.schemas.base import MAX_DEPTH

M = TypeVar("M", bound=BaseModel)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
# More values than any spec a body limit lets through holds, but never a billion.
MAX_NODES = 2_000_000
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Body:
    media_type: str
    content: bytes


async def _read(request: Request) -> Body:
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    return Body(media_type, await request.body())


RawBody = Annotated[Body, Depends(_read)]


def openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The route's `openapi_extra`: the body as `model`, in JSON or YAML."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    content = {"application/json": {"schema": schema}, "application/yaml": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def parse(body: Body, model: type[M]) -> M:
    """The body validated as `model`; 422 naming the line of a syntax error, or the field."""
    data = _decode(body)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)]
        ) from None


def _decode(body: Body) -> Any:
    if not body.content.strip():
        raise InvalidSpec("body", "empty; send the spec as JSON or YAML")
    if body.media_type in YAML_TYPES:
        data = _yaml(body.content)
    elif body.media_type == "application/json" or body.media_type.endswith("+json"):
        data = _json(body.content)
    else:
        raise InvalidSpec(
            "body", f"Content-Type {body.media_type!r}: send JSON (application/json) or YAML (application/yaml)"
        )
    if not isinstance(data, dict):
        raise InvalidSpec("body", "a spec is a mapping of fields (name, stages, ...)")
    return data


def _no_constant(name: str) -> Any:
    raise InvalidSpec("body", f"not valid JSON: {name} is not a number JSON has")


def _json(content: bytes) -> Any:
    try:
        return json.loads(content, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidSpec("body", f"not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except (UnicodeDecodeError, RecursionError):
        raise InvalidSpec("body", "not valid JSON: not UTF-8, or nested too deep") from None


def _yaml(content: bytes) -> Any:
    try:
        data = yaml.load(content, Loader=_Loader)  # noqa: S506  a safe loader: plain data only
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise InvalidSpec("body", f"not valid YAML: {where}{exc.problem or exc.context}") from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidSpec("body", f"not valid YAML: {type(exc).__name__}") from None
    _within_limits(data)
    try:
        return json.loads(json.dumps(data, default=_plain, allow_nan=False))
    except TypeError as exc:
        raise InvalidSpec("body", f"not plain data: {exc}") from None
    except ValueError:
        raise InvalidSpec("body", "not plain data: .nan and .inf have no JSON form") from None


def _plain(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    raise TypeError(f"a YAML {type(value).__name__} has no JSON form; write it as a string or a list")


def _within_limits(data: Any) -> None:
    """Refuse a document whose aliases expand it past MAX_NODES, or that nests deeper than
    MAX_DEPTH (an alias may even name its own parent). Each shared node is counted once
    per use, but walked once."""
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int) -> int:
        if not isinstance(value, dict | list):
            return 1
        if depth > MAX_DEPTH:
            raise InvalidSpec("body", f"nested deeper than {MAX_DEPTH} levels")
        known = sizes.get(id(value))
        if known is None:
            items = value.values() if isinstance(value, dict) else value
            known = 1 + sum(size(item, depth + 1) for item in items)
            sizes[id(value)] = known
        return known

    if size(data, 0) > MAX_NODES:
        raise InvalidSpec("body", f"expands to more than {MAX_NODES:,} values (through its aliases)")
