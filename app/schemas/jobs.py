from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from app.schemas.base import InputModel, JsonObject, Name, OutputModel, Text

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")


class Skill(InputModel):
    name: Name
    description: Text = ""
    # Replaces the method's default system prompt (e.g. the Orca-style CoT one).
    system_prompt: Text | None = None
    reasoning: Literal["cot", "none"] = "cot"
    output_format: Literal["text", "json"] = "text"
    output_schema: JsonObject | None = None


class SeedIn(InputModel):
    instruction: Text = Field(min_length=1)
    input: Text = ""
    # Your own id for the seed; kept in every record's lineage.
    id: Text | None = Field(default=None, max_length=200)
    # A gold answer, when known; kept for evaluation.
    answer: Text | None = None


class Params(InputModel):
    # "batch": OpenAI's Batch API (teachers marked supports_batch), at its discount and
    # its pace (hours at worst); failed lines are retried online.
    mode: Literal["online", "batch"] = "online"
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=1024, ge=1, le=200_000)
    chunk_size: int | None = Field(default=None, ge=1, le=1000, description="items per worker task")


class Curation(InputModel):
    dedup: bool = Field(default=True, description="remove exact duplicates (normalised text)")


class Budget(InputModel):
    max_cost_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    max_requests: int | None = Field(default=None, ge=1, le=100_000_000)


class TeacherShare(InputModel):
    teacher: Name = Field(description="teacher id or name")
    weight: float = Field(default=1.0, gt=0, le=1_000_000, description="share of the items, relative to the others")


class JobCreate(InputModel):
    name: Name
    teacher: Name | None = Field(default=None, description="teacher id or name (or `teachers`)")
    teachers: list[TeacherShare] | None = Field(
        default=None, min_length=1, max_length=16, description="spread the items over several teachers by weight"
    )
    judge_teacher: Name | None = Field(default=None, description="teacher id or name that judges; default: none")
    method: Literal["label"]
    skill: Skill
    seeds: list[SeedIn] = Field(min_length=1, max_length=100_000)
    target_count: int | None = Field(default=None, ge=1, le=1_000_000)
    params: Params = Params()
    curation: Curation = Curation()
    budget: Budget = Budget()

    @model_validator(mode="after")
    def _target_within_seeds(self) -> JobCreate:
        if self.target_count is not None and self.target_count > len(self.seeds):
            raise ValueError("target_count: a label job makes at most one record per seed")
        return self

    @model_validator(mode="after")
    def _one_way_to_name_teachers(self) -> JobCreate:
        if (self.teacher is None) == (self.teachers is None):
            raise ValueError("teacher: give either `teacher` or `teachers`, not both and not neither")
        if self.teachers is not None and len({s.teacher for s in self.teachers}) < len(self.teachers):
            raise ValueError("teachers: each teacher may appear once")
        return self

    def shares(self) -> list[TeacherShare]:
        return self.teachers if self.teachers is not None else [TeacherShare(teacher=self.teacher or "")]


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
    requests: int
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
    budget: Budget
    dataset_id: str | None
    stop_reason: str | None
    error: str | None
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
    status: Literal["accepted", "rejected", "failed"]
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
