"""Building dataset versions. A version is immutable: its records, in order, the curation
passes' rejections, its sources and its stats are written once.

Every way of making a version (a job closing, a merge, a re-curation) goes through
`_build`: gather candidate records in order, run the set-level curation passes, keep the
rest. A job's own version also marks the job's records rejected, so the job's records and
counters tell the same story as its dataset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session

from distillery.curation import pipeline
from distillery.curation.candidates import Candidate, Rejection, candidate_of
from distillery.datasets import queries, stats
from distillery.db.base import new_id
from distillery.db.models import Dataset, DatasetRecord, DatasetRejection, Job, Record, Seed
from distillery.db.scoping import get_owned
from distillery.errors import InvalidSpec, NotFound
from distillery.ledger import counters
from distillery.ledger.counters import Counts
from distillery.ledger.events import emit
from distillery.schemas.curation import Curation
from distillery.schemas.datasets import DatasetCreate, DatasetCurate
from distillery.schemas.status import RecordStatus

_CANDIDATE_COLUMNS = (
    Record.id,
    Record.instruction,
    Record.input,
    Record.rationale,
    Record.answer,
    Record.parsed,
    Record.finish_reason,
    Record.scores,
)


def create_from_job(session: Session, job: Job, kind: str) -> Dataset:
    """The job's version: its accepted records, curated; rejections marked on the records."""
    accepted = select(*_CANDIDATE_COLUMNS).where(Record.job_id == job.id, Record.status == RecordStatus.ACCEPTED)
    curation = Curation.model_validate(job.spec.get("curation", {}))
    dataset, rejected = _build(
        session,
        tenant_id=job.tenant_id,
        name=job.name,
        kind=kind,
        candidates=_candidates(session, accepted.order_by(Record.id)),
        curation=curation,
        context=_context(session, job.tenant_id, [job.id], curation),
        sources=[{"type": "job", "id": job.id}],
        job_id=job.id,
    )
    if rejected:  # one executemany (ORM bulk update by primary key), not a statement each
        session.execute(
            update(Record),
            [
                {
                    "id": r.record_id,
                    "status": RecordStatus.REJECTED,
                    "reject_reason": r.reason,
                    "reject_detail": r.detail,
                    "duplicate_of": r.matched_id,
                }
                for r in rejected
            ],
        )
        counters.add(session, [(job.id, Counts(accepted=-len(rejected), rejected=len(rejected)))])
        by_pass = Counter(f"{r.pass_name}/{r.reason}" for r in rejected)
        summary = ", ".join(f"{n} {key}" for key, n in by_pass.most_common())
        emit(session, job.id, "curated", f"curation rejected {len(rejected)}: {summary}", rejected=dict(by_pass))
    dataset.stats = stats.compute(session, dataset)
    return dataset


def merge(session: Session, tenant_id: str, spec: DatasetCreate) -> Dataset:
    """A version from several jobs and datasets (all of one kind), filtered and curated."""
    kinds: set[str] = set()
    candidates: list[Candidate] = []
    job_ids: list[str] = []
    sources: list[dict[str, Any]] = []
    for n, source in enumerate(spec.sources):
        field = f"sources.{n}"
        if source.job is not None:
            job = _owned(session, Job, tenant_id, source.job, f"{field}.job", "job")
            if job.dataset_id is None:
                raise InvalidSpec(f"{field}.job", f"job '{job.id}' has not made a dataset yet (status {job.status})")
            dataset = session.get(Dataset, job.dataset_id)
            assert dataset is not None
        else:
            dataset = _owned(session, Dataset, tenant_id, source.dataset or "", f"{field}.dataset", "dataset")
        kinds.add(dataset.kind)
        candidates += _candidates(session, _members(dataset.id))
        job_ids += _source_jobs(session, dataset)
        sources.append({"type": "dataset", "id": dataset.id, "name": dataset.name, "version": dataset.version})
    if len(kinds) > 1:
        raise InvalidSpec("sources", f"the sources mix dataset kinds ({', '.join(sorted(kinds))}); merge one kind")
    kept, filtered = _filter(session, candidates, spec)
    dataset, _ = _build(
        session,
        tenant_id=tenant_id,
        name=spec.name,
        kind=kinds.pop(),
        candidates=kept,
        curation=spec.curation,
        context=_context(session, tenant_id, job_ids, spec.curation),
        sources=sources,
        rejected_before=filtered,
    )
    dataset.stats = stats.compute(session, dataset)
    return dataset


def recurate(session: Session, tenant_id: str, dataset_id: str, spec: DatasetCurate) -> Dataset:
    """A new version of a dataset: its records through the curation passes again."""
    parent = queries.get(session, tenant_id, dataset_id)
    dataset, _ = _build(
        session,
        tenant_id=tenant_id,
        name=spec.name or parent.name,
        kind=parent.kind,
        candidates=_candidates(session, _members(parent.id)),
        curation=spec.curation,
        context=_context(session, tenant_id, _source_jobs(session, parent), spec.curation),
        sources=[{"type": "dataset", "id": parent.id, "name": parent.name, "version": parent.version}],
        parent_id=parent.id,
        job_id=parent.job_id,
    )
    dataset.stats = stats.compute(session, dataset)
    return dataset


def _build(
    session: Session,
    *,
    tenant_id: str,
    name: str,
    kind: str,
    candidates: Sequence[Candidate],
    curation: Curation,
    context: pipeline.Context,
    sources: list[dict[str, Any]],
    job_id: str | None = None,
    parent_id: str | None = None,
    rejected_before: Sequence[Rejection] = (),
) -> tuple[Dataset, list[Rejection]]:
    distinct = _distinct(candidates)
    rejected = pipeline.run(distinct, curation, context)
    gone = {r.record_id for r in rejected} | {r.record_id for r in rejected_before}
    kept = [c.id for c in distinct if c.id not in gone]
    dataset = new_version(session, tenant_id, name, kind, sources, job_id=job_id, parent_id=parent_id)
    dataset.curation = curation.model_dump(mode="json")
    add_records(session, dataset, kept)
    all_rejected = [*rejected_before, *rejected]
    if all_rejected:
        session.execute(
            insert(DatasetRejection),
            [
                {
                    "dataset_id": dataset.id,
                    "record_id": r.record_id,
                    "pass_name": r.pass_name,
                    "reason": r.reason,
                    "detail": r.detail,
                    "matched_record_id": r.matched_id,
                }
                for r in all_rejected
            ],
        )
    return dataset, rejected


def new_version(
    session: Session,
    tenant_id: str,
    name: str,
    kind: str,
    sources: list[dict[str, Any]],
    *,
    job_id: str | None = None,
    parent_id: str | None = None,
) -> Dataset:
    latest = select(func.max(Dataset.version)).where(Dataset.tenant_id == tenant_id, Dataset.name == name)
    dataset = Dataset(
        id=new_id("ds"),
        tenant_id=tenant_id,
        name=name,
        version=(session.scalar(latest) or 0) + 1,
        job_id=job_id,
        parent_id=parent_id,
        kind=kind,
        sources=sources,
        record_count=0,
        stats={},
    )
    session.add(dataset)
    session.flush()
    return dataset


def add_records(session: Session, dataset: Dataset, record_ids: Sequence[int]) -> None:
    if record_ids:
        session.execute(
            insert(DatasetRecord),
            [{"dataset_id": dataset.id, "position": i, "record_id": rid} for i, rid in enumerate(record_ids)],
        )
    dataset.record_count = len(record_ids)


def _distinct(candidates: Sequence[Candidate]) -> list[Candidate]:
    """A record once, however many sources hold it (a merge of a dataset and its parent)."""
    seen: set[int] = set()
    return [c for c in candidates if not (c.id in seen or seen.add(c.id))]  # type: ignore[func-returns-value]


def _owned(session: Session, model: Any, tenant_id: str, ident: str, field: str, kind: str) -> Any:
    try:
        return get_owned(session, model, tenant_id, ident, kind)
    except NotFound:
        raise InvalidSpec(field, f"no {kind} '{ident}'") from None


def _members(dataset_id: str) -> Select[Any]:
    return (
        select(*_CANDIDATE_COLUMNS)
        .join(DatasetRecord, DatasetRecord.record_id == Record.id)
        .where(DatasetRecord.dataset_id == dataset_id)
        .order_by(DatasetRecord.position)
    )


def _candidates(session: Session, statement: Select[Any]) -> list[Candidate]:
    return [candidate_of(row) for row in session.execute(statement.execution_options(yield_per=5000))]


def _filter(
    session: Session, candidates: list[Candidate], spec: DatasetCreate
) -> tuple[list[Candidate], list[Rejection]]:
    filters = spec.filters
    if filters.methods is None and filters.teachers is None and filters.min_score is None:
        return candidates, []
    meta = {}
    for chunk in range(0, len(candidates), 5000):
        ids = [c.id for c in candidates[chunk : chunk + 5000]]
        rows = session.execute(select(Record.id, Record.method, Record.teacher_name).where(Record.id.in_(ids)))
        meta.update({rid: (method, teacher) for rid, method, teacher in rows})
    kept, rejected = [], []
    for c in candidates:
        method, teacher = meta[c.id]
        why = None
        if filters.methods is not None and method not in filters.methods:
            why = ("method", f"made by {method}; filters.methods is {', '.join(filters.methods)}")
        elif filters.teachers is not None and teacher not in filters.teachers:
            why = ("teacher", f"made by teacher {teacher}; filters.teachers is {', '.join(filters.teachers)}")
        elif filters.min_score is not None and c.score < filters.min_score:
            why = ("score", f"score {c.score:g} below filters.min_score {filters.min_score:g}")
        if why is None:
            kept.append(c)
        else:
            rejected.append(Rejection(c.id, "filter", f"filtered_by_{why[0]}", why[1]))
    return kept, rejected


def _source_jobs(session: Session, dataset: Dataset) -> list[str]:
    return list(
        session.scalars(
            select(Record.job_id)
            .join(DatasetRecord, DatasetRecord.record_id == Record.id)
            .where(DatasetRecord.dataset_id == dataset.id, Record.job_id.is_not(None))
            .distinct()
        )
    )


def _context(session: Session, tenant_id: str, job_ids: list[str], curation: Curation) -> pipeline.Context:
    seeds: list[tuple[str, str]] = []
    if curation.max_seed_similarity is not None and job_ids:
        rows = session.execute(select(Seed.external_id, Seed.data).where(Seed.job_id.in_(job_ids)))
        seeds = [(str(external_id), data["instruction"]) for external_id, data in rows]
    eval_items: list[tuple[str, str, str]] = []
    for eval_set in eval_sets(session, tenant_id, curation):
        rows = session.execute(
            select(Record.id, Record.instruction, Record.input, Record.answer, Record.seed_ids)
            .join(DatasetRecord, DatasetRecord.record_id == Record.id)
            .where(DatasetRecord.dataset_id == eval_set.id)
        )
        eval_items += [
            (str(ids[0]) if ids else str(rid), " ".join(filter(None, (text, input_))), answer or "")
            for rid, text, input_, answer, ids in rows
        ]
    return pipeline.Context(seeds=seeds, eval_items=eval_items)


def eval_sets(session: Session, tenant_id: str, curation: Curation) -> list[Dataset]:
    """The eval sets `curation.decontaminate` names: the tenant's own, uploaded as 'eval'."""
    if curation.decontaminate is None:
        return []
    found = []
    for n, ident in enumerate(curation.decontaminate.datasets):
        field = f"curation.decontaminate.datasets.{n}"
        eval_set = _owned(session, Dataset, tenant_id, ident, field, "dataset")
        if eval_set.kind != "eval":
            raise InvalidSpec(field, f"dataset '{ident}' is a {eval_set.kind} dataset; upload eval sets as 'eval'")
        found.append(eval_set)
    return found
