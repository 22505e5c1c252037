"""The worker entry point: the Celery app with its tasks, the reapers' schedule and the
log format (DISTILLERY_LOG_FORMAT)."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger

from distillery.observability.json_logs import use_json
from distillery.queue import REAP_LEASES, REAP_TRAINING_JOBS, celery_app
from distillery.security.scrub import install_log_filter
from distillery.settings import get_settings
from distillery.workers import job_logs  # noqa: F401  binds each job task's log context

install_log_filter()  # before Celery sets up its loggers: every record is scrubbed


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger: logging.Logger, **_: Any) -> None:
    """Celery has given the root logger and its task logger their handlers: in JSON if asked."""
    if get_settings().log_format == "json":
        use_json(logger)


app = celery_app()
app.conf.include = ["distillery.workers.runtime", "distillery.workers.synthesis"]
app.conf.beat_schedule = {
    "reap-expired-leases": {
        "task": REAP_LEASES,
        # A quarter of the lease: an expired item waits at most 1.25 leases in all.
        "schedule": max(5.0, get_settings().lease_seconds / 4),
    },
    "reap-stale-training-jobs": {
        "task": REAP_TRAINING_JOBS,
        # A dead training worker's job waits at most 1.25 heartbeat timeouts in all.
        "schedule": max(5.0, get_settings().training_heartbeat_timeout_s / 4),
    },
}
