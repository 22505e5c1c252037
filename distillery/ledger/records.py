"""Finishing a work item: its records, its `done` mark and the job's counters, at once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.orm import Session

from distillery.db.models import Record, WorkItem
from distillery.db.upsert import prepared
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.schemas.status import ItemStatus, RecordStatus
from distillery.security.scrub import scrub_value


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


@dataclass(frozen=True)
class Outcome:
    """What a finished work item produced, and which teacher made it."""

    job_id: str
    item_id: int
    drafts: list[RecordDraft]
    method: str
    teacher: dict[str, str | None]
    output: dict[str, Any] | None = None


def _insert_records(insert: Any) -> Any:
    # On the table, not the entity: a plain executemany, without the ORM's bulk machinery.
    return insert(Record.__table__).on_conflict_do_nothing(index_elements=["work_item_id", "ordinal"])


def complete_items(session: Session, outcomes: list[Outcome]) -> list[bool]:
    """Store each item's outcome once: its records, its `done` mark and the job's counters,
    together. False for an item another delivery already finished."""
    done = set(
        session.scalars(
            update(WorkItem)
            .where(WorkItem.id.in_([o.item_id for o in outcomes]), WorkItem.status == ItemStatus.RUNNING)
            .values(status=ItemStatus.DONE, leased_until=None)
            .returning(WorkItem.id)
            .execution_options(synchronize_session=False)
        )
    )
    stored = [o for o in outcomes if o.item_id in done]
    outputs = [{"id": o.item_id, "output": o.output} for o in stored if o.output is not None]
    if outputs:
        session.execute(update(WorkItem), outputs)  # bulk update by primary key
    # Every field scrubbed: a teacher's reply may quote a key (its own, or one it saw).
    rows = [
        {
            **scrub_value(asdict(d)),
            "job_id": o.job_id,
            "work_item_id": o.item_id,
            "ordinal": i,
            "method": o.method,
            **o.teacher,
        }
        for o in stored
        for i, d in enumerate(o.drafts)
    ]
    if rows:
        session.execute(prepared(session, _insert_records), rows)
    counters.add(
        session,
        (
            (
                o.job_id,
                Counts(
                    completed=1,
                    accepted=sum(d.status == RecordStatus.ACCEPTED for d in o.drafts),
                    rejected=sum(d.status == RecordStatus.REJECTED for d in o.drafts),
                    failed=sum(d.status == RecordStatus.FAILED for d in o.drafts),
                ),
            )
            for o in stored
        ),
    )
    return [o.item_id in done for o in outcomes]
