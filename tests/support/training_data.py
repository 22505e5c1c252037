"""Dataset versions for training tests, written as the synthesis pipeline leaves them (a
job, its work item, accepted records, a version), without running a teacher."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from distillery.db.base import new_id
from distillery.db.models import Dataset, DatasetRecord, Job, Record, WorkItem


@dataclass(frozen=True)
class Example:
    instruction: str
    answer: str
    rationale: str | None = None
    # Preference records: the answer is the chosen response.
    rejected: str | None = None


def arithmetic(count: int, offset: int = 0) -> list[Example]:
    """Chain-of-thought labels: a rationale kept apart from a final answer."""
    return [
        Example(f"What is {a} + {a + 3}?", str(2 * a + 3), f"{a} plus {a + 3} makes {2 * a + 3}.")
        for a in range(offset, offset + count)
    ]


def preferences(count: int) -> list[Example]:
    return [
        Example(f"What is {a} + {a + 3}?", f"It is {2 * a + 3}.", rejected=f"It is {2 * a + 1}.") for a in range(count)
    ]


def texts(examples: list[Example]) -> list[str]:
    """Everything a tokenizer for these examples must cover, as the exports render it."""
    out = []
    for e in examples:
        out += [
            e.instruction,
            e.answer,
            f"{e.rationale}\n\nAnswer: {e.answer}" if e.rationale else "",
            e.rejected or "",
        ]
    return [t for t in out if t]


def make_dataset(session: Session, tenant_id: str, examples: list[Example], kind: str = "sft") -> str:
    method = "feedback" if kind == "preference" else "label"
    job = Job(id=new_id("job"), tenant_id=tenant_id, name=f"train-data-{secrets.token_hex(3)}", method=method, spec={})
    job.status = "succeeded"
    session.add(job)
    session.flush()
    item = WorkItem(job_id=job.id, position=0, seed_ids=[], payload={})
    session.add(item)
    session.flush()
    records = []
    for i, e in enumerate(examples):
        parsed: dict[str, str] = {"answer": e.answer}
        if e.rejected is not None:
            parsed = {"chosen": e.answer, "rejected": e.rejected}
        record = Record(
            job_id=job.id,
            work_item_id=item.id,
            ordinal=i,
            method=method,
            step=method,
            seed_ids=[],
            instruction=e.instruction,
            input="",
            messages=[],
            parsed=parsed,
            rationale=e.rationale,
            answer=e.answer,
            scores={},
            status="accepted",
        )
        records.append(record)
    session.add_all(records)
    session.flush()
    dataset = Dataset(
        id=new_id("ds"),
        tenant_id=tenant_id,
        name=job.name,
        version=1,
        job_id=job.id,
        kind=kind,
        record_count=len(records),
        stats={},
    )
    session.add(dataset)
    session.flush()
    session.add_all(DatasetRecord(dataset_id=dataset.id, position=i, record_id=r.id) for i, r in enumerate(records))
    return dataset.id
