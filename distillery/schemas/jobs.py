from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from distillery.schemas.base import REQUEST_ID_DOC, InputModel, OutputModel

# The job body, one model per method, lives in distillery/schemas/job_specs; these names are
# imported from here by clients.
from distillery.schemas.job_specs import Budget as Budget
from distillery.schemas.job_specs import JobCreate as JobCreate
from distillery.schemas.job_specs import SeedIn as SeedIn
from distillery.schemas.job_specs import Skill as Skill
from distillery.schemas.previews import RunningEstimate
from distillery.schemas.status import JobStatus, RecordStatus


class JobRetry(InputModel):
    budget: Budget | None = Field(default=None, description="a new budget (e.g. raised after a budget stop)")


class Progress(OutputModel):
    total: int
    completed: int
    accepted: int
    rejected: int
    failed: int
    skipped: int


class TeacherUsage(OutputModel):
    teacher_id: str
    teacher_name: str | None
    requests: int
    cached_requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class UsageOut(OutputModel):
    requests: int = Field(description="requests paid for: a reply came back and was charged")
    sent_requests: int = Field(description="HTTP requests sent to teachers, retries included")
    failed_requests: int = Field(description="requests sent that got an error or no answer (not paid)")
    cached_requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    by_teacher: list[TeacherUsage]


class JobTeacher(OutputModel):
    teacher_id: str
    name: str
    weight: float


class JobOut(OutputModel):
    id: str
    name: str
    method: str
    teacher_id: str | None = Field(description="the first of `teachers`")
    teachers: list[JobTeacher]
    judge_teacher_id: str | None
    mode: Literal["online", "batch"]
    status: JobStatus
    progress: Progress
    usage: UsageOut
    estimate: RunningEstimate | None = Field(
        description="usage at completion, extrapolated from the usage per finished item; null before the first"
    )
    budget: Budget
    dataset_id: str | None
    stop_reason: str | None
    error: str | None
    request_id: str | None = Field(default=None, description=REQUEST_ID_DOC)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EventOut(OutputModel):
    id: int
    created_at: datetime
    level: str
    type: str
    message: str
    data: dict[str, Any]


class RecordOut(OutputModel):
    id: int
    job_id: str
    method: str
    step: str
    status: RecordStatus
    reject_reason: str | None
    reject_detail: str | None
    duplicate_of: int | None
    instruction: str
    input: str
    rationale: str | None
    answer: str | None
    parsed: dict[str, Any]
    scores: dict[str, Any]
    teacher_id: str | None
    teacher_name: str | None
    model: str | None
    template_name: str | None
    template_version: str | None
    seed_ids: list[Any]
    messages: list[Any]
    raw_response: str | None
    finish_reason: str | None
    created_at: datetime
