"""A dataset card: README.md in the Hugging Face dataset-card convention (YAML metadata,
then prose), describing what the version holds, where it came from and how to load it."""

from __future__ import annotations

import json
from typing import Any

from distillery.datasets.exporters import EXPORTERS
from distillery.db.models import Dataset


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "n>1M"


def _table(counts: dict[str, Any], header: str) -> str:
    if not counts:
        return "_none_\n"
    rows = "".join(f"| {key} | {value} |\n" for key, value in counts.items())
    return f"| {header} | records |\n|---|---|\n{rows}"


def render(dataset: Dataset) -> str:
    stats = dataset.stats
    formats = [name for name, e in EXPORTERS.items() if e.kind == dataset.kind]
    fmt = formats[0] if formats else "openai-chat"
    filename = f"{dataset.name}-v{dataset.version}-{fmt}.jsonl"
    task = "text-generation" if dataset.kind != "preference" else "reinforcement-learning"
    sources = "\n".join(f"- {s.get('type')}: `{s.get('id', s.get('purpose', ''))}`" for s in dataset.sources)
    words = stats.get("words", {})
    return f"""---
pretty_name: {json.dumps(dataset.name)}
size_categories:
- {_size_category(dataset.record_count)}
task_categories:
- {task}
tags:
- synthetic
- distillation
- distillery
configs:
- config_name: default
  data_files:
  - split: train
    path: {json.dumps(filename)}
---

# {dataset.name} (version {dataset.version})

A {dataset.kind} dataset of {dataset.record_count} records made by Distillery: black-box
knowledge distillation from teacher models, curated and versioned. Dataset id `{dataset.id}`.

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
- Train/eval split by prompt hash at {stats.get("splits", {}).get("eval_fraction", 0.1)}:
  {stats.get("splits", {}).get("train", 0)} / {stats.get("splits", {}).get("eval", 0)}
- Teacher requests: {stats.get("teacher_requests", 0)}, cost ${stats.get("cost_usd", 0):.4f}

### Teachers

{_table(stats.get("teachers", {}), "teacher")}
### Prompt templates

{_table(stats.get("templates", {}), "template")}
## Loading

Download it as `{fmt}` (also: {", ".join(formats) or "none"}; files jsonl, jsonl.gz, parquet):

```python
from datasets import load_dataset

ds = load_dataset("json", data_files="{filename}", split="train")
```
"""
