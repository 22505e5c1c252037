"""A pipeline's event log: its stages starting and ending, with their job ids. Scrubbed of
secrets on the way in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from distillery.db.models import PipelineEvent
from distillery.security.scrub import scrub, scrub_value


def emit(session: Session, pipeline_id: str, type: str, message: str, *, level: str = "info", **data: Any) -> None:
    session.add(
        PipelineEvent(pipeline_id=pipeline_id, type=type, message=scrub(message), level=level, data=scrub_value(data))
    )
