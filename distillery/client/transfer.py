"""What both clients do alike around the wire: a request that gets no HTTP answer raises
`ServerUnreachable`, and a download lands at its path whole or not at all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import httpx

from distillery.client.errors import ServerUnreachable


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """httpx's transport errors (refused, reset, timed out) inside, as `ServerUnreachable`."""
    try:
        yield
    except httpx.TransportError as exc:
        raise ServerUnreachable(f"cannot reach {url}: {exc}") from exc


@contextmanager
def whole_file(dest: Path) -> Iterator[BinaryIO]:
    """A file to write that appears at `dest` only once written to the end: a dropped
    connection leaves neither a truncated `dest` nor its `.part` behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with part.open("wb") as out:
            yield out
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
