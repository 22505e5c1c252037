"""What every method receives: the job's settings and one work item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from app.jobs.progress import RecordDraft
from app.teachers.gateway import Teacher


@dataclass(frozen=True)
class JobContext:
    job_id: str
    method: str
    skill: dict[str, Any]
    params: dict[str, Any]


@dataclass(frozen=True)
class WorkItemData:
    id: int
    position: int
    seed_ids: list[Any]
    payload: dict[str, Any]
    teacher_id: str


class Method(Protocol):
    async def __call__(self, item: WorkItemData, job: JobContext, teacher: Teacher) -> list[RecordDraft]: ...
