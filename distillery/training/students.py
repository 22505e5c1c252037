"""Trained students: a succeeded sft or dpo job's weights, as the starting point of a new
sft/dpo job or the model a generate or evaluate job runs.

A student is its base model plus every job that trained it, in order: a LoRA job saved
only an adapter, trained on the model before it with the earlier adapters merged in, so
loading one means applying its whole chain; a full fine-tune saved the whole model, so
the chain starts again there. The worker (distillery/workers/training/student.py) loads what
`lineage` lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from distillery.db.models import TrainingJob
from distillery.db.scoping import get_owned
from distillery.errors import InvalidSpec, NotFound
from distillery.schemas.status import JobStatus
from distillery.schemas.training import TRAINING_METHODS

# Guards a chain against a cycle written by hand into the database.
MAX_DEPTH = 64


class BrokenLineage(Exception):
    """A student's chain of trained jobs can no longer be loaded (a job or its artifacts gone)."""


@dataclass(frozen=True)
class Weights:
    """What one training job saved under its artifacts: `adapter/` or the full `model/`."""

    training_job_id: str
    kind: Literal["adapter", "model"]
    artifacts_uri: str


@dataclass(frozen=True)
class Student:
    training_job_id: str
    base_model: str
    # Oldest first. When the first is a full model, loading starts from it, not the base.
    weights: tuple[Weights, ...]


def resolve(session: Session, tenant_id: str, job_id: str) -> TrainingJob:
    """The tenant's training job whose trained student a new job uses; InvalidSpec on
    `student` unless it finished training and saved its weights."""
    try:
        job = get_owned(session, TrainingJob, tenant_id, job_id, "training job")
    except NotFound:
        raise InvalidSpec("student", f"no training job '{job_id}'") from None
    if job.method not in TRAINING_METHODS:
        raise InvalidSpec(
            "student", f"training job '{job_id}' is a {job.method} job, which trains nothing; name an sft or dpo job"
        )
    if job.status != JobStatus.SUCCEEDED or job.artifacts_uri is None:
        state = "it saved no weights" if job.status == JobStatus.SUCCEEDED else f"it is {job.status}"
        raise InvalidSpec("student", f"training job '{job_id}' has no trained student: {state}; wait until it succeeds")
    return job


def lineage(session: Session, job_id: str) -> Student:
    """The student job `job_id` trained, as the worker loads it."""
    chain: list[Weights] = []
    base_model = ""
    next_id: str | None = job_id
    while next_id is not None:
        job = session.get(TrainingJob, next_id)
        if job is None or job.status != JobStatus.SUCCEEDED or job.artifacts_uri is None:
            state = "gone" if job is None else f"{job.status} with no weights"
            raise BrokenLineage(f"training job '{next_id}' in the student's lineage is {state}")
        if len(chain) == MAX_DEPTH:
            raise BrokenLineage(f"training job '{job_id}' descends from more than {MAX_DEPTH} trained students")
        chain.append(Weights(job.id, "adapter" if job.lora else "model", job.artifacts_uri))
        # Every job of a chain keeps the base model it began from.
        base_model = job.base_model
        # A full model holds everything before it; a job without a student began at its base.
        next_id = job.student_job_id if job.lora else None
    return Student(training_job_id=job_id, base_model=base_model, weights=tuple(reversed(chain)))
