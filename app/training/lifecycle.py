"""Training job lifecycle: queued → running → succeeded | failed | cancelled.

The API creates and cancels; the training worker starts, reports and closes. Every
transition locks the job row, so a cancel and the worker's own close never cross, and
goes through the transition table shared with synthesis jobs (app/schemas/status.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.datasets import queries
from app.db.base import new_id, utcnow
from app.db.models import TrainingJob, TrainingMetric
from app.db.scoping import get_owned
from app.errors import Conflict, InvalidSpec, NotFound
from app.schemas.status import TERMINAL_STATUSES, JobKind, JobStatus, move
from app.schemas.training import Lora, TrainingJobCreate
from app.security.scrub import scrub
from app.teachers import registry
from app.training import hyperparameters
from app.training.base_models import locate
from app.training.events import emit
from app.training.hyperparameters import MethodHyperparameters

# The dataset kind each method reads (Dataset.kind).
DATASET_KIND = {"sft": "sft", "dpo": "preference"}
TRAINING = JobKind.TRAINING


def create(
    session: Session, tenant_id: str, spec: TrainingJobCreate, *, hub_cache: Path, model_dirs: Sequence[Path] = ()
) -> TrainingJob:
    try:
        dataset = queries.get(session, tenant_id, spec.dataset_id)
    except NotFound:
        raise InvalidSpec("dataset_id", f"no dataset '{spec.dataset_id}'") from None
    wanted = DATASET_KIND[spec.method]
    if dataset.kind != wanted:
        raise InvalidSpec(
            "dataset_id", f"a {spec.method} job needs a {wanted} dataset; '{dataset.id}' is a {dataset.kind} dataset"
        )
    if dataset.record_count == 0:
        raise InvalidSpec("dataset_id", f"dataset '{dataset.id}' has no records")
    base_model = locate(spec.base_model, hub_cache, model_dirs)
    evaluate = spec.evaluate.model_dump() if spec.evaluate else None
    if evaluate and evaluate["judge_teacher"]:
        # Stored by id, as synthesis jobs store theirs: a later rename does not change the job.
        evaluate["judge_teacher"] = registry.resolve(
            session, tenant_id, evaluate["judge_teacher"], "evaluate.judge_teacher"
        ).id
    job = TrainingJob(
        id=new_id("train"),
        tenant_id=tenant_id,
        dataset_id=dataset.id,
        method=spec.method,
        base_model=base_model,
        hyperparameters=hyperparameters.as_stored(spec.method, spec.hyperparameters, lora=spec.lora is not None),
        lora=spec.lora.model_dump() if spec.lora else None,
        eval_split=spec.eval_split,
        evaluate=evaluate,
        metrics={},
    )
    session.add(job)
    session.flush()
    tuning = f"LoRA r={spec.lora.r}" if spec.lora else "full fine-tuning"
    emit(
        session,
        job.id,
        "created",
        f"{spec.method} job on dataset {dataset.id} (v{dataset.version}, {dataset.record_count} records),"
        f" base model {base_model}, {tuning}",
    )
    return job


def cancel(session: Session, tenant_id: str, job_id: str) -> TrainingJob:
    job = get_owned(session, TrainingJob, tenant_id, job_id, "training job", for_update=True)
    if job.status in TERMINAL_STATUSES:
        raise Conflict(f"training job '{job_id}' already {job.status}; only queued or running jobs can be cancelled")
    if job.status == JobStatus.QUEUED:
        _close(session, job, JobStatus.CANCELLED, "cancelled by the user before it started")
        return job
    if not job.cancel_requested:
        job.cancel_requested = True
        emit(session, job.id, "cancel_requested", "cancel requested; the worker stops at the next step")
    return job


@dataclass(frozen=True)
class RunSpec:
    """What a training worker needs to run a job: a snapshot, not the ORM row."""

    job_id: str
    tenant_id: str
    dataset_id: str
    method: str
    base_model: str
    hyperparameters: MethodHyperparameters
    # As the job row stores them and the API shows them (the run card repeats them).
    stored_hyperparameters: dict[str, Any]
    lora: Lora | None
    eval_split: float
    evaluate: dict[str, Any] | None
    attempt: int
    dataset: dict[str, Any]


def start(session: Session, job_id: str, *, stale_after_s: float, max_attempts: int) -> RunSpec | None:
    """Claim the job for this worker, or None when there is nothing to run: it is finished,
    cancelled, still running on a live worker, or has used up its attempts."""
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id).with_for_update())
    if job is None or job.status in TERMINAL_STATUSES:
        return None
    now = utcnow()
    alive = job.heartbeat_at is not None and job.heartbeat_at > now - timedelta(seconds=stale_after_s)
    if job.status == JobStatus.RUNNING and alive:
        return None  # a second delivery while its worker is alive
    if job.judging_since is not None:
        return None  # trained; its judge step runs on the synthesis side
    if job.attempts >= max_attempts:
        # A worker killed mid-run (say, by the kernel's OOM killer) has its job delivered
        # again; after this many starts it fails instead of killing workers forever.
        _close(session, job, JobStatus.FAILED, _worn_out(job))
        return None
    if job.attempts:
        emit(session, job.id, "restarted", f"the previous worker stopped mid-run; attempt {job.attempts + 1}")
    if job.cancel_requested:
        _close(session, job, JobStatus.CANCELLED, "cancelled by the user")
        return None
    if job.dataset_id is None:
        _close(session, job, JobStatus.FAILED, "its dataset was deleted")
        return None
    dataset = queries.get(session, job.tenant_id, job.dataset_id)
    move(job, JobStatus.RUNNING, TRAINING)
    job.attempts += 1
    job.heartbeat_at = now
    job.started_at = job.started_at or now
    if job.attempts == 1:
        emit(session, job.id, "started", "a training worker picked the job up")
    return RunSpec(
        job_id=job.id,
        tenant_id=job.tenant_id,
        dataset_id=job.dataset_id,
        method=job.method,
        base_model=job.base_model,
        hyperparameters=hyperparameters.as_run(job.method, job.hyperparameters),
        stored_hyperparameters=dict(job.hyperparameters),
        lora=Lora.model_validate(job.lora) if job.lora else None,
        eval_split=job.eval_split,
        evaluate=dict(job.evaluate) if job.evaluate else None,
        attempt=job.attempts,
        dataset={"id": dataset.id, "name": dataset.name, "version": dataset.version, "kind": dataset.kind},
    )


def reap(session: Session, *, stale_after_s: float, max_attempts: int) -> list[str]:
    """Running jobs whose worker stopped heartbeating (killed, or its host is gone): each is
    queued again, to resume from its last checkpoint, and its id returned for the caller to
    enqueue; one that has used its attempts, or was asked to cancel, is closed instead.

    The broker would redeliver such a job by itself only after its visibility timeout (an
    hour on Redis), and never if the message went down with the broker."""
    cutoff = utcnow() - timedelta(seconds=stale_after_s)
    quiet = or_(TrainingJob.heartbeat_at < cutoff, TrainingJob.heartbeat_at.is_(None))
    stale = session.scalars(
        select(TrainingJob)
        # A job waiting for its judge step has no worker to lose.
        .where(TrainingJob.status == JobStatus.RUNNING, quiet, TrainingJob.judging_since.is_(None))
        .order_by(TrainingJob.id)
        .with_for_update(skip_locked=True)
    ).all()
    requeued = []
    for job in stale:
        silent = f"its training worker stopped sending heartbeats at step {job.step}"
        if job.cancel_requested:
            _close(session, job, JobStatus.CANCELLED, f"cancelled by the user; {silent}")
        elif job.attempts >= max_attempts:
            _close(session, job, JobStatus.FAILED, _worn_out(job))
        else:
            move(job, JobStatus.QUEUED, TRAINING)
            emit(
                session,
                job.id,
                "requeued",
                f"{silent} (killed, or its host is gone); queued again to resume from its last checkpoint,"
                f" attempt {job.attempts + 1} of {max_attempts}",
                level="warning",
                step=job.step,
            )
            requeued.append(job.id)
    return requeued


def _worn_out(job: TrainingJob) -> str:
    return (
        f"the training worker died {job.attempts} times while running this job, the last time at step {job.step}"
        " (killed for memory, or its host went down?); try a smaller batch_size or max_seq_length"
    )


def heartbeat(session: Session, job_id: str, step: int, total_steps: int | None) -> bool:
    """Record progress; True when the user asked to cancel."""
    cancel = session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id)
        .values(heartbeat_at=utcnow(), step=step, total_steps=total_steps)
        .returning(TrainingJob.cancel_requested)
    ).scalar_one_or_none()
    return bool(cancel)


def record_step(session: Session, job_id: str, step: int, values: dict[str, float]) -> None:
    """Merge what the trainer logged at `step` (train and eval values arrive apart)."""
    row = session.get(TrainingMetric, (job_id, step))
    if row is None:
        session.add(TrainingMetric(training_job_id=job_id, step=step, values=values))
    else:
        row.values = {**row.values, **values}


def finish(
    session: Session, job_id: str, status: JobStatus, message: str, metrics: dict[str, Any], artifacts_uri: str
) -> None:
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id).with_for_update())
    if job is None or job.status in TERMINAL_STATUSES:
        return
    job.metrics = metrics
    job.artifacts_uri = artifacts_uri
    _close(session, job, status, message)


def fail(session: Session, job_id: str, error: str) -> None:
    job = session.scalar(select(TrainingJob).where(TrainingJob.id == job_id).with_for_update())
    if job is None or job.status in TERMINAL_STATUSES:
        return
    _close(session, job, JobStatus.FAILED, error)


def _close(session: Session, job: TrainingJob, status: JobStatus, message: str) -> None:
    move(job, status, TRAINING)
    job.finished_at = utcnow()
    if status == JobStatus.FAILED:
        job.error = scrub(message)
    emit(session, job.id, str(status), message, level="error" if status == JobStatus.FAILED else "info")


def closing_message(status: JobStatus, metrics: dict[str, Any]) -> str:
    """The closing event's words for a run that trained: its steps and loss."""
    loss = ""
    if metrics["first_loss"] is not None and metrics["last_loss"] is not None:
        loss = f"; loss {metrics['first_loss']:.4f} → {metrics['last_loss']:.4f}"
    if metrics.get("eval_loss") is not None:
        loss += f", eval loss {metrics['eval_loss']:.4f}"
    if status == JobStatus.CANCELLED:
        return f"cancelled at step {metrics['steps']}; the model as trained so far is saved{loss}"
    return f"trained {metrics['steps']} steps{loss}"
