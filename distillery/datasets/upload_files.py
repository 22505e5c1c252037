"""An uploaded file's rows, whatever holds them: JSON Lines, gzip-compressed JSON Lines
(known by its magic bytes, whatever the file's name) or Parquet.

The upload limit holds for the data, not just the bytes sent: compressed data counts as it
is decompressed, so a small file that inflates to gigabytes (a gzip bomb) is refused once
past the limit, never held whole in memory. A Parquet file is checked by the sizes its
footer declares before any row is read, then by its rows' decoded size a batch at a time.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from distillery.errors import InvalidSpec, UploadTooLarge
from distillery.schemas.base import MAX_DEPTH

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_CHUNK = 1024 * 1024
# Parquet rows decoded at a time: the limit is checked between batches.
_BATCH = 64


@dataclass(frozen=True)
class RawRow:
    """A row as read: its number (a JSONL file's line, a Parquet file's row), and its value
    or why it has none."""

    number: int
    value: Any = None
    problem: str | None = None


def rows(file: IO[bytes], max_bytes: int) -> Iterator[RawRow]:
    head = file.read(len(PARQUET_MAGIC))
    file.seek(0)
    if head.startswith(GZIP_MAGIC):
        return _gzip(file, max_bytes)
    if head == PARQUET_MAGIC:
        return _parquet(file, max_bytes)
    return _json_lines(file.read, max_bytes)


def _too_large(max_bytes: int) -> UploadTooLarge:
    mb = max_bytes // (1024 * 1024)
    return UploadTooLarge(f"the file's data (decompressed) is over this server's upload limit of {mb} MB")


def _gzip(file: IO[bytes], max_bytes: int) -> Iterator[RawRow]:
    with gzip.GzipFile(fileobj=file, mode="rb") as unzipped:
        yield from _json_lines(unzipped.read, max_bytes)


def _json_lines(read: Callable[[int], bytes], max_bytes: int) -> Iterator[RawRow]:
    for number, line in _lines(read, max_bytes):
        if line.strip():
            yield _decoded(number, line)


def _lines(read: Callable[[int], bytes], max_bytes: int) -> Iterator[tuple[int, bytes]]:
    """Lines read a chunk at a time: a line never grows past the limit."""
    total, number, rest = 0, 0, b""
    while True:
        try:
            chunk = read(_CHUNK)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise InvalidSpec("file", f"not a readable gzip file ({exc})"[:300]) from None
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
        if not chunk:
            break
        *complete, rest = (rest + chunk).split(b"\n")
        for line in complete:
            number += 1
            yield number, line
    if rest:
        yield number + 1, rest


def _decoded(number: int, line: bytes) -> RawRow:
    try:
        return RawRow(number, json.loads(line))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        return RawRow(number, problem=f"not valid JSON: {exc}"[:300])
    except RecursionError:  # nested thousands deep: the parser gives up
        return RawRow(number, problem=f"nested deeper than {MAX_DEPTH} levels")


def _parquet(file: IO[bytes], max_bytes: int) -> Iterator[RawRow]:
    try:
        parquet = pq.ParquetFile(file)
        metadata = parquet.metadata
        declared = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidSpec("file", f"not a readable Parquet file ({exc})"[:300]) from None
    with parquet:
        yield from _parquet_rows(parquet, declared, max_bytes)


def _parquet_rows(parquet: pq.ParquetFile, declared: int, max_bytes: int) -> Iterator[RawRow]:
    if declared > max_bytes:
        raise _too_large(max_bytes)
    number, decoded = 0, 0
    try:
        for batch in parquet.iter_batches(batch_size=_BATCH):
            # Dictionary-encoded values take little room in the file, all of theirs once decoded.
            decoded += batch.nbytes
            if decoded > max_bytes:
                raise _too_large(max_bytes)
            for value in batch.to_pylist():
                number += 1
                yield RawRow(number, _without_nulls(value))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidSpec("file", f"not a readable Parquet file (after row {number}: {exc})"[:300]) from None


def _without_nulls(value: Any) -> Any:
    """A Parquet row as the JSON line it was written from: a column is in every row, null
    where that row had no such field."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
