"""Worker process setup: a fresh DB engine after fork (never share pooled connections
across processes), connected before the first task arrives rather than during it."""

from __future__ import annotations

from celery.signals import worker_process_init
from sqlalchemy.orm import configure_mappers

from app.db.session import get_engine, reset_engine

# Mapper configuration runs once, here in the parent, not in every child's first task.
configure_mappers()


@worker_process_init.connect
def _fresh_engine_after_fork(**_: object) -> None:
    reset_engine()
    try:
        get_engine().connect().close()  # the pool keeps it for the first task
    except Exception:  # the database may be down now and back later; tasks will say so
        return
