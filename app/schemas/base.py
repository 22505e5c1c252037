"""Base classes and constrained types shared by every schema."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints


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


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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
