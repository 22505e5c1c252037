"""Worker process setup: a fresh DB engine after fork (never share pooled connections
across processes)."""

from __future__ import annotations

from celery.signals import worker_process_init

from app.db.session import reset_engine


@worker_process_init.connect
def _fresh_engine_after_fork(**_: object) -> None:
    reset_engine()
