from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from distillery.schemas.base import InputModel, Name, OutputModel, Text
from distillery.schemas.curation import Curation

ExportFormat = Literal["openai-chat", "prompt-completion", "alpaca", "sharegpt", "dpo", "openai-dpo", "candidates"]
# hf: a Hugging Face dataset folder (card and Parquet files by split), zipped.
FileFormat = Literal["jsonl", "jsonl.gz", "parquet", "hf"]
UploadPurpose = Literal["sft", "preference", "seeds", "eval", "candidates"]


def export_filename(name: str, version: int, fmt: str, file: str, split: str | None = None) -> str:
    """A download's file name (its Content-Disposition, the CLI's default, the card's example),
    made of characters every filesystem takes."""
    suffix = "hf.zip" if file == "hf" else file
    raw = f"{name}-v{version}-{fmt}{f'-{split}' if split else ''}.{suffix}"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in raw)


class DatasetOut(OutputModel):
    id: str
    name: str
    version: int
    kind: str = Field(
        description="sft | preference (made by jobs, or uploaded); seeds | eval | candidates (uploaded; candidates"
        " also by generate)"
    )
    job_id: str | None
    parent_id: str | None
    sources: list[dict[str, Any]]
    curation: dict[str, Any] | None
    record_count: int
    stats: dict[str, Any]
    created_at: datetime


class SourceIn(InputModel):
    job: Name | None = Field(default=None, description="a job id: its dataset")
    dataset: Name | None = Field(default=None, description="a dataset version id")

    @model_validator(mode="after")
    def _one(self) -> SourceIn:
        if (self.job is None) == (self.dataset is None):
            raise ValueError("job: give either `job` or `dataset`")
        return self


class Filters(InputModel):
    methods: list[Literal["label", "expand", "curate", "feedback", "upload"]] | None = None
    teachers: list[Name] | None = Field(default=None, description="teacher names")
    min_score: float | None = Field(default=None, description="judge quality, else agreement, else margin")


class DatasetCreate(InputModel):
    name: Name
    sources: list[SourceIn] = Field(min_length=1, max_length=64)
    filters: Filters = Filters()
    curation: Curation = Curation()


class DatasetCurate(InputModel):
    name: Name | None = Field(default=None, description="default: the dataset's own name (a new version of it)")
    curation: Curation = Curation()


class RejectionOut(OutputModel):
    record_id: int
    pass_name: str
    reason: str
    detail: str
    matched_record_id: int | None


class UploadProblem(OutputModel):
    line: int
    field: str
    problem: str


# The row viewer: a version's own rows (kept), or the records its curation kept out (rejected).
RowView = Literal["kept", "rejected"]


class RowFilters(BaseModel):
    """The row viewer's filters, named as GET /v1/datasets/{id}/rows takes them; the API,
    the dashboard and the client all filter with this."""

    model_config = ConfigDict(frozen=True)

    view: RowView = "kept"
    q: str | None = Field(default=None, description="a case-insensitive substring of the prompt or the response")
    min_score: float | None = None
    max_score: float | None = None
    reason: str | None = Field(default=None, description="a rejected record's reason (view=rejected only)")
    flagged: bool | None = None


class AspectRating(OutputModel):
    aspect: str
    rating: float
    rationale: str


class PreferenceSide(OutputModel):
    """One response of a preference pair, with what the judge made of it."""

    response: str
    score: float | None = Field(description="the judge's score: the aspects' mean (rating) or wins (pairwise)")
    source: str | None = Field(description="where the candidate came from: seed:<n> or <teacher>@<temperature>")
    ratings: list[AspectRating] = Field(description="per aspect, with the judge's rationale (rating mode)")


class PreferenceOut(OutputModel):
    judge_mode: str | None
    margin: float | None
    chosen: PreferenceSide
    rejected: PreferenceSide


class RowRejection(OutputModel):
    pass_name: str
    reason: str
    detail: str
    matched_record_id: int | None


class DatasetRowOut(OutputModel):
    record_id: int
    position: int | None = Field(description="the row's place in the version; null for a rejected record")
    method: str
    prompt: str = Field(description="the instruction, then its input")
    response: str = Field(description="the rationale and answer; a dialogue's assistant turns; a pair's chosen")
    score: float | None = Field(description="the score curation ranks by: judge quality, else agreement, else margin")
    scores: dict[str, Any]
    judge_rationale: str | None = Field(description="the quality judge's reason for its score")
    preference: PreferenceOut | None = Field(description="a preference record's chosen and rejected responses")
    rejection: RowRejection | None = Field(description="why curation kept the record out (view=rejected)")
    flagged: bool
    note: str | None = Field(description="the reviewer's note on a flagged row")


class FlagIn(InputModel):
    note: Text | None = Field(default=None, max_length=2000, description="why the row is bad")


class FlagOut(OutputModel):
    dataset_id: str
    record_id: int
    note: str | None
    created_at: datetime


class DatasetRevise(InputModel):
    name: Name | None = Field(default=None, description="default: the dataset's own name (a new version of it)")
