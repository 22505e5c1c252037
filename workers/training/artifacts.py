"""Publishing a run: the adapter (or full model) with its tokenizer, and a run card, written
locally by the trainer and then copied under the job's artifacts location (an fsspec URL:
a directory or a bucket)."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import fsspec

from app.training.artifacts import location
from app.training.lifecycle import RunSpec

LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "tokenizers")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def run_card(spec: RunSpec, status: str, metrics: dict[str, Any], rows: dict[str, int], device: str) -> dict[str, Any]:
    """What a person needs to know, and to reproduce, the run."""
    return {
        "training_job_id": spec.job_id,
        "status": status,
        "method": spec.method,
        "base_model": spec.base_model,
        "weights": "adapter" if spec.lora else "model",
        "dataset": spec.dataset,
        "rows": rows,
        "hyperparameters": spec.stored_hyperparameters,
        "lora": spec.lora.model_dump() if spec.lora else None,
        "eval_split": spec.eval_split,
        "evaluate": spec.evaluate,
        "metrics": metrics,
        "device": device,
        "libraries": library_versions(),
        "saved_at": datetime.now(UTC).isoformat(),
    }


def publish(local: Path, card: dict[str, Any], job_id: str) -> str:
    """Copy everything under `local` plus run_card.json to the job's location; returns it.
    A rerun replaces what an earlier attempt left there."""
    (local / "run_card.json").write_text(json.dumps(card, indent=2, default=str))
    uri = location(job_id)
    fs, root = fsspec.core.url_to_fs(uri)
    if fs.exists(root):
        fs.rm(root, recursive=True)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        target = f"{root}/{path.relative_to(local).as_posix()}"
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), target)
    return uri
