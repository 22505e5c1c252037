"""Statuses of jobs, work items and records, and the one table of the transitions a job may
make, shared by synthesis and training jobs.

A status is a `StrEnum`: each member equals its string, so the database column, the JSON
on the wire and a comparison with a string stored earlier are unchanged.

    queued → running → succeeded | failed | cancelled
    synthesis only: running ⇄ paused (its teacher stopped answering); a finished job
        back to running (retry)
    training only: running → queued (its worker died; the reaper queues it again);
        running → running (a new worker resumes a job whose worker died)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    # Running, but waiting for a teacher that stopped answering (its circuit is open).
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobKind(StrEnum):
    SYNTHESIS = "synthesis"
    TRAINING = "training"


class ItemStatus(StrEnum):
    """A work item (one unit of a job's work, leased by a chunk): pending → running → done | failed | skipped."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class RecordStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


# Tuples, not sets: SQLAlchemy's `in_` and the metrics keep their order.
TERMINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
# Statuses in which workers run a synthesis job's items.
ACTIVE_STATUSES = (JobStatus.RUNNING, JobStatus.PAUSED)
# Statuses that count against a tenant's limit on active jobs.
UNFINISHED_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
# A work item a chunk may still run.
OPEN_ITEM_STATUSES = (ItemStatus.PENDING, ItemStatus.RUNNING)

_SYNTHESIS = frozenset({JobKind.SYNTHESIS})
_TRAINING = frozenset({JobKind.TRAINING})
_BOTH = _SYNTHESIS | _TRAINING
_queued, _running, _paused = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED
_succeeded, _failed, _cancelled = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED

# (from, to) → the kinds of job that may make the move. Any other move is a bug.
TRANSITIONS: dict[tuple[JobStatus, JobStatus], frozenset[JobKind]] = {
    (_queued, _running): _BOTH,  # planned; claimed by a training worker
    (_queued, _cancelled): _BOTH,  # cancelled before it started
    (_queued, _failed): _BOTH,  # planning failed; a training job out of attempts or without its dataset
    (_running, _succeeded): _BOTH,
    (_running, _failed): _BOTH,
    (_running, _cancelled): _BOTH,
    (_running, _paused): _SYNTHESIS,  # its teacher stopped answering
    (_paused, _running): _SYNTHESIS,  # the teacher answers again, or the job is retried
    (_paused, _succeeded): _SYNTHESIS,  # finalized while its teacher was away
    (_paused, _failed): _SYNTHESIS,
    (_paused, _cancelled): _SYNTHESIS,
    (_succeeded, _running): _SYNTHESIS,  # retry
    (_failed, _running): _SYNTHESIS,
    (_cancelled, _running): _SYNTHESIS,
    (_running, _queued): _TRAINING,  # its worker stopped heartbeating: queued again
    (_running, _running): _TRAINING,  # a new worker resumes a job whose worker died
}


class IllegalTransition(RuntimeError):
    """A job was asked to move where the table does not allow: a bug, never a user's error."""


class HasStatus(Protocol):
    status: str


def allowed(current: str, to: JobStatus, kind: JobKind) -> bool:
    try:
        return kind in TRANSITIONS.get((JobStatus(current), to), frozenset())
    except ValueError:  # not a status at all
        return False


def transition(current: str, to: JobStatus, kind: JobKind) -> JobStatus:
    """`to`, or IllegalTransition when the table forbids the move: the value a bulk UPDATE
    guarded by `status == current` sets."""
    if not allowed(current, to, kind):
        raise IllegalTransition(f"a {kind} job cannot go from {current} to {to}")
    return JobStatus(to)


def move(job: HasStatus, to: JobStatus, kind: JobKind) -> None:
    """Set `job.status` to `to`, or raise IllegalTransition when the table forbids the move."""
    job.status = transition(job.status, to, kind)
