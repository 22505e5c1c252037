"""What a log line is about: the request id and job id of the work being done, kept in a
contextvar and copied onto every record by `ContextFilter`.

A contextvar, not a thread-local: the API serves many requests on one event loop, and a
worker's chunk runs its items as tasks of one loop; each asyncio task, and each thread
started with `asyncio.to_thread` or FastAPI's threadpool, works in a copy of its starter's
context, so the fields follow the work wherever it runs.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller's own request id may look like: it is echoed in a header, written to log
# lines and stored in a String(64) column: short, printable, no spaces or quotes.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

Fields = Mapping[str, str]
_fields: ContextVar[Fields] = ContextVar("distillery_log_context", default=MappingProxyType({}))


def request_id_from(given: str | None) -> str:
    """The caller's request id when it is a sane token, else a new one."""
    if given is not None and _SANE_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def bind(**fields: str | None) -> Token[Fields]:
    """From now on, log lines carry `fields` (None values are left out) on top of those
    already bound, until `unbind` is given the token returned."""
    return _fields.set(MappingProxyType({**_fields.get(), **{k: v for k, v in fields.items() if v is not None}}))


def unbind(token: Token[Fields]) -> None:
    _fields.reset(token)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Log lines made inside carry `fields` as well."""
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def current_request_id() -> str | None:
    """The request id of the work in progress, if there is one."""
    return _fields.get().get("request_id")


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record passing through a handler (a field the
    call set itself, with `extra=`, wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _fields.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
