"""The model a job starts from or runs, with its tokenizer: its base model, or a trained
student (distillery/training/students.py): the base, then each adapter of its lineage merged in
turn (PEFT's merge_and_unload), or a saved full model and the adapters trained after it.
The result is a plain model, so an sft or dpo job trains a new LoRA adapter (or every
weight) on top of it, and a generate or evaluate job runs it.

A student's weights are read from its jobs' artifacts: in place on this host's disk, else
copied into the job's scratch directory first (a bucket)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import torch
from fsspec.implementations.local import LocalFileSystem
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from distillery.training.lifecycle import RunSpec
from distillery.training.students import Student, Weights


class ModelError(Exception):
    """The model cannot be loaded or trained as it is."""


def load(spec: RunSpec, scratch: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    """(tokenizer, model) for the job: its student when it names one, else its base model."""
    try:
        if spec.student is None:
            tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
            model = AutoModelForCausalLM.from_pretrained(spec.base_model, dtype=dtype)
        else:
            tokenizer, model = merged(spec.student, scratch / "students", dtype)
    except (OSError, ValueError, KeyError) as exc:
        what = f"student '{spec.student.training_job_id}'" if spec.student else f"base model '{spec.base_model}'"
        raise ModelError(f"could not load {what}: {str(exc)[:500]}") from exc
    if not tokenizer.chat_template:
        raise ModelError(
            f"base model '{spec.base_model}' has no chat template; the student is trained on conversations"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def merged(student: Student, scratch: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    """(tokenizer, model): the student as one plain model, its weights copied under `scratch`
    where they are not on this host's disk."""
    first, *rest = student.weights
    if first.kind == "model":
        model = AutoModelForCausalLM.from_pretrained(weights_dir(first, scratch), dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(student.base_model, dtype=dtype)
        rest = [first, *rest]
    for adapter in rest:
        model = PeftModel.from_pretrained(model, weights_dir(adapter, scratch)).merge_and_unload()
    # Saved beside the last weights, as the job that trained them used it.
    tokenizer = AutoTokenizer.from_pretrained(weights_dir(student.weights[-1], scratch))
    return tokenizer, model


def weights_dir(weights: Weights, scratch: Path) -> Path:
    """A local directory holding one job's `adapter/` or `model/`."""
    return local_copy(f"{weights.artifacts_uri.rstrip('/')}/{weights.kind}", scratch / weights.training_job_id)


def local_copy(uri: str, into: Path) -> Path:
    """`uri` itself when it is a directory on this host's disk, else a copy of everything
    under it in `into` (made once: a rerun of the job finds it there)."""
    fs, root = fsspec.core.url_to_fs(uri)
    if isinstance(fs, LocalFileSystem):
        return Path(root)
    if not fs.exists(root):
        raise OSError(f"no weights at {uri}")
    for path in sorted(fs.find(root)):
        target = into / path[len(root) :].lstrip("/")
        if not target.exists() or target.stat().st_size != fs.size(path):
            target.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(path, str(target))
    return into


def bf16() -> bool:
    """The device computes in bfloat16."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def inference_dtype() -> torch.dtype:
    # A run that only answers keeps no master weights: bf16 where the device has it.
    return torch.bfloat16 if bf16() else torch.float32


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
