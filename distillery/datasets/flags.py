"""Reviewers' flags on a version's rows, and the version made without them.

A flag marks a row of one version as bad; the version itself never changes. The version
made without its flagged rows is a child (`parent_id`) holding the rest in their order,
each dropped row recorded as a rejection of pass "review", reason "flagged" (with the
reviewer's note), so its stats, card and rejected rows tell how many went and why.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from distillery.datasets import build, queries, stats
from distillery.db.models import Dataset, DatasetFlag, DatasetRecord, DatasetRejection
from distillery.db.upsert import insert_for
from distillery.errors import Conflict, NotFound
from distillery.schemas.datasets import FlagOut

REVIEW_PASS = "review"
FLAGGED = "flagged"


def flag(session: Session, tenant_id: str, dataset_id: str, record_id: int, note: str | None) -> FlagOut:
    """Flag a row (again: its note replaced)."""
    dataset = _with_row(session, tenant_id, dataset_id, record_id)
    upsert = insert_for(session, DatasetFlag).values(dataset_id=dataset.id, record_id=record_id, note=note)
    session.execute(upsert.on_conflict_do_update(index_elements=["dataset_id", "record_id"], set_={"note": note}))
    row = session.get(DatasetFlag, (dataset.id, record_id), populate_existing=True)
    assert row is not None
    return FlagOut.model_validate(row)


def unflag(session: Session, tenant_id: str, dataset_id: str, record_id: int) -> None:
    """Drop a row's flag, if it has one."""
    dataset = _with_row(session, tenant_id, dataset_id, record_id)
    session.execute(delete(DatasetFlag).where(DatasetFlag.dataset_id == dataset.id, DatasetFlag.record_id == record_id))


def count(session: Session, tenant_id: str, dataset_id: str) -> int:
    dataset = queries.get(session, tenant_id, dataset_id)
    return session.scalar(select(func.count()).where(DatasetFlag.dataset_id == dataset.id)) or 0


def without_flagged(session: Session, tenant_id: str, dataset_id: str, name: str | None) -> Dataset:
    """A new version of the dataset: its rows in order, less the flagged ones."""
    parent = queries.get(session, tenant_id, dataset_id)
    flagged = select(DatasetFlag.record_id, DatasetFlag.note).where(DatasetFlag.dataset_id == parent.id)
    notes = {record_id: note for record_id, note in session.execute(flagged)}
    if not notes:
        raise Conflict(f"dataset '{parent.id}' has no flagged rows: flag rows first (PUT .../flags/<record_id>)")
    members = session.scalars(
        select(DatasetRecord.record_id).where(DatasetRecord.dataset_id == parent.id).order_by(DatasetRecord.position)
    )
    source = {"type": "dataset", "id": parent.id, "name": parent.name, "version": parent.version}
    dataset = build.new_version(
        session,
        tenant_id,
        name or parent.name,
        parent.kind,
        [{**source, "dropped_flagged": len(notes)}],
        job_id=parent.job_id,
        parent_id=parent.id,
    )
    # The parent's curation settings still describe how these rows were chosen.
    dataset.curation = parent.curation
    build.add_records(session, dataset, [rid for rid in members if rid not in notes])
    session.execute(
        insert(DatasetRejection),
        [
            {
                "dataset_id": dataset.id,
                "record_id": rid,
                "pass_name": REVIEW_PASS,
                "reason": FLAGGED,
                "detail": note or f"flagged in review of {parent.name} v{parent.version}",
                "matched_record_id": None,
            }
            for rid, note in notes.items()
        ],
    )
    dataset.stats = stats.compute(session, dataset)
    return dataset


def _with_row(session: Session, tenant_id: str, dataset_id: str, record_id: int) -> Dataset:
    """The tenant's version, if the record is one of its rows."""
    dataset = queries.get(session, tenant_id, dataset_id)
    member = select(DatasetRecord.position).where(
        DatasetRecord.dataset_id == dataset.id, DatasetRecord.record_id == record_id
    )
    if session.scalar(member) is None:
        raise NotFound(f"dataset {dataset.id} row", str(record_id))
    return dataset
