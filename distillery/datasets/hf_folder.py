"""A version as a Hugging Face dataset repository folder, streamed as one zip archive:

    README.md                            the dataset card; its `configs` name the files below
    data/train-00000-of-00001.parquet    rows of the export format, the train split
    data/test-00000-of-00001.parquet     the eval split (by prompt hash, splits.py), if it has rows

`datasets.load_dataset(folder)` reads it as it is, and `huggingface_hub`'s upload_folder
publishes it.

Zip rather than tar: a zip member may be written before its size is known (a data
descriptor follows it), so each split's Parquet streams from the database pages into the
archive with no temporary file, in the memory of one page. Tar puts every member's size
in its header. `unzip`, Windows Explorer, macOS and Python's zipfile all open it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from itertools import chain
from typing import Any

from distillery.datasets import card, download
from distillery.datasets.exporters import ExportOptions
from distillery.datasets.splits import Split
from distillery.datasets.writers import Pages, Sink, parquet
from distillery.db.models import Dataset
from distillery.errors import Conflict, InvalidSpec

MEDIA_TYPE = "application/zip"
# The Hub names a held-out split `test`; ours is `eval`.
HUB_SPLITS: dict[Split, str] = {"train": "train", "eval": "test"}


def check(dataset: Dataset, split: Split | None) -> None:
    """The request's problems, before the first byte is streamed."""
    if split is not None:
        raise InvalidSpec("split", "a Hugging Face folder holds both splits (data/train-*, data/test-*); leave it out")
    if dataset.record_count == 0:
        raise Conflict(f"dataset '{dataset.id}' has no records: a Hugging Face folder needs at least one")


def _member(name: str, compression: int, dataset: Dataset) -> zipfile.ZipInfo:
    # The version's own time, not now: the same version and options give the same bytes (ETag).
    info = zipfile.ZipInfo(name, dataset.created_at.timetuple()[:6])
    info.compress_type = compression
    info.external_attr = 0o644 << 16  # rw-r--r-- when unpacked
    return info


def _counted(pages: Pages, rows: dict[str, int], split: str) -> Iterator[list[dict[str, Any]]]:
    for page in pages:
        rows[split] = rows.get(split, 0) + len(page)
        yield page


def stream(dataset: Dataset, fmt: str, options: ExportOptions) -> Iterator[bytes]:
    """The folder as zip bytes. A split with no rows has no file; the card comes last, so
    its configs name exactly the files written."""
    sink = Sink()
    rows: dict[str, int] = {}
    with zipfile.ZipFile(sink, "w") as archive:
        for ours, hub in HUB_SPLITS.items():
            pages = _counted(download.rows(dataset.id, fmt, options, ours), rows, hub)
            first = next(pages, None)
            if first is None:
                continue
            # Stored, not deflated: Parquet is compressed already (zstd). force_zip64: the
            # size is unknown until the end and may pass 4 GiB.
            name = f"data/{hub}-00000-of-00001.parquet"
            with archive.open(_member(name, zipfile.ZIP_STORED, dataset), "w", force_zip64=True) as member:
                for chunk in parquet(chain([first], pages)):
                    member.write(chunk)
                    yield sink.take()
        folder = card.Folder(format=fmt, eval_fraction=options.eval_fraction, rows=rows)
        archive.writestr(_member("README.md", zipfile.ZIP_DEFLATED, dataset), card.render(dataset, folder))
    yield sink.take()
