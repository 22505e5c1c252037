"""The asyncio client: the same calls as `Client`, awaited."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import httpx

from distillery.client import calls, folders, notebook
from distillery.client.calls import Call, RecordStatus
from distillery.client.config import resolve
from distillery.client.errors import from_response
from distillery.client.polling import Backoff, Poll, pipeline_moves
from distillery.client.progress import JobProgress
from distillery.client.transfer import reaching, whole_file
from distillery.schemas.base import Page
from distillery.schemas.datasets import (
    DatasetCreate,
    DatasetCurate,
    DatasetOut,
    DatasetRowOut,
    ExportFormat,
    FileFormat,
    FlagOut,
    RejectionOut,
    RowFilters,
    UploadPurpose,
)
from distillery.schemas.jobs import Budget, EventOut, JobCreate, JobOut, RecordOut
from distillery.schemas.pipeline_reports import PipelineReport
from distillery.schemas.pipelines import PipelineCreate, PipelineEventOut, PipelineOut
from distillery.schemas.previews import JobPreview
from distillery.schemas.teachers import TeacherCreate, TeacherOut
from distillery.schemas.training import ArtifactOut, StepMetricOut, TrainingEventOut, TrainingJobCreate, TrainingJobOut

T = TypeVar("T")


class AsyncClient:
    """`Client`, for asyncio code and notebooks: every method is awaited, iterators are async."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connection = resolve(url, api_key)
        headers = {"Authorization": f"Bearer {self.connection.api_key}"} if self.connection.api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.connection.url, headers=headers, timeout=timeout_s, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _run(self, call: Call[T]) -> T:
        with reaching(self.connection.url), call.body() as body:
            response = await self._http.request(call.method, call.path, params=call.params, **body)
        if response.is_error:
            raise from_response(response)
        return call.read(response)

    @asynccontextmanager
    async def _stream(self, call: Call[None]) -> AsyncIterator[httpx.Response]:
        """The call's response, open for its body to be streamed; an error status raises."""
        with reaching(self.connection.url), call.body() as body:
            async with self._http.stream(call.method, call.path, params=call.params, **body) as response:
                if response.is_error:
                    await response.aread()
                    raise from_response(response)
                yield response

    async def _pages(self, fetch: Callable[[int], Call[Page[T]]]) -> AsyncIterator[T]:
        offset: int | None = 0
        while offset is not None:
            page = await self._run(fetch(offset))
            for item in page.data:
                yield item
            offset = page.next_offset

    async def _download(self, call: Call[None], dest: Path) -> Path:
        # Local writes of network-sized chunks: cheaper inline than a thread hop per chunk.
        async with self._stream(call) as response:
            with whole_file(dest) as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        return dest

    async def _wait(
        self,
        get: Callable[[], Awaitable[T]],
        state: Callable[[T], tuple[str, Any]],
        timeout_s: float | None,
        on_update: Callable[[T], None] | None,
        backoff: Backoff | None,
    ) -> T:
        poll = Poll(timeout_s, backoff or Backoff())
        while True:
            resource = await get()
            if on_update is not None:
                on_update(resource)
            delay = poll.delay(resource, *state(resource))
            if delay is None:
                return resource
            await asyncio.sleep(delay)

    # teachers
    async def create_teacher(self, spec: TeacherCreate | Mapping[str, Any]) -> TeacherOut:
        return await self._run(calls.create_teacher(spec))

    async def list_teachers(self) -> list[TeacherOut]:
        return (await self._run(calls.list_teachers())).data

    async def get_teacher(self, teacher_id: str) -> TeacherOut:
        return await self._run(calls.get_teacher(teacher_id))

    async def delete_teacher(self, teacher_id: str) -> None:
        await self._run(calls.delete_teacher(teacher_id))

    # synthesis jobs
    @overload
    async def submit_job(self, spec: JobCreate | Mapping[str, Any], *, dry_run: Literal[False] = False) -> JobOut: ...

    @overload
    async def submit_job(self, spec: JobCreate | Mapping[str, Any], *, dry_run: Literal[True]) -> JobPreview: ...

    async def submit_job(self, spec: JobCreate | Mapping[str, Any], *, dry_run: bool = False) -> JobOut | JobPreview:
        """Submit a job; with `dry_run=True` only check and price it (its first prompts, requests,
        tokens, cost, duration): nothing is created or sent."""
        if dry_run:
            return await self._run(calls.preview_job(spec))
        return await self._run(calls.submit_job(spec))

    async def list_jobs(self, limit: int = 50, offset: int = 0) -> Page[JobOut]:
        return await self._run(calls.list_jobs(limit, offset))

    def iter_jobs(self, page_size: int = 100) -> AsyncIterator[JobOut]:
        return self._pages(lambda offset: calls.list_jobs(page_size, offset))

    async def get_job(self, job_id: str) -> JobOut:
        return await self._run(calls.get_job(job_id))

    async def cancel_job(self, job_id: str) -> JobOut:
        return await self._run(calls.cancel_job(job_id))

    async def retry_job(self, job_id: str, budget: Budget | Mapping[str, Any] | None = None) -> JobOut:
        """Run a finished job's failed and skipped items again, with a new budget if given."""
        return await self._run(calls.retry_job(job_id, budget))

    async def job_events(self, job_id: str, limit: int = 100, offset: int = 0) -> Page[EventOut]:
        return await self._run(calls.job_events(job_id, limit, offset))

    def iter_job_events(self, job_id: str, page_size: int = 500) -> AsyncIterator[EventOut]:
        return self._pages(lambda offset: calls.job_events(job_id, page_size, offset))

    async def job_records(
        self, job_id: str, status: RecordStatus = None, limit: int = 50, offset: int = 0
    ) -> Page[RecordOut]:
        return await self._run(calls.job_records(job_id, status, limit, offset))

    def iter_job_records(
        self, job_id: str, status: RecordStatus = None, page_size: int = 500
    ) -> AsyncIterator[RecordOut]:
        return self._pages(lambda offset: calls.job_records(job_id, status, page_size, offset))

    async def wait(
        self,
        job_id: str,
        timeout_s: float | None = None,
        on_update: Callable[[JobOut], None] | None = None,
        backoff: Backoff | None = None,
        progress: bool = False,
    ) -> JobOut:
        """Poll until the job is succeeded, failed or cancelled; `on_update` sees every poll.
        `progress`: draw a live bar (in a terminal, or as a notebook cell's output)."""
        with JobProgress() if progress else nullcontext() as bar:

            def seen(job: JobOut) -> None:
                if bar is not None:
                    bar.update(job)
                if on_update is not None:
                    on_update(job)

            return await self._wait(
                lambda: self.get_job(job_id), lambda job: (job.status, job.progress), timeout_s, seen, backoff
            )

    async def wait_training_job(
        self,
        training_job_id: str,
        timeout_s: float | None = None,
        on_update: Callable[[TrainingJobOut], None] | None = None,
        backoff: Backoff | None = None,
    ) -> TrainingJobOut:
        return await self._wait(
            lambda: self.get_training_job(training_job_id),
            lambda job: (job.status, job.progress),
            timeout_s,
            on_update,
            backoff,
        )

    # datasets
    async def list_datasets(self, limit: int = 50, offset: int = 0) -> Page[DatasetOut]:
        return await self._run(calls.list_datasets(limit, offset))

    def iter_datasets(self, page_size: int = 100) -> AsyncIterator[DatasetOut]:
        return self._pages(lambda offset: calls.list_datasets(page_size, offset))

    async def get_dataset(self, dataset_id: str) -> DatasetOut:
        return await self._run(calls.get_dataset(dataset_id))

    async def download_dataset(
        self,
        dataset_id: str,
        dest: str | Path,
        format: ExportFormat = "openai-chat",
        file: FileFormat = "jsonl",
        **options: Any,
    ) -> Path:
        """Stream the export to `dest`; `options` are the route's (include_rationale, split, ...)."""
        return await self._download(calls.download_dataset(dataset_id, format, file, options), Path(dest))

    async def iter_export_rows(
        self, dataset_id: str, format: ExportFormat = "openai-chat", **options: Any
    ) -> AsyncIterator[Any]:
        """The version's rows in `format`, one dict each, streamed (the JSONL export)."""
        call = calls.download_dataset(dataset_id, format, "jsonl", options)
        async with self._stream(call) as response:
            async for line in response.aiter_lines():
                if line:
                    yield json.loads(line)

    async def load_dataset(self, dataset_id: str, format: ExportFormat = "openai-chat", **options: Any) -> Any:
        """The version as a Hugging Face `datasets.Dataset` (needs `distillery[hub]`),
        downloaded once into the cache (~/.cache/distillery) and read from there after."""
        path = notebook.cache_path(dataset_id, format, options)
        if not path.exists():
            await self.download_dataset(dataset_id, path, format, "parquet", **options)
        return await asyncio.to_thread(notebook.hf_dataset, path)

    async def merge_datasets(self, spec: DatasetCreate | Mapping[str, Any]) -> DatasetOut:
        """A new version from jobs' datasets and dataset versions of one kind, filtered and curated."""
        return await self._run(calls.merge_datasets(spec))

    async def curate_dataset(
        self, dataset_id: str, spec: DatasetCurate | Mapping[str, Any] | None = None
    ) -> DatasetOut:
        """A new version of the dataset: its records through the curation passes again."""
        return await self._run(calls.curate_dataset(dataset_id, spec or {}))

    def iter_dataset_rejections(self, dataset_id: str, page_size: int = 500) -> AsyncIterator[RejectionOut]:
        return self._pages(lambda offset: calls.dataset_rejections(dataset_id, page_size, offset))

    async def dataset_card(self, dataset_id: str) -> str:
        """The version's dataset card (README.md, Hugging Face convention)."""
        return await self._run(calls.dataset_card(dataset_id))

    async def download_hf_folder(
        self, dataset_id: str, dest: str | Path, format: ExportFormat = "openai-chat", **options: Any
    ) -> Path:
        """The version as a Hugging Face dataset folder at `dest` (new or empty): README.md (the
        card) and data/train-*.parquet, data/test-*.parquet, for `datasets.load_dataset(dest)`
        or `HfApi().upload_folder`. `options` are the route's (include_rationale, eval_fraction, ...)."""
        dest = folders.ready(Path(dest))
        call = calls.download_dataset(dataset_id, format, "hf", options)
        with tempfile.TemporaryDirectory() as tmp:
            archive = await self._download(call, Path(tmp) / "hf.zip")
            return await asyncio.to_thread(folders.unpack, archive, dest)

    async def upload_dataset(
        self, path: str | Path, name: str | None = None, purpose: UploadPurpose | None = None
    ) -> DatasetOut:
        """Upload a file (JSON Lines, .jsonl.gz or Parquet, in any export format) as a new
        dataset version; `purpose` (its kind) defaults to the file's, `name` to the file's."""
        return await self._run(calls.upload_dataset(Path(path), name, purpose))

    async def dataset_rows(
        self, dataset_id: str, filters: RowFilters | None = None, limit: int = 50, offset: int = 0
    ) -> Page[DatasetRowOut]:
        """A page of the version's rows for review (`RowFilters`: view, q, scores, reason, flagged)."""
        return await self._run(calls.dataset_rows(dataset_id, filters or RowFilters(), limit, offset))

    def iter_dataset_rows(
        self, dataset_id: str, filters: RowFilters | None = None, page_size: int = 500
    ) -> AsyncIterator[DatasetRowOut]:
        return self._pages(lambda offset: calls.dataset_rows(dataset_id, filters or RowFilters(), page_size, offset))

    async def flag_row(self, dataset_id: str, record_id: int, note: str | None = None) -> FlagOut:
        """Flag a row of the version as bad; `version_without_flagged` then drops it."""
        return await self._run(calls.flag_row(dataset_id, record_id, note))

    async def unflag_row(self, dataset_id: str, record_id: int) -> None:
        await self._run(calls.unflag_row(dataset_id, record_id))

    async def version_without_flagged(self, dataset_id: str, name: str | None = None) -> DatasetOut:
        """A new version of the dataset without its flagged rows."""
        return await self._run(calls.version_without_flagged(dataset_id, name))

    # training jobs
    async def submit_training_job(self, spec: TrainingJobCreate | Mapping[str, Any]) -> TrainingJobOut:
        return await self._run(calls.submit_training_job(spec))

    async def list_training_jobs(self, limit: int = 50, offset: int = 0) -> Page[TrainingJobOut]:
        return await self._run(calls.list_training_jobs(limit, offset))

    def iter_training_jobs(self, page_size: int = 100) -> AsyncIterator[TrainingJobOut]:
        return self._pages(lambda offset: calls.list_training_jobs(page_size, offset))

    async def get_training_job(self, training_job_id: str) -> TrainingJobOut:
        return await self._run(calls.get_training_job(training_job_id))

    async def cancel_training_job(self, training_job_id: str) -> TrainingJobOut:
        return await self._run(calls.cancel_training_job(training_job_id))

    def iter_training_job_events(self, training_job_id: str, page_size: int = 500) -> AsyncIterator[TrainingEventOut]:
        return self._pages(lambda offset: calls.training_job_events(training_job_id, page_size, offset))

    def iter_training_job_metrics(self, training_job_id: str, page_size: int = 500) -> AsyncIterator[StepMetricOut]:
        return self._pages(lambda offset: calls.training_job_metrics(training_job_id, page_size, offset))

    async def training_job_artifacts(self, training_job_id: str) -> list[ArtifactOut]:
        return (await self._run(calls.training_job_artifacts(training_job_id))).data

    async def download_training_artifacts(self, training_job_id: str, dest: str | Path) -> Path:
        """The job's artifacts (adapter or model, run card) as one archive at `dest`."""
        return await self._download(calls.download_training_artifacts(training_job_id), Path(dest))

    # pipelines
    async def submit_pipeline(self, spec: PipelineCreate | Mapping[str, Any]) -> PipelineOut:
        """Start a pipeline (a dict or a PipelineCreate, validated locally; YAML files: load them first)."""
        return await self._run(calls.submit_pipeline(spec))

    async def list_pipelines(self, limit: int = 50, offset: int = 0) -> Page[PipelineOut]:
        return await self._run(calls.list_pipelines(limit, offset))

    def iter_pipelines(self, page_size: int = 100) -> AsyncIterator[PipelineOut]:
        return self._pages(lambda offset: calls.list_pipelines(page_size, offset))

    async def get_pipeline(self, pipeline_id: str) -> PipelineOut:
        return await self._run(calls.get_pipeline(pipeline_id))

    def iter_pipeline_events(self, pipeline_id: str, page_size: int = 500) -> AsyncIterator[PipelineEventOut]:
        return self._pages(lambda offset: calls.pipeline_events(pipeline_id, page_size, offset))

    async def cancel_pipeline(self, pipeline_id: str) -> PipelineOut:
        return await self._run(calls.cancel_pipeline(pipeline_id))

    async def retry_pipeline(self, pipeline_id: str) -> PipelineOut:
        """Run a failed or cancelled pipeline on from the stage that did not finish."""
        return await self._run(calls.retry_pipeline(pipeline_id))

    async def pipeline_report(self, pipeline_id: str) -> PipelineReport:
        return await self._run(calls.pipeline_report(pipeline_id))

    async def wait_pipeline(
        self,
        pipeline_id: str,
        timeout_s: float | None = None,
        on_update: Callable[[PipelineOut], None] | None = None,
        backoff: Backoff | None = None,
    ) -> PipelineOut:
        """Poll until the pipeline is succeeded, failed or cancelled; `on_update` sees every poll."""
        return await self._wait(
            lambda: self.get_pipeline(pipeline_id),
            lambda p: (p.status, pipeline_moves(p)),
            timeout_s,
            on_update,
            backoff,
        )
