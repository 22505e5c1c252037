"""The one transition table shared by synthesis and training jobs."""

from __future__ import annotations

import itertools

import pytest

from distillery.schemas.status import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    JobKind,
    JobStatus,
    allowed,
    move,
    transition,
)

SYNTHESIS, TRAINING = JobKind.SYNTHESIS, JobKind.TRAINING
Q, R, P = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED
OK, FAIL, STOP = JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED

LEGAL = {
    SYNTHESIS: {
        (Q, R), (Q, STOP), (Q, FAIL),
        (R, P), (R, OK), (R, FAIL), (R, STOP),
        (P, R), (P, OK), (P, FAIL), (P, STOP),
        (OK, R), (FAIL, R), (STOP, R),
    },
    TRAINING: {
        (Q, R), (Q, STOP), (Q, FAIL),
        (R, OK), (R, FAIL), (R, STOP), (R, Q), (R, R),
    },
}  # fmt: skip
EVERY_MOVE = list(itertools.product(JobStatus, JobStatus))


class Job:
    def __init__(self, status: str) -> None:
        self.status = status


def test_statuses_are_the_strings_on_the_wire_and_in_the_database():
    assert [s.value for s in JobStatus] == ["queued", "running", "paused", "succeeded", "failed", "cancelled"]
    assert JobStatus.RUNNING == "running" and "running" in (JobStatus.RUNNING,)
    assert f"{JobStatus.FAILED}" == "failed"


@pytest.mark.parametrize("kind", list(JobKind))
@pytest.mark.parametrize(("current", "to"), EVERY_MOVE)
def test_every_legal_move_is_allowed_and_every_other_refused(kind, current, to):
    legal = (current, to) in LEGAL[kind]
    assert allowed(current, to, kind) is legal
    assert allowed(current.value, to, kind) is legal  # as read back from the database
    job = Job(current.value)
    if legal:
        move(job, to, kind)
        assert job.status == to and isinstance(job.status, JobStatus)
    else:
        with pytest.raises(IllegalTransition, match=f"from {current} to {to}"):
            move(job, to, kind)
        assert job.status == current  # left as it was


def test_the_table_holds_exactly_the_legal_moves():
    for kind in JobKind:
        assert {move for move, kinds in TRANSITIONS.items() if kind in kinds} == LEGAL[kind]


def test_a_finished_training_job_never_changes_again():
    for finished, to in itertools.product(TERMINAL_STATUSES, JobStatus):
        assert not allowed(finished, to, TRAINING)


def test_an_unknown_status_moves_nowhere():
    assert not allowed("exploded", JobStatus.RUNNING, SYNTHESIS)
    with pytest.raises(IllegalTransition):
        transition("exploded", JobStatus.RUNNING, SYNTHESIS)
