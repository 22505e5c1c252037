"""Streaming a dataset version as JSON lines, a page at a time in short transactions, so
memory stays flat and no long transaction blocks writers."""

from __future__ import annotations

import json
from collections.abc import Iterator

from app.datasets.exporters import EXPORTERS, ExportOptions
from app.datasets.versions import page_of_records
from app.db.session import unit_of_work

PAGE = 1000


def jsonl_lines(dataset_id: str, fmt: str, options: ExportOptions) -> Iterator[bytes]:
    export = EXPORTERS[fmt]
    position = 0
    while True:
        with unit_of_work() as session:
            records = page_of_records(session, dataset_id, position, PAGE)
            chunk = "".join(json.dumps(export(r, options), ensure_ascii=False) + "\n" for r in records)
        if not records:
            return
        yield chunk.encode()
        position += len(records)
