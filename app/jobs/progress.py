"""Finishing a work item: its records, its `done` mark and the job's counters, at once."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db.models import Job, Record, WorkItem
from app.db.upsert import insert_for


@dataclass
class RecordDraft:
    """A record as a method produced it, before it is stored."""

    step: str
    instruction: str
    status: Literal["accepted", "rejected", "failed"]
    input: str = ""
    seed_ids: list[Any] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    system_prompt: str | None = None
    template_name: str | None = None
    template_version: str | None = None
    raw_response: str | None = None
    finish_reason: str | None = None
    parsed: dict[str, Any] = field(default_factory=dict)
    rationale: str | None = None
    answer: str | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    reject_reason: str | None = None
    reject_detail: str | None = None


def complete_item(
    session: Session,
    job_id: str,
    item_id: int,
    drafts: list[RecordDraft],
    *,
    method: str,
    teacher: dict[str, str | None],
) -> bool:
    """Store an item's outcome once. False when another delivery already finished it."""
    done = session.execute(
        update(WorkItem)
        .where(WorkItem.id == item_id, WorkItem.status == "running")
        .values(status="done", leased_until=None)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    rows = [
        {**asdict(d), "job_id": job_id, "work_item_id": item_id, "ordinal": i, "method": method, **teacher}
        for i, d in enumerate(drafts)
    ]
    if rows:
        session.execute(
            insert_for(session, Record).values(rows).on_conflict_do_nothing(index_elements=["work_item_id", "ordinal"])
        )
    counts = Counter(d.status for d in drafts)
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            completed=Job.completed + 1,
            accepted=Job.accepted + counts["accepted"],
            rejected=Job.rejected + counts["rejected"],
            failed=Job.failed + counts["failed"],
        )
    )
    return True
