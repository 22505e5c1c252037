"""The Celery app and enqueueing. Messages are doorbells: they carry ids only, and are
sent after the transaction that made the work has committed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from celery import Celery
from kombu import Queue

from distillery.settings import get_settings

SYNTHESIS = "synthesis"
TRAINING = "training"

# Task names: the contract between whoever enqueues and the worker that registers the task.
PLAN_JOB = "distillery.synthesis.plan_job"
RUN_CHUNK = "distillery.synthesis.run_chunk"
FINALIZE_JOB = "distillery.synthesis.finalize_job"
REAP_LEASES = "distillery.synthesis.reap_leases"
REAP_TRAINING_JOBS = "distillery.synthesis.reap_training_jobs"
RUN_TRAINING_JOB = "distillery.training.run_job"
# A trained job's judge step, run on the synthesis side (distillery/workers/judging.py).
JUDGE_TRAINING = "distillery.synthesis.judge_training"
# Move a pipeline on: start its next stage once the current one's job has ended.
ADVANCE_PIPELINE = "distillery.synthesis.advance_pipeline"
# Every task under this prefix goes to the training queue.
TRAINING_TASKS = "distillery.training.*"


@lru_cache
def celery_app() -> Celery:
    settings = get_settings()
    app = Celery("distillery", broker=settings.resolved_broker_url)
    app.conf.update(
        task_queues=[Queue(SYNTHESIS), Queue(TRAINING)],
        task_default_queue=SYNTHESIS,
        task_routes={TRAINING_TASKS: {"queue": TRAINING}},
        # A message is acked only after its task ran; a killed worker's message comes back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # A chunk running when the broker connection drops keeps running (Celery 6 would
        # cancel it): its teacher calls are being paid for, and its outcomes go to
        # Postgres. Its message may be lost with a restarted Redis; its leases are not.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
    )
    if app.conf.broker_url.startswith("sqla+"):
        # kombu hands these to create_engine: several processes share the SQLite file, so
        # writers wait for the lock instead of failing with "database is locked".
        app.conf.broker_transport_options = {"connect_args": {"timeout": 30}}
    return app


def warm_up() -> None:
    """Build the Celery app and its producer pool now (about 0.1 s), not in the first
    request that enqueues. A broker that is down is not an error here: /readyz says so."""
    try:
        with celery_app().producer_or_acquire():
            pass
    except Exception:
        return


def enqueue(task: str, *args: object, queue: str = SYNTHESIS) -> None:
    celery_app().send_task(task, args=list(args), queue=queue)


@dataclass(frozen=True)
class Message:
    """A task to enqueue once the transaction that made its work has committed: what domain
    code returns to its edge (an API route or a task) instead of enqueueing itself."""

    task: str
    args: tuple[object, ...]
    queue: str = SYNTHESIS


def send(messages: Iterable[Message]) -> None:
    for message in messages:
        enqueue(message.task, *message.args, queue=message.queue)


def broker_reachable(timeout_s: float = 2.0) -> bool:
    try:
        with celery_app().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout_s)
        return True
    except Exception:
        return False
