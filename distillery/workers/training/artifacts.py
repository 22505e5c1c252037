"""Publishing a run: the adapter (or full model) with its tokenizer, and a run card, written
locally by the trainer and then copied under the job's artifacts location (an fsspec URL:
a directory or a bucket). A generate or evaluate job publishes its run card alone."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import fsspec

from distillery.training.artifacts import location
from distillery.training.lifecycle import RunSpec

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
        "student": _student(spec),
        # What this job saved; None when it trained nothing.
        "weights": ("adapter" if spec.lora else "model") if spec.trains else None,
        "dataset": spec.dataset,
        "rows": rows,
        "hyperparameters": spec.stored_hyperparameters if spec.trains else {},
        "lora": spec.lora.model_dump() if spec.lora else None,
        "eval_split": spec.eval_split,
        "evaluate": spec.evaluate.model_dump() if spec.evaluate else None,
        "generate": spec.generate.model_dump() if spec.generate else None,
        "metrics": metrics,
        "device": device,
        "libraries": library_versions(),
        "saved_at": datetime.now(UTC).isoformat(),
    }


def _student(spec: RunSpec) -> dict[str, Any] | None:
    """The trained student the run started from or ran, and the weights it is made of: an
    adapter saved by a job with a student applies on top of that student, not of the base."""
    if spec.student is None:
        return None
    return {
        "training_job_id": spec.student.training_job_id,
        "weights": [{"training_job_id": w.training_job_id, "kind": w.kind} for w in spec.student.weights],
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
