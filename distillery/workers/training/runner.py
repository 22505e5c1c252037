"""Running one job of the training queue: claim it, then by method. sft and dpo materialise
the dataset, load the base model or the student (student.py), train with TRL (LoRA via
PEFT or full), evaluate (scoring.py), publish the artifacts and close the job; generate
(sampling.py) and evaluate (scoring.py) run a trained student. Whatever goes wrong ends
the job as failed with a reason a user can act on."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, Trainer
from trl import DPOConfig, DPOTrainer, SFTTrainer

from distillery.db.session import unit_of_work
from distillery.schemas.status import JobStatus
from distillery.settings import get_settings
from distillery.training import lifecycle
from distillery.training.judging import Comparison
from distillery.training.lifecycle import RunSpec
from distillery.workers import pipelines
from distillery.workers.training import sampling, scoring, student
from distillery.workers.training.artifacts import run_card
from distillery.workers.training.callbacks import RunReporter
from distillery.workers.training.closing import conclude, event
from distillery.workers.training.configs import lora_config, trl_config
from distillery.workers.training.materialize import DataError, Materialized, materialize
from distillery.workers.training.student import ModelError

log = logging.getLogger(__name__)


def run(job_id: str) -> None:
    settings = get_settings()
    with unit_of_work() as session:
        spec = lifecycle.start(
            session,
            job_id,
            stale_after_s=settings.training_heartbeat_timeout_s,
            max_attempts=settings.training_max_attempts,
        )
    if spec is None:  # perhaps closed now (cancelled before it started, out of attempts)
        pipelines.after_training_job(job_id)
        return
    scratch = settings.data_dir.resolve() / "training" / job_id
    try:
        if spec.method == "generate":
            sampling.run(spec, scratch)
        elif spec.method == "evaluate":
            scoring.run(spec, scratch)
        else:
            train(spec, scratch)
    except Exception as exc:  # whatever failed, the job ends with a reason
        log.exception("training job %s failed", job_id)
        with unit_of_work() as session:
            lifecycle.fail(session, job_id, failure_message(exc))
    # Only a finished run gets here: a killed worker leaves its checkpoints to resume from.
    shutil.rmtree(scratch, ignore_errors=True)
    # Unless it waits for its judge step: that closes it and rings then.
    pipelines.after_training_job(job_id)


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint a killed worker finished writing. The Trainer writes
    trainer_state.json after the weights, optimizer and RNG state, and deletes the older
    checkpoint only after that: a worker killed mid-save leaves a newer, partial folder
    beside the last complete one."""
    found = []
    for path in folder.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and path.is_dir():
            found.append((int(step), path))
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return path
    return None


def failure_message(exc: BaseException) -> str:
    if isinstance(exc, ModelError | DataError):
        return str(exc)
    if isinstance(exc, torch.OutOfMemoryError | MemoryError) or "out of memory" in str(exc).lower():
        return (
            "out of memory: lower hyperparameters.batch_size or max_seq_length (raise gradient_accumulation_steps"
            " to keep the effective batch), keep gradient_checkpointing on, or train a LoRA adapter"
        )
    return f"training failed: {type(exc).__name__}: {str(exc)[:1000]}"


def train(spec: RunSpec, scratch: Path) -> None:
    """An sft or dpo job."""
    data = materialize(spec)
    eval_rows = len(data.eval) if data.eval is not None else 0
    rows: dict[str, Any] = {"train": len(data.train), "eval": eval_rows, "dropped": data.dropped}
    dropped = f"; {data.dropped} rows without a usable answer left out" if data.dropped else ""
    event(
        spec.job_id,
        "dataset_materialized",
        f"{rows['train']} training rows, {eval_rows} held-out rows{dropped}",
        **rows,
    )
    # On a GPU with bfloat16, a LoRA run keeps the frozen base in bf16 (half the memory);
    # full fine-tuning keeps fp32 master weights and trains in bf16 autocast.
    tokenizer, model = student.load(spec, scratch, torch.bfloat16 if spec.lora and student.bf16() else torch.float32)
    if spec.student is not None:
        event(spec.job_id, "student_loaded", f"starting from the student trained by {spec.student.training_job_id}")
    reporter = RunReporter(spec.job_id)
    trainer = build_trainer(spec, model, tokenizer, data, scratch / "checkpoints", reporter)
    checkpoint = last_complete_checkpoint(scratch / "checkpoints")
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)

    metrics = summary(reporter, trainer, rows)
    to_judge: list[Comparison] = []
    if spec.evaluate and not reporter.cancelled:
        metrics["evaluation"], to_judge = scoring.score(
            spec, trainer.model, tokenizer, data.eval_prompts, lambda done: reporter.beat(trainer.state)
        )
    status = JobStatus.CANCELLED if reporter.cancelled else JobStatus.SUCCEEDED
    weights = scratch / "publish" / ("adapter" if spec.lora else "model")
    trainer.save_model(str(weights))
    tokenizer.save_pretrained(str(weights))
    card = run_card(spec, status, metrics, rows, str(trainer.args.device))
    saved = f"{weights.name}, tokenizer and run card saved"
    conclude(spec, status, metrics, card, scratch / "publish", saved, to_judge)


def build_trainer(
    spec: RunSpec, model: Any, tokenizer: Any, data: Materialized, output_dir: Path, reporter: RunReporter
) -> Trainer:
    assert spec.hyperparameters is not None
    args = trl_config(
        spec.hyperparameters,
        output_dir,
        has_eval=data.eval is not None,
        bf16=student.bf16(),
        pin_memory=torch.cuda.is_available(),
    )
    peft_config = lora_config(spec.lora) if spec.lora else None
    trainer: Trainer
    if isinstance(args, DPOConfig):
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[reporter],
        )
    else:
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[reporter],
        )
    # Step logs go to the database, not to the worker's stdout.
    trainer.remove_callback(PrinterCallback)
    return trainer


def summary(reporter: RunReporter, trainer: Trainer, rows: dict[str, int]) -> dict[str, Any]:
    state = trainer.state
    runtime = reporter.summary.get("train_runtime")
    metrics: dict[str, Any] = {
        "steps": state.global_step,
        "epochs": round(state.epoch or 0.0, 4),
        "first_loss": reporter.first_loss,
        "last_loss": reporter.last_loss,
        "train_loss": reporter.summary.get("train_loss"),
        "eval_loss": reporter.eval_loss,
        "train_tokens": state.num_input_tokens_seen,
        "train_runtime_s": runtime,
        "tokens_per_second": round(state.num_input_tokens_seen / runtime, 1) if runtime else None,
        "rows": rows,
    }
    # DPO: how often, and by how much, the student prefers the chosen answer at the end.
    for key in ("rewards/accuracies", "rewards/margins"):
        if key in reporter.last_values:
            metrics[key] = reporter.last_values[key]
    return metrics
