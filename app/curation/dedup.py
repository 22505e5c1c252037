"""Exact duplicates among a job's accepted records; the earliest of each group is kept."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.curation.normalize import text_hash
from app.db.models import Record


def reject_exact_duplicates(session: Session, job_id: str) -> int:
    seen: dict[str, int] = {}
    duplicates: dict[int, int] = {}
    rows = session.execute(
        select(Record.id, Record.instruction, Record.input, Record.answer)
        .where(Record.job_id == job_id, Record.status == "accepted")
        .order_by(Record.id)
        .execution_options(yield_per=5000)
    )
    for record_id, instruction, input_, answer in rows:
        key = text_hash(instruction, input_, answer or "")
        if key in seen:
            duplicates[record_id] = seen[key]
        else:
            seen[key] = record_id
    for record_id, kept in duplicates.items():
        session.execute(
            update(Record)
            .where(Record.id == record_id)
            .values(status="rejected", reject_reason="exact_duplicate", duplicate_of=kept)
        )
    return len(duplicates)
