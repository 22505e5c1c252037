"""An uploaded file's rows, whatever holds them: gzip known by its magic bytes, Parquet's
nulls read as absent fields, and compressed data bounded by the upload limit."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from distillery.datasets.upload_files import RawRow, rows
from distillery.errors import InvalidSpec, UploadTooLarge

LINES = [{"instruction": "a", "output": "1", "system": "s"}, {"instruction": "b", "output": "2"}]
JSONL = b"".join(json.dumps(line).encode() + b"\n" for line in LINES)


def _values(data: bytes, max_bytes: int = 1 << 20) -> list[RawRow]:
    return list(rows(io.BytesIO(data), max_bytes))


def test_gzip_is_known_by_its_magic_bytes_and_reads_as_json_lines():
    assert [r.value for r in _values(gzip.compress(JSONL))] == LINES == [r.value for r in _values(JSONL)]


def test_a_bad_line_is_numbered_and_blank_lines_count():
    found = _values(b'{"instruction": "a"}\n\nnot json\n{"instruction": "b"}')
    assert [(r.number, r.problem is None) for r in found] == [(1, True), (3, False), (4, True)]


def test_parquet_rows_read_back_without_the_nulls_of_absent_fields():
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(LINES), sink)
    assert [r.value for r in _values(sink.getvalue())] == LINES


def test_a_gzip_bomb_is_refused_once_past_the_limit():
    bomb = gzip.compress(b"\n" * (8 << 20))
    assert len(bomb) < 64 * 1024
    with pytest.raises(UploadTooLarge, match="upload limit of 1 MB"):
        _values(bomb)


def test_a_parquet_file_over_the_limit_is_refused_declared_or_decoded():
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"instruction": f"{n}" * 4096} for n in range(512)]), sink)
    with pytest.raises(UploadTooLarge):
        _values(sink.getvalue())
    # One value repeated: dictionary-encoded, small in the file, 2 MB decoded.
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"instruction": "x" * 4096}] * 512), sink, compression="zstd")
    assert len(sink.getvalue()) < 64 * 1024
    with pytest.raises(UploadTooLarge):
        _values(sink.getvalue())


def test_a_broken_gzip_or_parquet_file_is_a_named_problem():
    with pytest.raises(InvalidSpec, match="gzip"):
        _values(gzip.compress(JSONL)[:20])
    with pytest.raises(InvalidSpec, match="Parquet"):
        _values(b"PAR1" + b"\0" * 50)
