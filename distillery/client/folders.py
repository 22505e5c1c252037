"""Unpacking a downloaded Hugging Face dataset folder (file=hf: a zip) where the caller
asked for it. The folder must be new or empty: a stale data/test-*.parquet left from
another version would join the new one's test split."""

from __future__ import annotations

import zipfile
from pathlib import Path

from distillery.client.errors import ClientError


def ready(dest: Path) -> Path:
    """`dest`, checked to be new or an empty folder (before anything is downloaded)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ClientError(f"{dest} is not an empty folder: give a new path for the Hugging Face folder")
    return dest


def unpack(archive: Path, dest: Path) -> Path:
    # extractall keeps every member inside `dest` (it drops absolute paths and "..").
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(dest)
    return dest
