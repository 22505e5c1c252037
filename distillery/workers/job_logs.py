"""The context of a task's log lines, Celery's own included ("Task ... succeeded", a
traceback): the job it works on and the request id that created that job (stored on the
job's row), bound when the task starts and unbound when it ends
(distillery/observability/log_context.py).

A task for a job, training job or pipeline takes its id as first argument; `_SUBJECTS`
names those tasks (the reapers work on many jobs at once, and bind nothing).
"""

from __future__ import annotations

import logging
from contextvars import Token
from typing import Any

from celery.signals import task_postrun, task_prerun
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from distillery.db.models import Job, Pipeline, TrainingJob
from distillery.db.session import unit_of_work
from distillery.observability.log_context import Fields, bind, unbind
from distillery.queue import ADVANCE_PIPELINE, FINALIZE_JOB, JUDGE_TRAINING, PLAN_JOB, RUN_CHUNK, RUN_TRAINING_JOB

log = logging.getLogger(__name__)

_Row = type[Job] | type[TrainingJob] | type[Pipeline]
# Task name → the row its first argument names, and that id's field in log lines.
_SUBJECTS: dict[str, tuple[_Row, str]] = {
    PLAN_JOB: (Job, "job_id"),
    RUN_CHUNK: (Job, "job_id"),
    FINALIZE_JOB: (Job, "job_id"),
    JUDGE_TRAINING: (TrainingJob, "training_job_id"),
    RUN_TRAINING_JOB: (TrainingJob, "training_job_id"),
    ADVANCE_PIPELINE: (Pipeline, "pipeline_id"),
}
# Celery task id → what to restore when it ends.
_bound: dict[str, Token[Fields]] = {}


@task_prerun.connect
def _bind_subject(task_id: str, task: Any, args: tuple[Any, ...], **_: Any) -> None:
    subject = _SUBJECTS.get(task.name)
    if subject is None or not args or not isinstance(args[0], str):
        return
    row, field = subject
    _bound[task_id] = bind(**{field: args[0]}, request_id=_request_id(row, args[0]))


@task_postrun.connect
def _unbind_subject(task_id: str, **_: Any) -> None:
    token = _bound.pop(task_id, None)
    if token is not None:
        unbind(token)


def _request_id(row: _Row, row_id: str) -> str | None:
    # For log lines only: a database that is down now fails the task's own work, which
    # says so (and is retried); not here.
    try:
        with unit_of_work() as session:
            return session.scalar(select(row.request_id).where(row.id == row_id))
    except SQLAlchemyError:
        log.debug("no request id for %s: database unavailable", row_id, exc_info=True)
        return None
