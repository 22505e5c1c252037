"""Planning a job into work items (a stage at a time), stored in bulk and dispatched in chunks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from distillery.curation.normalize import text_hash
from distillery.db.base import utcnow
from distillery.db.models import Job, Record, Seed, WorkItem
from distillery.jobs.leases import chunked
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.ledger.events import emit
from distillery.methods.base import NewItem
from distillery.methods.registry import method_for
from distillery.schemas.job_specs import StoredSpec, rehydrate
from distillery.schemas.status import JobKind, JobStatus, RecordStatus, move

# The step of a record that stands for a duplicate seed: no work item made it.
DUPLICATE_SEED_STEP = "plan"


def plan(session: Session, job_id: str, *, chunk_size: int, lease_s: int) -> list[list[int]]:
    """Queued → running with its first stage's work items; returns the chunks to dispatch
    (none if the job was already planned or is no longer queued)."""
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update(key_share=True))
    if job is None or job.status != JobStatus.QUEUED:
        return []
    seeds = [
        (external_id, data)
        for external_id, data in session.execute(
            select(Seed.external_id, Seed.data).where(Seed.job_id == job_id).order_by(Seed.position)
        ).tuples()
    ]
    spec = rehydrate(job.spec)
    method = method_for(spec.job)
    new = method.plan(job_id, spec.job, seeds)
    move(job, JobStatus.RUNNING, JobKind.SYNTHESIS)
    job.started_at = utcnow()
    chunks = add_items(session, job, spec, new, stage=0, chunk_size=chunk_size, lease_s=lease_s)
    # Methods with an item per seed plan a task once; its other copies become rejected records.
    duplicates = _reject_duplicate_seeds(session, job, seeds, new) if method.item_per_seed else 0
    emit(
        session,
        job_id,
        "planned",
        f"planned {len(new)} work items in {len(chunks)} chunks"
        + (f"; {duplicates} duplicate seeds rejected as exact_duplicate" if duplicates else ""),
        items=len(new),
        duplicate_seeds=duplicates,
    )
    return chunks


def duplicate_seeds(seeds: Sequence[tuple[str, dict[str, Any]]], planned: set[str]) -> list[tuple[int, str]]:
    """(position, id of the planned seed it repeats) of each unplanned seed that asks an
    earlier planned seed's task (the same instruction and input, normalised)."""
    first: dict[str, str] = {}
    found = []
    for position, (external_id, data) in enumerate(seeds):
        kept = first.setdefault(text_hash(data["instruction"], data.get("input", "")), external_id)
        if kept != external_id and kept in planned and external_id not in planned:
            found.append((position, kept))
    return found


def _reject_duplicate_seeds(
    session: Session, job: Job, seeds: list[tuple[str, dict[str, Any]]], new: list[NewItem]
) -> int:
    planned = {str(item.seed_ids[0]) for item in new if item.seed_ids}
    found = duplicate_seeds(seeds, planned)
    if found:
        session.execute(
            insert(Record),
            [
                {
                    "job_id": job.id,
                    "method": job.method,
                    "step": DUPLICATE_SEED_STEP,
                    "seed_ids": [seeds[position][0]],
                    "instruction": seeds[position][1]["instruction"],
                    "input": seeds[position][1].get("input", ""),
                    "messages": [],
                    "parsed": {"duplicate_of_seed": kept},
                    "scores": {},
                    "status": RecordStatus.REJECTED,
                    "reject_reason": "exact_duplicate",
                    # duplicate_of is set when the job closes: the kept seed has no record yet.
                    "reject_detail": f"same task as seed '{kept}'",
                }
                for position, kept in found
            ],
        )
        counters.add(session, [(job.id, Counts(rejected=len(found)))])
    return len(found)


def link_duplicate_seeds(session: Session, job: Job) -> int:
    """Point each duplicate seed's record at the first record made from the seed it repeats;
    returns how many duplicate seeds the job has."""
    duplicates = session.execute(
        select(Record.id, Record.parsed, Record.duplicate_of).where(
            Record.job_id == job.id, Record.step == DUPLICATE_SEED_STEP
        )
    ).all()
    pending = [(record_id, parsed["duplicate_of_seed"]) for record_id, parsed, linked in duplicates if linked is None]
    if not pending:
        return len(duplicates)
    first_stage = (WorkItem.job_id == job.id, WorkItem.stage == 0)
    item_of = {
        str(seed_ids[0]): item_id
        for item_id, seed_ids in session.execute(select(WorkItem.id, WorkItem.seed_ids).where(*first_stage))
        if seed_ids
    }
    made = {
        item_id: record_id
        for item_id, record_id in session.execute(
            select(Record.work_item_id, func.min(Record.id))
            .join(WorkItem, WorkItem.id == Record.work_item_id)
            .where(*first_stage)
            .group_by(Record.work_item_id)
        )
    }
    links = [
        {"id": record_id, "duplicate_of": made[item]}
        for record_id, seed in pending
        if (item := item_of.get(seed)) is not None and item in made
    ]
    if links:
        session.execute(update(Record), links)  # bulk update by primary key
    return len(duplicates)


def add_items(
    session: Session, job: Job, spec: StoredSpec, new: list[NewItem], *, stage: int, chunk_size: int, lease_s: int
) -> list[list[int]]:
    """Store a stage's items, spread over the job's teachers by weight, leased for their
    first dispatch; returns their ids in chunks."""
    chunk_size = spec.job.params.chunk_size or chunk_size
    shares = spec.teachers
    leased_until = utcnow() + timedelta(seconds=lease_s)
    rows = [
        {
            "job_id": job.id,
            "position": job.total + n,
            "stage": stage,
            "seed_ids": item.seed_ids,
            "payload": item.payload,
            "teacher_id": shares[share].id,
            "leased_until": leased_until,
        }
        for n, (item, share) in enumerate(zip(new, spread([s.weight for s in shares], len(new)), strict=True))
    ]
    if not rows:
        return []
    # A plain executemany and one ordered read back: half the time of INSERT .. RETURNING
    # with parameter order, which a 2000-item job waits on before its first chunk.
    session.execute(insert(WorkItem), rows)
    ids = list(
        session.scalars(
            select(WorkItem.id).where(WorkItem.job_id == job.id, WorkItem.stage == stage).order_by(WorkItem.position)
        )
    )
    job.total += len(rows)
    return chunked(ids, chunk_size)


def spread(weights: list[float], n: int) -> list[int]:
    """Which share each of n items goes to, by smooth weighted round-robin (nginx's): the
    shares interleave, so every chunk keeps all teachers busy, and every prefix of the
    items is split as close to the weights as whole items allow."""
    total = sum(weights)
    credit = [0.0] * len(weights)
    picks = []
    for _ in range(n):
        credit = [c + w for c, w in zip(credit, weights, strict=True)]
        pick = max(range(len(weights)), key=credit.__getitem__)
        credit[pick] -= total
        picks.append(pick)
    return picks
