"""Synthesis tasks: plan a job, run a chunk, finalize, reap expired leases; for training
jobs, the reaper of those whose worker died and the judge step of their evaluation, which
run here so that they need no GPU host alive (distillery.training imports no torch); and moving
pipelines on from one stage to the next."""

from __future__ import annotations

import logging
from typing import Any

from distillery.db.session import unit_of_work
from distillery.jobs import leases, lifecycle, planning
from distillery.jobs.execution import TRANSIENT
from distillery.jobs.execution import run_chunk as run_chunk_items
from distillery.pipelines import runner as pipeline_runner
from distillery.pipelines.stages import Runtime
from distillery.queue import (
    ADVANCE_PIPELINE,
    FINALIZE_JOB,
    JUDGE_TRAINING,
    PLAN_JOB,
    REAP_LEASES,
    REAP_TRAINING_JOBS,
    RUN_CHUNK,
    RUN_TRAINING_JOB,
    TRAINING,
    enqueue,
    send,
)
from distillery.settings import get_settings
from distillery.training import lifecycle as training
from distillery.workers import judging, pipelines
from distillery.workers.celery_app import app
from distillery.workers.runtime import run_async

log = logging.getLogger(__name__)


# A task the database (or Redis) failed under is sent again within 1, 2, 4 s: planning is
# idempotent and a chunk claims only what is unfinished. Past that, the reapers take over.
RETRY_TRANSIENT: dict[str, Any] = {"autoretry_for": TRANSIENT, "retry_backoff": True, "max_retries": 3}


@app.task(name=PLAN_JOB, **RETRY_TRANSIENT)
def plan_job(job_id: str) -> None:
    settings = get_settings()
    with unit_of_work() as session:
        chunks = planning.plan(session, job_id, chunk_size=settings.chunk_size, lease_s=settings.lease_seconds)
    for chunk in chunks:
        enqueue(RUN_CHUNK, job_id, chunk)
    if not chunks:  # nothing to run (or already planned): finishing is idempotent
        enqueue(FINALIZE_JOB, job_id)


@app.task(name=RUN_CHUNK, **RETRY_TRANSIENT)
def run_chunk(job_id: str, item_ids: list[int]) -> None:
    if run_async(run_chunk_items(job_id, item_ids)):
        enqueue(FINALIZE_JOB, job_id)
    else:  # the job may have failed on its teacher's refusal
        pipelines.after_job(job_id)


@app.task(name=FINALIZE_JOB)
def finalize_job(job_id: str) -> None:
    settings = get_settings()
    try:
        with unit_of_work() as session:
            chunks = lifecycle.finalize(session, job_id, chunk_size=settings.chunk_size, lease_s=settings.lease_seconds)
    except TRANSIENT:
        # The database went away, not the job's fault: the lease reaper finds the job
        # (running, nothing left to do) and finalizes it again.
        log.warning("finalizing job %s interrupted; the reaper will retry it", job_id, exc_info=True)
        return
    except Exception as exc:
        log.exception("finalizing job %s failed", job_id)
        with unit_of_work() as session:
            lifecycle.fail(session, job_id, f"finalizing failed: {type(exc).__name__}")
        judging.after_job_finished(job_id)
        pipelines.after_job(job_id)
        return
    # The next stage of a job that works in rounds.
    for chunk in chunks:
        enqueue(RUN_CHUNK, job_id, chunk)
    if not chunks:  # a training job whose judge this was closes now; a pipeline moves on
        judging.after_job_finished(job_id)
        pipelines.after_job(job_id)


@app.task(name=REAP_LEASES)
def reap_leases() -> None:
    settings = get_settings()
    with unit_of_work() as session:
        expired = leases.expired(session, settings.lease_seconds, settings.chunk_size)
        unplanned, unfinished = leases.stalled_jobs(session, settings.lease_seconds)
    for job_id, chunks in expired.items():
        log.warning("re-dispatching %d expired chunks of job %s", len(chunks), job_id)
        for chunk in chunks:
            enqueue(RUN_CHUNK, job_id, chunk)
    for job_id in unplanned:
        enqueue(PLAN_JOB, job_id)
    for job_id in unfinished:
        enqueue(FINALIZE_JOB, job_id)
    pipelines.sweep()


@app.task(name=REAP_TRAINING_JOBS)
def reap_training_jobs() -> None:
    settings = get_settings()
    with unit_of_work() as session:
        requeued = training.reap(
            session, stale_after_s=settings.training_heartbeat_timeout_s, max_attempts=settings.training_max_attempts
        )
    for job_id in requeued:
        log.warning("training job %s lost its worker; queued again", job_id)
        enqueue(RUN_TRAINING_JOB, job_id, queue=TRAINING)
    judging.sweep()


@app.task(name=JUDGE_TRAINING, **RETRY_TRANSIENT)
def judge_training(job_id: str) -> None:
    judging.advance(job_id)


@app.task(name=ADVANCE_PIPELINE, **RETRY_TRANSIENT)
def advance_pipeline(pipeline_id: str) -> None:
    with unit_of_work() as session:
        messages = pipeline_runner.advance(session, pipeline_id, Runtime.of(get_settings()))
    send(messages)
