"""Running one training job: claim it, materialise its dataset, train with TRL (SFT or DPO,
LoRA via PEFT or full), evaluate, publish the artifacts, close the job. Whatever goes wrong
ends the job as failed with a reason a user can act on."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, Trainer
from trl import DPOConfig, DPOTrainer, SFTTrainer

from app.db.session import unit_of_work
from app.queue import JUDGE_TRAINING, enqueue
from app.schemas.status import JobStatus
from app.settings import get_settings
from app.training import judging, lifecycle
from app.training.events import emit
from app.training.judging import Comparison
from app.training.lifecycle import RunSpec, closing_message
from workers import pipelines
from workers.training.artifacts import publish, run_card
from workers.training.callbacks import RunReporter
from workers.training.configs import lora_config, trl_config
from workers.training.evaluate import evaluate
from workers.training.materialize import DataError, Materialized, materialize

log = logging.getLogger(__name__)


class ModelError(Exception):
    """The base model cannot be loaded or trained as it is."""


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
        _run(spec, scratch)
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


def _event(job_id: str, type: str, message: str, *, level: str = "info", **data: Any) -> None:
    with unit_of_work() as session:
        emit(session, job_id, type, message, level=level, **data)


def _run(spec: RunSpec, scratch: Path) -> None:
    data = materialize(spec)
    eval_rows = len(data.eval) if data.eval is not None else 0
    rows: dict[str, Any] = {"train": len(data.train), "eval": eval_rows, "dropped": data.dropped}
    dropped = f"; {data.dropped} rows without a usable answer left out" if data.dropped else ""
    _event(
        spec.job_id,
        "dataset_materialized",
        f"{rows['train']} training rows, {eval_rows} held-out rows{dropped}",
        **rows,
    )
    tokenizer, model = load_model(spec)
    reporter = RunReporter(spec.job_id)
    trainer = build_trainer(spec, model, tokenizer, data, scratch / "checkpoints", reporter)
    checkpoint = last_complete_checkpoint(scratch / "checkpoints")
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)

    metrics = summary(reporter, trainer, rows)
    to_judge: list[Comparison] = []
    if spec.evaluate and not reporter.cancelled:
        metrics["evaluation"], to_judge = _evaluate(spec, trainer, tokenizer, data, reporter)
    status = JobStatus.CANCELLED if reporter.cancelled else JobStatus.SUCCEEDED
    weights = scratch / "publish" / ("adapter" if spec.lora else "model")
    trainer.save_model(str(weights))
    tokenizer.save_pretrained(str(weights))
    card = run_card(spec, status, metrics, rows, str(trainer.args.device))
    uri = publish(scratch / "publish", card, spec.job_id)
    saved = f"{weights.name}, tokenizer and run card saved"
    if to_judge:
        # The synthesis workers run the judge job and close this one when it ends: this
        # worker does not wait (workers/judging.py).
        with unit_of_work() as session:
            handed = judging.hand_off(session, spec.job_id, to_judge, metrics, uri, saved)
        if handed:
            try:
                enqueue(JUDGE_TRAINING, spec.job_id)
            except Exception:  # handed over all the same: the training reaper's sweep finds it
                log.warning("training job %s: the judge step's message was not sent", spec.job_id, exc_info=True)
        return
    with unit_of_work() as session:
        emit(session, spec.job_id, "artifacts_saved", saved)
        lifecycle.finish(session, spec.job_id, status, closing_message(status, metrics), metrics, uri)


def load_model(spec: RunSpec) -> tuple[Any, Any]:
    # On a GPU with bfloat16, a LoRA run keeps the frozen base in bf16 (half the memory);
    # full fine-tuning keeps fp32 master weights and trains in bf16 autocast.
    dtype = torch.bfloat16 if spec.lora and _bf16() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
        model = AutoModelForCausalLM.from_pretrained(spec.base_model, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"could not load base model '{spec.base_model}': {str(exc)[:500]}") from exc
    if not tokenizer.chat_template:
        raise ModelError(
            f"base model '{spec.base_model}' has no chat template; the student is trained on conversations"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def _bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def build_trainer(
    spec: RunSpec, model: Any, tokenizer: Any, data: Materialized, output_dir: Path, reporter: RunReporter
) -> Trainer:
    args = trl_config(
        spec.hyperparameters,
        output_dir,
        has_eval=data.eval is not None,
        bf16=_bf16(),
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


def _evaluate(
    spec: RunSpec, trainer: Trainer, tokenizer: Any, data: Materialized, reporter: RunReporter
) -> tuple[dict[str, Any], list[Comparison]]:
    """The evaluation so far, and the comparisons a judge teacher still has to make (then
    the `evaluated` event waits for its verdict)."""
    assert spec.evaluate is not None
    n = min(spec.evaluate["n"], len(data.eval_prompts))
    _event(spec.job_id, "evaluation_started", f"the student answers {n} held-out prompts")
    result, free_form = evaluate(
        trainer.model,
        tokenizer,
        data.eval_prompts,
        n,
        spec.evaluate["max_new_tokens"],
        lambda done: reporter.beat(trainer.state),
    )
    to_judge = free_form if spec.evaluate.get("judge_teacher") else []
    ties, asked = judging.split(to_judge)
    if to_judge and not asked:  # every answer equals the teacher's: nothing to ask a judge
        result["judge"] = judging.verdict(None, Counter(tie=ties))
        with unit_of_work() as session:
            emit(session, spec.job_id, "judging_started", f"the judge teacher compares {ties} free-form answers")
            judging.judged(session, spec.job_id, result["judge"])
    if asked:
        return result, to_judge
    with unit_of_work() as session:
        judging.evaluated(session, spec.job_id, result)
    return result, []
