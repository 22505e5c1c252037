"""Base classes and constrained types shared by every schema."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

# Deepest nesting of objects and arrays any input may have (request bodies, JSON Schemas,
# upload lines). Nothing legitimate comes near it; far deeper input reaches recursion
# limits in the code that walks it (jsonschema, pydantic, the JSON encoder) as a 500.
MAX_DEPTH = 32
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*|[0-9]+")


class InputProblem(ValueError):
    """What is wrong with a raw input, and where: `path` as in an error's `field`."""

    def __init__(self, path: list[str], problem: str) -> None:
        # Named fields only: a free-form key (a JSON Schema property) may be anything.
        named = []
        for part in path:
            if not _FIELD_NAME.fullmatch(part):
                break
            named.append(part)
        self.field = ".".join(named)
        super().__init__(f"{self.field}: {problem}" if self.field else problem)


def _unicode_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds a lone surrogate)"
    return None


def check_raw(value: Any, path: list[str] | None = None, depth: int = 0) -> None:
    """Raise InputProblem if `value`, as parsed from JSON, nests deeper than MAX_DEPTH or
    holds a string (a key included) that Postgres cannot store or we cannot encode."""
    path = path or []
    if isinstance(value, str):
        problem = _unicode_problem(value)
        if problem:
            raise InputProblem(path, problem)
        return
    if not isinstance(value, (dict, list)):
        return
    if depth >= MAX_DEPTH:
        raise InputProblem(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (problem := _unicode_problem(key)):
                raise InputProblem(path, f"keys {problem}")
            check_raw(item, [*path, str(key)], depth + 1)
    else:
        for index, item in enumerate(value):
            check_raw(item, [*path, str(index)], depth + 1)


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


# Free text (prompts, instructions): bounded, NUL-free.
Text = Annotated[str, StringConstraints(max_length=100_000), AfterValidator(_no_nul)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True), AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul)]


# A model validator's message names its field first: "seeds: needs seeds or a source_dataset".
_NAMED = re.compile(r"^(?P<field>[a-z_][a-z0-9_.]*): (?P<problem>.+)$", re.S)


def problem_of(error: ErrorDetails) -> tuple[str, str]:
    """(field, problem) of one validation error, the field dotted as the API names it
    ("seeds.0.instruction"), a model validator's named field included."""
    field = ".".join(str(part) for part in error["loc"])
    message = error["msg"]
    if error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        named = _NAMED.match(message)
        if named:
            return ".".join(p for p in (field, named["field"]) if p), named["problem"]
    return field, message


def invalid_request(errors: Iterable[ErrorDetails]) -> tuple[str, list[dict[str, str]]]:
    """The 422's message and {field, problem} details for pydantic's errors, as the API
    reports them (the request body's own "body" prefix dropped) and the client raises them."""
    details = []
    for error in errors:
        field, problem = problem_of({**error, "loc": tuple(p for p in error["loc"] if p != "body")})
        details.append({"field": field or "body", "problem": problem})
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details[:5])
    return f"invalid request: {summary}", details


def first_problem(exc: ValidationError) -> tuple[str, str]:
    return problem_of(exc.errors(include_url=False, include_input=False)[0])


class InputModel(BaseModel):
    """Every input: unknown fields refused; every string proper Unicode without NUL, and no
    nesting deeper than MAX_DEPTH, checked before any field is (so nothing deep is walked)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _raw_input_is_storable(cls, data: Any) -> Any:
        check_raw(data)
        return data


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


REQUEST_ID_DOC = "the X-Request-ID of the API request that created it: its workers' log lines carry it too"


Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    data: list[Item]
    # Pass as `offset` to get the next page; null on the last page.
    next_offset: int | None = None

    @classmethod
    def of(cls, items: list[Item], limit: int, offset: int) -> Page[Item]:
        return cls(data=items, next_offset=offset + limit if len(items) == limit else None)


class ErrorBody(BaseModel):
    type: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def refuse_unknown_fields(model: type[BaseModel], data: Any, hints: Mapping[str, str]) -> None:
    """Raise a ValidationError naming each field of `data` that `model` does not take, with
    what to use instead: the hint for it, else the closest field name, else the fields it
    takes. The raw input is checked first, so a key that could not be stored is never named."""
    if not isinstance(data, dict):
        return
    check_raw(data)
    fields = [info.alias or name for name, info in model.model_fields.items()]
    errors = []
    for key, value in data.items():
        if key in fields:
            continue
        use = hints.get(key) or next(iter(difflib.get_close_matches(str(key), fields, n=1, cutoff=0.75)), None)
        problem = f"unknown field; use `{use}`" if use else f"unknown field; this takes {', '.join(fields)}"
        errors.append(InitErrorDetails(type=PydanticCustomError("unknown_field", problem), loc=(key,), input=value))
    if errors:
        raise ValidationError.from_exception_data(model.__name__, errors)
