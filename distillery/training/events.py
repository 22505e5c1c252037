"""A training job's event log: what happened, in words a user can act on. Scrubbed of secrets."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from distillery.db.models import TrainingEvent
from distillery.security.scrub import scrub, scrub_value


def emit(session: Session, job_id: str, type: str, message: str, *, level: str = "info", **data: Any) -> None:
    session.add(
        TrainingEvent(training_job_id=job_id, type=type, message=scrub(message), level=level, data=scrub_value(data))
    )
