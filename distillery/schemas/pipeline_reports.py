"""A pipeline's report: what each stage made and cost, and how the student compares with
the teacher on the user's gold set."""

from __future__ import annotations

from pydantic import Field

from distillery.schemas.base import OutputModel
from distillery.schemas.pipelines import PipelineStatus, StageKind, StageStatus


class RecordTally(OutputModel):
    kept: int = Field(description="accepted records (the dataset's)")
    rejected: int
    failed: int = Field(description="items the teacher never answered")
    rejected_by_reason: dict[str, int] = Field(description="reject reason → records")


class TeacherUse(OutputModel):
    requests: int = Field(description="requests paid for")
    cached_requests: int
    cost_usd: float


class GoldScore(OutputModel):
    """A synthesis job's answers against the gold answers its seeds carry."""

    job_id: str
    scored: int = Field(description="records with a gold answer to compare")
    matched: int
    accuracy: float | None = Field(description="matched / scored")


class TrainingSummary(OutputModel):
    steps: int | None
    first_loss: float | None
    last_loss: float | None
    eval_loss: float | None


class GoldComparison(OutputModel):
    """Student and teacher on the same gold set."""

    dataset_id: str = Field(description="the gold set")
    prompts: int | None = Field(description="gold prompts the student answered")
    student_exact_match: float | None
    teacher: GoldScore | None = Field(
        description="the pipeline's job stage over the same gold set (its source_dataset), if it has one"
    )


class StageReport(OutputModel):
    name: str
    kind: StageKind
    status: StageStatus
    job_id: str | None
    training_job_id: str | None
    records: RecordTally | None = Field(description="job stages")
    teacher: TeacherUse | None = Field(description="job stages")
    gold: GoldScore | None = Field(description="job stages whose seeds carry gold answers")
    samples: int | None = Field(description="generate stages: the student's distinct samples written as candidates")
    training: TrainingSummary | None = Field(description="training stages that trained")
    evaluation: GoldComparison | None = Field(
        description="evaluate stages, and sft or dpo stages evaluated on a gold set"
    )


class PipelineReport(OutputModel):
    id: str
    name: str
    status: PipelineStatus
    cost_usd: float
    stages: list[StageReport]
