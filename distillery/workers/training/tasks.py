"""The training task. Registered only in `distillery train-worker`, which consumes the
`training` queue one job at a time."""

from __future__ import annotations

from distillery.queue import RUN_TRAINING_JOB
from distillery.workers.celery_app import app
from distillery.workers.training.runner import run


@app.task(name=RUN_TRAINING_JOB)
def run_job(job_id: str) -> None:
    run(job_id)
