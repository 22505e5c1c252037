"""The worker entry point: the Celery app with its tasks and the reapers' schedule."""

from __future__ import annotations

from distillery.queue import REAP_LEASES, REAP_TRAINING_JOBS, celery_app
from distillery.security.scrub import install_log_filter
from distillery.settings import get_settings

install_log_filter()  # before Celery sets up its loggers: every record is scrubbed
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
