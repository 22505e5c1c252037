"""The end of every run, whatever its method: publish what is under the local folder with
the run card, then close the job, or hand it to the synthesis side when its evaluation
left free-form answers for a judge teacher (distillery/training/judging.py): this worker does not
wait for a judge."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distillery.db.session import unit_of_work
from distillery.queue import JUDGE_TRAINING, enqueue
from distillery.schemas.status import JobStatus
from distillery.training import judging, lifecycle
from distillery.training.events import emit
from distillery.training.judging import Comparison
from distillery.training.lifecycle import RunSpec, closing_message
from distillery.workers.training.artifacts import publish

log = logging.getLogger(__name__)


def event(job_id: str, type: str, message: str, *, level: str = "info", **data: Any) -> None:
    with unit_of_work() as session:
        emit(session, job_id, type, message, level=level, **data)


def conclude(
    spec: RunSpec,
    status: JobStatus,
    metrics: dict[str, Any],
    card: dict[str, Any],
    local: Path,
    saved: str,
    to_judge: list[Comparison],
) -> None:
    """Publish `local` and `card`; `saved` says what in words."""
    local.mkdir(parents=True, exist_ok=True)
    uri = publish(local, card, spec.job_id)
    if to_judge:
        # The synthesis workers run the judge job and close this one when it ends
        # (distillery/workers/judging.py).
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
        lifecycle.finish(session, spec.job_id, status, closing_message(spec.method, status, metrics), metrics, uri)
