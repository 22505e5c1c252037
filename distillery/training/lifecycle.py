"""Training job lifecycle: queued → running → succeeded | failed | cancelled.

The API creates and cancels; the training worker starts, reports and closes. Every
transition locks the job row, so a cancel and the worker's own close never cross, and
goes through the transition table shared with synthesis jobs (distillery/schemas/status.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from distillery.datasets import queries
from distillery.db.base import new_id, utcnow
from distillery.db.models import Dataset, TrainingJob, TrainingMetric
from distillery.db.scoping import get_owned
from distillery.errors import Conflict, InvalidSpec, NotFound
from distillery.schemas.status import TERMINAL_STATUSES, JobKind, JobStatus, move
from distillery.schemas.training import TRAINING_METHODS, Evaluate, Generate, Lora, TrainingJobCreate
from distillery.security.scrub import scrub
from distillery.teachers import registry
from distillery.training import gold_sets, hyperparameters, students
from distillery.training.base_models import locate
from distillery.training.events import emit
from distillery.training.hyperparameters import MethodHyperparameters
from distillery.training.students import BrokenLineage, Student

# The dataset kind each method reads (Dataset.kind); None: any kind, for its prompts.
DATASET_KIND: dict[str, str | None] = {"sft": "sft", "dpo": "preference", "generate": None, "evaluate": None}
TRAINING = JobKind.TRAINING


def create(
    session: Session,
    tenant_id: str,
    spec: TrainingJobCreate,
    *,
    hub_cache: Path,
    model_dirs: Sequence[Path] = (),
    request_id: str | None = None,
) -> TrainingJob:
    """Store a queued training job. `request_id`: of the API request it comes from."""
    if spec.method == "evaluate":
        dataset = gold_sets.check(session, tenant_id, spec.dataset_id, "dataset_id")
    else:
        dataset = _dataset(session, tenant_id, spec)
    student = students.resolve(session, tenant_id, spec.student) if spec.student else None
    if student is not None:
        base_model = student.base_model
    else:
        assert spec.base_model is not None  # TrainingJobCreate asks for one or the other
        base_model = locate(spec.base_model, hub_cache, model_dirs)
    evaluate = _evaluate(session, tenant_id, spec.evaluate)
    trains = spec.method in TRAINING_METHODS
    job = TrainingJob(
        id=new_id("train"),
        tenant_id=tenant_id,
        dataset_id=dataset.id,
        method=spec.method,
        base_model=base_model,
        student_job_id=student.id if student else None,
        hyperparameters=hyperparameters.for_job(spec),
        lora=spec.lora.model_dump() if spec.lora and trains else None,
        eval_split=spec.eval_split if trains else 0.0,
        evaluate=evaluate.model_dump() if evaluate else None,
        metrics={},
        request_id=request_id,
    )
    session.add(job)
    session.flush()
    emit(session, job.id, "created", _created(spec, dataset, base_model))
    return job


def _dataset(session: Session, tenant_id: str, spec: TrainingJobCreate) -> Dataset:
    try:
        dataset = queries.get(session, tenant_id, spec.dataset_id)
    except NotFound:
        raise InvalidSpec("dataset_id", f"no dataset '{spec.dataset_id}'") from None
    wanted = DATASET_KIND[spec.method]
    if wanted is not None and dataset.kind != wanted:
        raise InvalidSpec(
            "dataset_id", f"a {spec.method} job needs a {wanted} dataset; '{dataset.id}' is a {dataset.kind} dataset"
        )
    if dataset.record_count == 0:
        raise InvalidSpec("dataset_id", f"dataset '{dataset.id}' has no records")
    return dataset


def _evaluate(session: Session, tenant_id: str, given: Evaluate | None) -> Evaluate | None:
    if given is None:
        return None
    resolved = {}
    if given.judge_teacher:
        # Stored by id, as synthesis jobs store theirs: a later rename does not change the job.
        resolved["judge_teacher"] = registry.resolve(
            session, tenant_id, given.judge_teacher, "evaluate.judge_teacher"
        ).id
    if given.dataset_id:
        resolved["dataset_id"] = gold_sets.check(session, tenant_id, given.dataset_id, "evaluate.dataset_id").id
    return given.model_copy(update=resolved)


def _created(spec: TrainingJobCreate, dataset: Dataset, base_model: str) -> str:
    """The `created` event's words."""
    source = f"dataset {dataset.id} (v{dataset.version}, {dataset.record_count} records)"
    if spec.method == "generate":
        samples = (spec.generate or Generate()).samples
        return f"generate job: student {spec.student} samples {samples} answers for each prompt of {source}"
    if spec.method == "evaluate":
        return f"evaluate job: student {spec.student} is scored on gold set {source}"
    tuning = f"LoRA r={spec.lora.r}" if spec.lora else "full fine-tuning"
    start = f"from student {spec.student} (base model {base_model})" if spec.student else f"base model {base_model}"
    return f"{spec.method} job on {source}, {start}, {tuning}"


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
    # sft and dpo only.
    hyperparameters: MethodHyperparameters | None
    # As the job row stores them and the API shows them (the run card repeats them).
    stored_hyperparameters: dict[str, Any]
    lora: Lora | None
    eval_split: float
    evaluate: Evaluate | None
    attempt: int
    dataset: dict[str, Any]
    # The trained student the job starts from (sft, dpo) or runs (generate, evaluate).
    student: Student | None = None
    # generate only.
    generate: Generate | None = None

    @property
    def trains(self) -> bool:
        return self.method in TRAINING_METHODS

    @property
    def gold_set_id(self) -> str | None:
        """The dataset the student is scored on, when not the held-out split."""
        if self.method == "evaluate":
            return self.dataset_id
        return self.evaluate.dataset_id if self.evaluate else None


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
    try:
        student = students.lineage(session, job.student_job_id) if job.student_job_id else None
    except BrokenLineage as exc:
        _close(session, job, JobStatus.FAILED, f"its student cannot be loaded: {exc}")
        return None
    move(job, JobStatus.RUNNING, TRAINING)
    job.attempts += 1
    job.heartbeat_at = now
    job.started_at = job.started_at or now
    if job.attempts == 1:
        emit(session, job.id, "started", "a training worker picked the job up")
    trains = job.method in TRAINING_METHODS
    return RunSpec(
        job_id=job.id,
        tenant_id=job.tenant_id,
        dataset_id=job.dataset_id,
        method=job.method,
        base_model=job.base_model,
        hyperparameters=hyperparameters.as_run(job.method, job.hyperparameters) if trains else None,
        stored_hyperparameters=dict(job.hyperparameters),
        lora=Lora.model_validate(job.lora) if job.lora else None,
        eval_split=job.eval_split,
        evaluate=Evaluate.model_validate(job.evaluate) if job.evaluate else None,
        attempt=job.attempts,
        dataset={"id": dataset.id, "name": dataset.name, "version": dataset.version, "kind": dataset.kind},
        student=student,
        generate=hyperparameters.as_sampling(job.hyperparameters) if job.method == "generate" else None,
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


def closing_message(method: str, status: JobStatus, metrics: dict[str, Any]) -> str:
    """The closing event's words: a training run's steps and loss, a generate job's samples,
    an evaluate job's score."""
    if method == "generate":
        if status == JobStatus.CANCELLED:
            return f"cancelled after {metrics['prompts']} prompts; no dataset written"
        return (
            f"{metrics['prompts']} prompts sampled, {metrics['distinct_samples']} distinct answers;"
            f" candidates dataset {metrics['output_dataset_id']}"
        )
    if method == "evaluate":
        evaluation = metrics["evaluation"]
        exact = evaluation["exact_match"]
        score = f"exact match {exact:.1%}" if exact is not None else "no final answers to match"
        stopped = "cancelled; " if status == JobStatus.CANCELLED else ""
        return f"{stopped}{evaluation['prompts']} gold prompts answered; {score}"
    loss = ""
    if metrics["first_loss"] is not None and metrics["last_loss"] is not None:
        loss = f"; loss {metrics['first_loss']:.4f} → {metrics['last_loss']:.4f}"
    if metrics.get("eval_loss") is not None:
        loss += f", eval loss {metrics['eval_loss']:.4f}"
    if status == JobStatus.CANCELLED:
        return f"cancelled at step {metrics['steps']}; the model as trained so far is saved{loss}"
    return f"trained {metrics['steps']} steps{loss}"
