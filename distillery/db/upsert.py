"""Dialect-aware INSERT so one ON CONFLICT works on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")


def insert_for(session: Session, table: Any) -> Any:
    return _insert(session.get_bind().dialect.name)(table)


def prepared(session: Session, build: Callable[[Callable[[Any], Any]], T]) -> T:
    """The statement `build(insert)` makes with the session's dialect's insert, made once per
    dialect: a hot path's statement is then neither rebuilt nor re-keyed for the compiled
    cache on every execution (SQLAlchemy memoizes the key on the statement object)."""
    return _prepared(session.get_bind().dialect.name, build)


def _insert(dialect: str) -> Callable[[Any], Any]:
    return (postgresql if dialect == "postgresql" else sqlite).insert


@cache
def _prepared(dialect: str, build: Callable[[Callable[[Any], Any]], T]) -> T:
    return build(_insert(dialect))
