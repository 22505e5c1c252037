"""Streaming a dataset version in an export format and a file format, a page at a time in
short transactions, so memory stays flat and no long transaction blocks writers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from app.datasets.exporters import EXPORTERS, ExportOptions
from app.datasets.versions import page_of_records
from app.datasets.writers import WRITERS
from app.db.session import unit_of_work

PAGE = 2000


def rows(dataset_id: str, fmt: str, options: ExportOptions) -> Iterator[list[dict[str, Any]]]:
    """The version's rows in format `fmt`, a page at a time."""
    row = EXPORTERS[fmt].row
    position = 0
    while True:
        with unit_of_work() as session:
            records = page_of_records(session, dataset_id, position, PAGE)
            page = [row(r, options) for r in records]
        if not page:
            return
        yield page
        position += len(page)


def stream(dataset_id: str, fmt: str, file: str, options: ExportOptions) -> Iterator[bytes]:
    write, _ = WRITERS[file]
    return write(rows(dataset_id, fmt, options))


def etag(dataset_id: str, fmt: str, file: str, options: ExportOptions) -> str:
    """A version never changes, so its id and the export's options name the bytes."""
    key = f"{dataset_id}|{fmt}|{file}|{options}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
