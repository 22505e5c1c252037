"""For the clients' `load_dataset`: where a version's Parquet export is cached, and that file
as a Hugging Face `datasets.Dataset` (Parquet keeps nested messages typed). A version's
rows as dicts, streamed, come from the clients' `iter_export_rows` instead."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distillery.client.errors import ClientError


def cache_path(dataset_id: str, format: str, options: Mapping[str, Any]) -> Path:
    """Where a version's Parquet export is kept: a version never changes, so one download
    per (version, format, options) serves every later load."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "distillery" / "datasets"
    key = hashlib.sha256(json.dumps(dict(options), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return root / f"{dataset_id}-{format}-{key}.parquet"


def hf_dataset(path: Path) -> Any:
    """The Parquet file as a `datasets.Dataset`, in memory (no Hugging Face cache, no network)."""
    try:
        import datasets
    except ImportError:
        raise ClientError("a Hugging Face Dataset needs `datasets`: pip install 'distillery[hub]'") from None
    # Here, not at the top: every `distillery` command imports the client, few load a dataset.
    import pyarrow.parquet as pq

    return datasets.Dataset(pq.read_table(path))
