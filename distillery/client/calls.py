"""Every API operation, described once as a `Call` (method, path, body, how to read the
answer). The sync and async clients only execute calls, so they cannot drift apart.

Inputs are validated here with the server's own schemas before anything is sent: a bad
spec fails on the caller's machine with the same field names the server would give.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from distillery.client.errors import LocalSpecError
from distillery.schemas.base import Page, invalid_request
from distillery.schemas.datasets import (
    DatasetCreate,
    DatasetCurate,
    DatasetOut,
    DatasetRevise,
    DatasetRowOut,
    ExportFormat,
    FileFormat,
    FlagIn,
    FlagOut,
    RejectionOut,
    RowFilters,
    UploadPurpose,
)
from distillery.schemas.jobs import Budget, EventOut, JobCreate, JobOut, JobRetry, RecordOut
from distillery.schemas.pipeline_reports import PipelineReport
from distillery.schemas.pipelines import PipelineCreate, PipelineEventOut, PipelineOut
from distillery.schemas.previews import JobPreview
from distillery.schemas.teachers import TeacherCreate, TeacherOut
from distillery.schemas.training import ArtifactOut, StepMetricOut, TrainingEventOut, TrainingJobCreate, TrainingJobOut

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
RecordStatus = Literal["accepted", "rejected", "failed"] | None


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart form's `file`, with the form's other fields."""

    path: Path
    form: dict[str, str]


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    upload: Upload | None = None

    @contextmanager
    def body(self) -> Iterator[dict[str, Any]]:
        """httpx's body arguments: the JSON, or the form with its file open (streamed, not read
        into memory) while the request is sent."""
        if self.upload is None:
            yield {"json": self.json}
            return
        with self.upload.path.open("rb") as handle:
            yield {"data": self.upload.form, "files": {"file": (self.upload.path.name, handle)}}


def validated(schema: type[M], spec: M | Mapping[str, Any]) -> dict[str, Any]:
    """`spec` checked against `schema`, as the JSON body to send (secrets revealed: they are
    the payload). A bad spec raises `LocalSpecError`, the server's 422, before anything is sent."""
    try:
        model = spec if isinstance(spec, schema) else schema.model_validate(spec)
    except ValidationError as exc:
        raise LocalSpecError(*invalid_request(exc.errors(include_url=False, include_input=False))) from None
    body = model.model_dump(mode="json", exclude_unset=True)
    for name in body:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            body[name] = value.get_secret_value()
    return body


def _model(schema: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: schema.model_validate(response.json())


def _page(schema: type[Any]) -> Callable[[httpx.Response], Page[Any]]:
    return lambda response: Page[schema].model_validate(response.json())  # type: ignore[valid-type]


def _nothing(_: httpx.Response) -> None:
    return None


def _paging(limit: int, offset: int, **params: Any) -> dict[str, Any]:
    return {"limit": limit, "offset": offset, **{k: v for k, v in params.items() if v is not None}}


# teachers
def create_teacher(spec: TeacherCreate | Mapping[str, Any]) -> Call[TeacherOut]:
    return Call("POST", "/v1/teachers", _model(TeacherOut), json=validated(TeacherCreate, spec))


def list_teachers() -> Call[Page[TeacherOut]]:
    # One page of the largest size: a tenant has a handful of teachers.
    return Call("GET", "/v1/teachers", _page(TeacherOut), _paging(500, 0))


def get_teacher(teacher_id: str) -> Call[TeacherOut]:
    return Call("GET", f"/v1/teachers/{teacher_id}", _model(TeacherOut))


def delete_teacher(teacher_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/teachers/{teacher_id}", _nothing)


# synthesis jobs
def submit_job(spec: JobCreate | Mapping[str, Any]) -> Call[JobOut]:
    return Call("POST", "/v1/jobs", _model(JobOut), json=validated(JobCreate, spec))


def preview_job(spec: JobCreate | Mapping[str, Any]) -> Call[JobPreview]:
    body = validated(JobCreate, spec)
    return Call("POST", "/v1/jobs", _model(JobPreview), {"dry_run": "true"}, json=body)


def list_jobs(limit: int, offset: int) -> Call[Page[JobOut]]:
    return Call("GET", "/v1/jobs", _page(JobOut), _paging(limit, offset))


def get_job(job_id: str) -> Call[JobOut]:
    return Call("GET", f"/v1/jobs/{job_id}", _model(JobOut))


def cancel_job(job_id: str) -> Call[JobOut]:
    return Call("POST", f"/v1/jobs/{job_id}/cancel", _model(JobOut))


def retry_job(job_id: str, budget: Budget | Mapping[str, Any] | None = None) -> Call[JobOut]:
    body = validated(JobRetry, {"budget": budget}) if budget is not None else None
    return Call("POST", f"/v1/jobs/{job_id}/retry", _model(JobOut), json=body)


def job_events(job_id: str, limit: int, offset: int) -> Call[Page[EventOut]]:
    return Call("GET", f"/v1/jobs/{job_id}/events", _page(EventOut), _paging(limit, offset))


def job_records(job_id: str, status: RecordStatus, limit: int, offset: int) -> Call[Page[RecordOut]]:
    return Call("GET", f"/v1/jobs/{job_id}/records", _page(RecordOut), _paging(limit, offset, status=status))


# datasets
def list_datasets(limit: int, offset: int) -> Call[Page[DatasetOut]]:
    return Call("GET", "/v1/datasets", _page(DatasetOut), _paging(limit, offset))


def get_dataset(dataset_id: str) -> Call[DatasetOut]:
    return Call("GET", f"/v1/datasets/{dataset_id}", _model(DatasetOut))


def download_dataset(dataset_id: str, format: ExportFormat, file: FileFormat, options: Mapping[str, Any]) -> Call[None]:
    params = {"format": format, "file": file, **{k: v for k, v in options.items() if v is not None}}
    return Call("GET", f"/v1/datasets/{dataset_id}/download", _nothing, params)


def merge_datasets(spec: DatasetCreate | Mapping[str, Any]) -> Call[DatasetOut]:
    return Call("POST", "/v1/datasets", _model(DatasetOut), json=validated(DatasetCreate, spec))


def curate_dataset(dataset_id: str, spec: DatasetCurate | Mapping[str, Any]) -> Call[DatasetOut]:
    body = validated(DatasetCurate, spec)
    return Call("POST", f"/v1/datasets/{dataset_id}/curate", _model(DatasetOut), json=body)


def dataset_rejections(dataset_id: str, limit: int, offset: int) -> Call[Page[RejectionOut]]:
    return Call("GET", f"/v1/datasets/{dataset_id}/rejections", _page(RejectionOut), _paging(limit, offset))


def dataset_card(dataset_id: str) -> Call[str]:
    return Call("GET", f"/v1/datasets/{dataset_id}/card", lambda response: response.text)


_DATA_SUFFIXES = (".gz", ".jsonl", ".json", ".parquet")


def upload_dataset(path: Path, name: str | None, purpose: UploadPurpose | None) -> Call[DatasetOut]:
    """`name` defaults to the file's name without its data suffixes (my-set.jsonl.gz: my-set)."""
    if name is None:
        name = path.name
        while name.endswith(_DATA_SUFFIXES) and "." in name[1:]:
            name = name.rsplit(".", 1)[0]
    form = {"name": name, **({"purpose": purpose} if purpose is not None else {})}
    return Call("POST", "/v1/datasets/upload", _model(DatasetOut), upload=Upload(path, form))


def dataset_rows(dataset_id: str, filters: RowFilters, limit: int, offset: int) -> Call[Page[DatasetRowOut]]:
    params = _paging(limit, offset, **filters.model_dump())
    return Call("GET", f"/v1/datasets/{dataset_id}/rows", _page(DatasetRowOut), params)


def flag_row(dataset_id: str, record_id: int, note: str | None) -> Call[FlagOut]:
    body = validated(FlagIn, {"note": note})
    return Call("PUT", f"/v1/datasets/{dataset_id}/flags/{record_id}", _model(FlagOut), json=body)


def unflag_row(dataset_id: str, record_id: int) -> Call[None]:
    return Call("DELETE", f"/v1/datasets/{dataset_id}/flags/{record_id}", _nothing)


def version_without_flagged(dataset_id: str, name: str | None) -> Call[DatasetOut]:
    body = validated(DatasetRevise, {"name": name} if name is not None else {})
    return Call("POST", f"/v1/datasets/{dataset_id}/versions", _model(DatasetOut), json=body)


# training jobs
def submit_training_job(spec: TrainingJobCreate | Mapping[str, Any]) -> Call[TrainingJobOut]:
    return Call("POST", "/v1/training-jobs", _model(TrainingJobOut), json=validated(TrainingJobCreate, spec))


def list_training_jobs(limit: int, offset: int) -> Call[Page[TrainingJobOut]]:
    return Call("GET", "/v1/training-jobs", _page(TrainingJobOut), _paging(limit, offset))


def get_training_job(training_job_id: str) -> Call[TrainingJobOut]:
    return Call("GET", f"/v1/training-jobs/{training_job_id}", _model(TrainingJobOut))


def cancel_training_job(training_job_id: str) -> Call[TrainingJobOut]:
    return Call("POST", f"/v1/training-jobs/{training_job_id}/cancel", _model(TrainingJobOut))


def training_job_events(training_job_id: str, limit: int, offset: int) -> Call[Page[TrainingEventOut]]:
    path = f"/v1/training-jobs/{training_job_id}/events"
    return Call("GET", path, _page(TrainingEventOut), _paging(limit, offset))


def training_job_metrics(training_job_id: str, limit: int, offset: int) -> Call[Page[StepMetricOut]]:
    path = f"/v1/training-jobs/{training_job_id}/metrics"
    return Call("GET", path, _page(StepMetricOut), _paging(limit, offset))


def training_job_artifacts(training_job_id: str) -> Call[Page[ArtifactOut]]:
    return Call("GET", f"/v1/training-jobs/{training_job_id}/artifacts", _page(ArtifactOut))


def download_training_artifacts(training_job_id: str) -> Call[None]:
    return Call("GET", f"/v1/training-jobs/{training_job_id}/artifacts/download", _nothing)


# pipelines
def submit_pipeline(spec: PipelineCreate | Mapping[str, Any]) -> Call[PipelineOut]:
    return Call("POST", "/v1/pipelines", _model(PipelineOut), json=validated(PipelineCreate, spec))


def list_pipelines(limit: int, offset: int) -> Call[Page[PipelineOut]]:
    return Call("GET", "/v1/pipelines", _page(PipelineOut), _paging(limit, offset))


def get_pipeline(pipeline_id: str) -> Call[PipelineOut]:
    return Call("GET", f"/v1/pipelines/{pipeline_id}", _model(PipelineOut))


def pipeline_events(pipeline_id: str, limit: int, offset: int) -> Call[Page[PipelineEventOut]]:
    return Call("GET", f"/v1/pipelines/{pipeline_id}/events", _page(PipelineEventOut), _paging(limit, offset))


def cancel_pipeline(pipeline_id: str) -> Call[PipelineOut]:
    return Call("POST", f"/v1/pipelines/{pipeline_id}/cancel", _model(PipelineOut))


def retry_pipeline(pipeline_id: str) -> Call[PipelineOut]:
    return Call("POST", f"/v1/pipelines/{pipeline_id}/retry", _model(PipelineOut))


def pipeline_report(pipeline_id: str) -> Call[PipelineReport]:
    return Call("GET", f"/v1/pipelines/{pipeline_id}/report", _model(PipelineReport))
