"""Streaming a dataset version in an export format and a file format, a page at a time in
short transactions, so memory stays flat and no long transaction blocks writers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from distillery.datasets.exporters import EXPORTERS, ExportOptions
from distillery.datasets.rows import page_of_records
from distillery.datasets.splits import Split, split_of
from distillery.datasets.writers import WRITERS
from distillery.db.session import unit_of_work

PAGE = 2000


def rows(
    dataset_id: str, fmt: str, options: ExportOptions, split: Split | None = None
) -> Iterator[list[dict[str, Any]]]:
    """The version's rows in format `fmt` (only those of `split`, if given), a page at a time."""
    row = EXPORTERS[fmt].row
    position = 0
    while True:
        with unit_of_work() as session:
            records = page_of_records(session, dataset_id, position, PAGE)
            page = [
                row(r, options)
                for r in records
                if split is None or split_of(r.instruction, r.input, options.eval_fraction) == split
            ]
        if not records:
            return
        if page:
            yield page
        position += len(records)


def stream(dataset_id: str, fmt: str, file: str, options: ExportOptions, split: Split | None = None) -> Iterator[bytes]:
    write, _ = WRITERS[file]
    return write(rows(dataset_id, fmt, options, split))


def etag(dataset_id: str, fmt: str, file: str, options: ExportOptions, split: Split | None = None) -> str:
    """A version never changes, so its id and the export's options name the bytes."""
    key = f"{dataset_id}|{fmt}|{file}|{options}|{split}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
