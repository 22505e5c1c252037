"""The job event log: what happened, in words a user can act on. Never holds secrets."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db.models import JobEvent


def emit(session: Session, job_id: str, type: str, message: str, *, level: str = "info", **data: Any) -> None:
    session.add(JobEvent(job_id=job_id, type=type, message=message, level=level, data=data))
