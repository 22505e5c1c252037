"""The workers' side of pipelines: the doorbells that move a pipeline on when one of its
stages' jobs has ended, and the sweep that catches the ones a lost message left waiting.
The ADVANCE_PIPELINE task itself is in distillery/workers/synthesis.py."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from distillery.db.session import unit_of_work
from distillery.pipelines import runner
from distillery.queue import ADVANCE_PIPELINE, enqueue
from distillery.settings import get_settings

log = logging.getLogger(__name__)


def after_job(job_id: str) -> None:
    """Synthesis job `job_id` may have ended: move its pipeline on, if it has one."""
    _ring(lambda session: runner.after_job(session, job_id), job_id)


def after_training_job(training_job_id: str) -> None:
    _ring(lambda session: runner.after_training_job(session, training_job_id), training_job_id)


def _ring(find: Callable[[Session], str | None], job_id: str) -> None:
    try:
        with unit_of_work() as session:
            pipeline_id = find(session)
        if pipeline_id is not None:
            enqueue(ADVANCE_PIPELINE, pipeline_id)
    except Exception:  # the job's own work is done: the sweep moves the pipeline on instead
        log.warning("the pipeline of job %s was not told that the job ended", job_id, exc_info=True)


def sweep() -> None:
    """Every pipeline that can move but was not moved: its stage's job ended unannounced."""
    with unit_of_work() as session:
        stalled = runner.stalled(session, quiet_s=get_settings().lease_seconds)
    for pipeline_id in stalled:
        enqueue(ADVANCE_PIPELINE, pipeline_id)
