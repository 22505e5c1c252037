"""A dataset card: README.md in the Hugging Face dataset-card convention (YAML metadata,
then prose), describing what the version holds, where it came from and how to load it.

Two layouts of the same card: for a single downloaded file (GET .../card), and for a
Hugging Face dataset folder (hf_folder.py), whose `configs` name its Parquet files by split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from distillery.datasets.exporters import EXPORTERS
from distillery.datasets.splits import EVAL_FRACTION
from distillery.db.models import Dataset
from distillery.schemas.datasets import export_filename

# The Hub's size_categories values (hub-docs datasetcard.md).
_SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)


@dataclass(frozen=True)
class Folder:
    """What a Hugging Face folder holds: rows of `format`, split at `eval_fraction`, and
    the rows per Hub split name (train, test) that have any."""

    format: str
    eval_fraction: float
    rows: dict[str, int]


def _size_category(n: int) -> str:
    return next((label for limit, label in _SIZES if n < limit), "n>1B")


def _table(counts: dict[str, Any], header: str) -> str:
    if not counts:
        return "_none_\n"
    rows = "".join(f"| {key} | {value} |\n" for key, value in counts.items())
    return f"| {header} | records |\n|---|---|\n{rows}"


def _metadata(dataset: Dataset, data_files: list[dict[str, str]]) -> str:
    # Teachers' outputs: their terms of use apply, which only the publisher knows.
    metadata = {
        "pretty_name": dataset.name,
        "license": "unknown",
        "annotations_creators": ["machine-generated"],
        "size_categories": [_size_category(dataset.record_count)],
        "task_categories": ["text-generation" if dataset.kind != "preference" else "reinforcement-learning"],
        "tags": ["synthetic", "distillation", "distillery"],
        "configs": [{"config_name": "default", "data_files": data_files}],
    }
    return yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)


def render(dataset: Dataset, folder: Folder | None = None) -> str:
    """The card of a downloaded file (`folder` None), or of a Hugging Face folder."""
    stats = dataset.stats
    formats = [name for name, e in EXPORTERS.items() if e.kind == dataset.kind]
    splits = stats.get("splits", {})
    if folder is None:
        fmt = formats[0] if formats else "openai-chat"
        filename = export_filename(dataset.name, dataset.version, fmt, "jsonl")
        data_files = [{"split": "train", "path": filename}]
        split_line = (
            f"Train/eval split by prompt hash at {splits.get('eval_fraction', EVAL_FRACTION)}:\n"
            f"  {splits.get('train', 0)} / {splits.get('eval', 0)}"
        )
        loading = f"""Download it as `{fmt}` (also: {", ".join(formats) or "none"}; files jsonl, jsonl.gz, parquet):

```python
from datasets import load_dataset

ds = load_dataset("json", data_files="{filename}", split="train")
```"""
    else:
        data_files = [{"split": name, "path": f"data/{name}-*.parquet"} for name in folder.rows]
        split_line = f"Train/test split by prompt hash at {folder.eval_fraction}:\n  " + " / ".join(
            f"{folder.rows.get(name, 0)}" for name in ("train", "test")
        )
        loading = f"""Rows in the `{folder.format}` format, one Parquet file per split under `data/`:

```python
from datasets import load_dataset

ds = load_dataset("path/to/this/folder")  # or "owner/name" on the Hugging Face Hub
```"""
    sources = "\n".join(f"- {s.get('type')}: `{s.get('id', s.get('purpose', ''))}`" for s in dataset.sources)
    words = stats.get("words", {})
    return f"""---
{_metadata(dataset, data_files)}---

# {dataset.name} (version {dataset.version})

A {dataset.kind} dataset of {dataset.record_count} records made by Distillery: black-box
knowledge distillation from teacher models, curated and versioned. Dataset id `{dataset.id}`.
The records are teacher models' outputs, so their providers' terms of use apply: the
`license` in the metadata is the publisher's to set.

## Sources

{sources or "_none_"}

## Curation

Records rejected while this version was made (by the methods' checks and the set-level
curation passes), by reason:

{_table(stats.get("reject_reasons", {}), "reason")}
Settings: `{json.dumps(dataset.curation or {}, sort_keys=True)}`

## Contents

- Prompt words: mean {words.get("prompt", {}).get("mean", 0)}, p90 {words.get("prompt", {}).get("p90", 0)}
- Response words: mean {words.get("response", {}).get("mean", 0)}, p90 {words.get("response", {}).get("p90", 0)}
- {split_line}
- Teacher requests: {stats.get("teacher_requests", 0)}, cost ${stats.get("cost_usd", 0):.4f}

### Teachers

{_table(stats.get("teachers", {}), "teacher")}
### Prompt templates

{_table(stats.get("templates", {}), "template")}
## Loading

{loading}
"""
