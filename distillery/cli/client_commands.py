"""Client commands: `distillery jobs|datasets|teachers|train ...` against a running server
(pipelines: distillery/cli/pipeline_commands.py).

They go through the Python client (distillery.client) and check every spec locally with the
server's own schemas before sending it. The server and key come from --url/--api-key,
then DISTILLERY_URL/DISTILLERY_API_KEY, then the config file.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from distillery.cli import hub, specs
from distillery.cli.terminal import (
    console,
    emit_json,
    fields,
    job_summary,
    reported,
    show_preview,
    table,
)
from distillery.client import Client
from distillery.client.calls import validated
from distillery.datasets.splits import EVAL_FRACTION, Split
from distillery.schemas.datasets import ExportFormat, FileFormat, UploadPurpose, export_filename
from distillery.schemas.jobs import JobCreate
from distillery.schemas.status import JobStatus
from distillery.schemas.training import TRAINING_METHODS, TrainingJobCreate, TrainingJobOut

Url = Annotated[
    str | None,
    typer.Option("--url", help="server URL (default: DISTILLERY_URL, the config file, http://127.0.0.1:8000)"),
]
Key = Annotated[
    str | None, typer.Option("--api-key", help="tenant API key (default: DISTILLERY_API_KEY, the config file)")
]
AsJson = Annotated[bool, typer.Option("--json", help="print the server's JSON instead of a table")]
Spec = Annotated[str, typer.Argument(help="spec file: YAML, or JSON when it ends in .json; - reads stdin")]

jobs_app = typer.Typer(no_args_is_help=True, help="Synthesis jobs on a server.")
datasets_app = typer.Typer(no_args_is_help=True, help="Dataset versions on a server.")
teachers_app = typer.Typer(no_args_is_help=True, help="Teacher endpoints registered on a server.")
train_app = typer.Typer(no_args_is_help=True, help="Student training jobs on a server.")


def _follow(client: Client, job_id: str, timeout_s: float | None) -> None:
    job = client.wait(job_id, timeout_s=timeout_s, progress=True)
    fields(f"job {job.id}", job_summary(job))
    if job.status != JobStatus.SUCCEEDED:
        raise typer.Exit(1)


# jobs
@jobs_app.command("submit")
def jobs_submit(
    spec: Spec,
    wait: Annotated[bool, typer.Option("--wait", help="follow the job with a progress bar until it ends")] = False,
    timeout_s: Annotated[float | None, typer.Option(help="with --wait: give up after this many seconds")] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="only check and price the job: its first prompts and an estimate; nothing runs"),
    ] = False,
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Submit a synthesis job (checked locally against the job schema first)."""
    if dry_run and wait:
        raise typer.BadParameter("a dry run creates no job to wait for", param_hint="--wait")
    with reported(), Client(url, api_key) as client:
        body = validated(JobCreate, specs.load(spec))
        if dry_run:
            preview = client.submit_job(body, dry_run=True)
            if as_json:
                emit_json(preview)
            else:
                show_preview(preview)
            return
        job = client.submit_job(body)
        if as_json and not wait:
            emit_json(job)
            return
        console.print(f"submitted job [bold]{job.id}[/] ({job.name})")
        if wait:
            _follow(client, job.id, timeout_s)


@jobs_app.command("wait")
def jobs_wait(
    job_id: str,
    timeout_s: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Follow a job with a progress bar until it ends; exit 1 unless it succeeded."""
    with reported(), Client(url, api_key) as client:
        _follow(client, job_id, timeout_s)


@jobs_app.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List jobs, newest first."""
    with reported(), Client(url, api_key) as client:
        jobs = [job for _, job in zip(range(limit), client.iter_jobs(page_size=min(limit, 500)), strict=False)]
    if as_json:
        emit_json(jobs)
        return
    rows = [
        (j.id, j.name, j.method, j.status, f"{j.progress.completed}/{j.progress.total}", j.progress.accepted,
         j.progress.rejected, f"{j.usage.cost_usd:.4f}", j.created_at.isoformat(timespec="seconds"))
        for j in jobs
    ]  # fmt: skip
    table("jobs", ("id", "name", "method", "status", "done", "accepted", "rejected", "cost $", "created"), rows)


@jobs_app.command("show")
def jobs_show(job_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """A job's status, progress, usage and cost."""
    with reported(), Client(url, api_key) as client:
        job = client.get_job(job_id)
    if as_json:
        emit_json(job)
    else:
        fields(f"job {job.id}", job_summary(job))


@jobs_app.command("events")
def jobs_events(job_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """A job's event log, oldest first."""
    with reported(), Client(url, api_key) as client:
        events = list(client.iter_job_events(job_id))
    show_events(f"events of job {job_id}", events, as_json)


def show_events(title: str, events: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json(events)
        return
    rows = [(e.created_at.isoformat(timespec="seconds"), e.level, e.type, e.message) for e in events]
    table(title, ("time", "level", "type", "message"), rows)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, url: Url = None, api_key: Key = None) -> None:
    """Cancel a job; the records it made so far are kept."""
    with reported(), Client(url, api_key) as client:
        job = client.cancel_job(job_id)
    console.print(f"job {job.id} is {job.status}")


@jobs_app.command("retry")
def jobs_retry(
    job_id: str,
    max_cost_usd: Annotated[float | None, typer.Option(help="a new cost budget")] = None,
    max_requests: Annotated[int | None, typer.Option(help="a new request budget")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Run a finished job's failed and skipped items again (paid replies come from the cache)."""
    given = {"max_cost_usd": max_cost_usd, "max_requests": max_requests}
    budget = {k: v for k, v in given.items() if v is not None} or None
    with reported(), Client(url, api_key) as client:
        job = client.retry_job(job_id, budget)
    console.print(f"job {job.id} is {job.status}")


# datasets
@datasets_app.command("list")
def datasets_list(url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """List dataset versions."""
    with reported(), Client(url, api_key) as client:
        datasets = list(client.iter_datasets())
    if as_json:
        emit_json(datasets)
        return
    rows = [
        (d.id, d.name, d.version, d.kind, d.record_count, d.job_id, d.created_at.isoformat(timespec="seconds"))
        for d in datasets
    ]
    table("datasets", ("id", "name", "version", "kind", "records", "job", "created"), rows, ids=("id", "job"))


@datasets_app.command("show")
def datasets_show(dataset_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """A dataset version with its counts and stats."""
    with reported(), Client(url, api_key) as client:
        dataset = client.get_dataset(dataset_id)
    if as_json:
        emit_json(dataset)
        return
    fields(f"dataset {dataset.id}", dataset.model_dump(mode="json", exclude={"stats"}) | dataset.stats)


@datasets_app.command("download")
def datasets_download(
    dataset_id: str,
    format: Annotated[ExportFormat, typer.Option(help="the trainer's format")] = "openai-chat",
    file: Annotated[FileFormat, typer.Option(help="the file type")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="where to write (default: ./DATASET-FORMAT.FILE)")
    ] = None,
    rationale: Annotated[bool, typer.Option(help="keep the teacher's reasoning in answers")] = True,
    system: Annotated[bool, typer.Option(help="keep the teacher's system prompt")] = False,
    split: Annotated[Split | None, typer.Option(help="only the train or eval split (by prompt hash)")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Download a dataset in a trainer's format; prints the file's path."""
    with reported(), Client(url, api_key) as client:
        if output is None:
            dataset = client.get_dataset(dataset_id)
            output = Path(export_filename(dataset.name, dataset.version, format, file, split))
        dest = output
        options = {"include_rationale": rationale, "include_system": system, "split": split}
        path = client.download_dataset(dataset_id, dest, format, file, **options)
    typer.echo(str(path))


@datasets_app.command("push")
def datasets_push(
    dataset_id: str,
    repo: Annotated[str, typer.Option("--repo", help="the Hub dataset repository, owner/name (made if new)")],
    format: Annotated[ExportFormat, typer.Option(help="the rows' format")] = "openai-chat",
    private: Annotated[bool, typer.Option("--private", help="make a new repository private")] = False,
    token: Annotated[
        str | None,
        typer.Option(help="a Hugging Face write token (default: HF_TOKEN, then `hf auth login`'s)", show_default=False),
    ] = None,
    rationale: Annotated[bool, typer.Option(help="keep the teacher's reasoning in answers")] = True,
    system: Annotated[bool, typer.Option(help="keep the teacher's system prompt")] = False,
    eval_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of prompts in the test split")
    ] = EVAL_FRACTION,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Publish a dataset version on the Hugging Face Hub: its card and Parquet train/test splits."""
    options = {"include_rationale": rationale, "include_system": system, "eval_fraction": eval_fraction}
    with reported(), Client(url, api_key) as client, tempfile.TemporaryDirectory() as tmp:
        account = hub.Hub(token)
        dataset = client.get_dataset(dataset_id)
        folder = client.download_hf_folder(dataset_id, Path(tmp) / "folder", format, **options)
        message = f"{dataset.name} version {dataset.version} ({dataset.id}), {format}, from Distillery"
        where = account.push(folder, repo, private=private, message=message)
    console.print(f"pushed dataset {dataset_id} to {where}")


@datasets_app.command("upload")
def datasets_upload(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="JSON Lines, .jsonl.gz or Parquet, in any format `download` writes"
        ),
    ],
    name: Annotated[str | None, typer.Option(help="the dataset's name (default: the file's)")] = None,
    purpose: Annotated[
        UploadPurpose | None,
        typer.Option(help="the dataset's kind (default: the file's: sft, preference, candidates or seeds)"),
    ] = None,
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Upload a file as a new dataset version; prints its id, kind and row count."""
    with reported(), Client(url, api_key) as client:
        dataset = client.upload_dataset(file, name, purpose)
    if as_json:
        emit_json(dataset)
        return
    typer.echo(f"{dataset.id}  {dataset.kind}  {dataset.record_count} rows  ({dataset.name} v{dataset.version})")


# teachers
@teachers_app.command("add")
def teachers_add(
    name: str,
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1")],
    model: Annotated[str, typer.Option(help="the teacher model's name at that endpoint")],
    teacher_api_key: Annotated[
        str | None, typer.Option(help="the endpoint's key (stored encrypted, never shown again)")
    ] = None,
    rpm: Annotated[int | None, typer.Option(help="requests per minute allowed")] = None,
    tpm: Annotated[int | None, typer.Option(help="tokens per minute allowed")] = None,
    max_concurrency: int = 16,
    input_price_per_mtok: Annotated[
        float, typer.Option(help="USD per million prompt tokens; both 0: the genai-prices table's for a known model")
    ] = 0.0,
    output_price_per_mtok: Annotated[float, typer.Option(help="USD per million completion tokens")] = 0.0,
    supports_batch: bool = False,
    supports_structured_outputs: bool = False,
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Register a teacher endpoint."""
    spec: dict[str, Any] = {
        "name": name,
        "base_url": base_url,
        "model": model,
        "api_key": teacher_api_key,
        "rpm": rpm,
        "tpm": tpm,
        "max_concurrency": max_concurrency,
        "input_price_per_mtok": Decimal(str(input_price_per_mtok)),
        "output_price_per_mtok": Decimal(str(output_price_per_mtok)),
        "supports_batch": supports_batch,
        "supports_structured_outputs": supports_structured_outputs,
    }
    with reported(), Client(url, api_key) as client:
        teacher = client.create_teacher({k: v for k, v in spec.items() if v is not None})
    if as_json:
        emit_json(teacher)
        return
    console.print(f"teacher [bold]{teacher.name}[/] registered as {teacher.id}")


@teachers_app.command("list")
def teachers_list(url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """List teachers (their keys are never shown)."""
    with reported(), Client(url, api_key) as client:
        teachers = client.list_teachers()
    if as_json:
        emit_json(teachers)
        return
    rows = [
        (
            t.id,
            t.name,
            t.model,
            t.base_url,
            t.rpm,
            t.tpm,
            t.max_concurrency,
            f"{t.input_price_per_mtok:g} / {t.output_price_per_mtok:g} ({t.price_source})",
            "yes" if t.has_api_key else "no",
        )
        for t in teachers
    ]
    columns = ("id", "name", "model", "base_url", "rpm", "tpm", "concurrency", "$/Mtok in / out", "key")
    table("teachers", columns, rows)


@teachers_app.command("rm")
def teachers_rm(
    teacher: Annotated[str, typer.Argument(help="id or name")], url: Url = None, api_key: Key = None
) -> None:
    """Remove a teacher."""
    with reported(), Client(url, api_key) as client:
        ids = [t.id for t in client.list_teachers() if teacher in (t.id, t.name)]
        client.delete_teacher(ids[0] if ids else teacher)
    console.print(f"teacher {teacher} removed")


# training jobs
def _training_summary(job: TrainingJobOut) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "method": job.method,
        "base_model": job.base_model,
        "student": job.student,
        "dataset_id": job.dataset_id,
        "progress": f"step {job.progress.step}/{job.progress.total_steps or '?'}",
        "hyperparameters": job.hyperparameters,
        "generate": job.generate,
        "lora": job.lora or ("full fine-tuning" if job.method in TRAINING_METHODS else None),
        "output_dataset_id": job.output_dataset_id,
        "metrics": job.metrics,
        "error": job.error,
        "created_at": job.created_at.isoformat(timespec="seconds"),
        "finished_at": job.finished_at.isoformat(timespec="seconds") if job.finished_at else None,
    }


@train_app.command("submit")
def train_submit(
    spec: Spec,
    wait: Annotated[bool, typer.Option("--wait", help="poll until the training job ends")] = False,
    timeout_s: Annotated[float | None, typer.Option(help="with --wait: give up after this many seconds")] = None,
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Submit a training job (sft, dpo, generate or evaluate; see the README), checked locally."""
    with reported(), Client(url, api_key) as client:
        job = client.submit_training_job(validated(TrainingJobCreate, specs.load(spec)))
        if wait:
            with console.status(f"training job {job.id}: {job.status}") as status:
                job = client.wait_training_job(
                    job.id,
                    timeout_s=timeout_s,
                    on_update=lambda j: status.update(
                        f"training job {j.id}: {j.status}, step {j.progress.step}/{j.progress.total_steps or '?'}"
                    ),
                )
    if as_json:
        emit_json(job)
    else:
        fields(f"training job {job.id}", _training_summary(job))
    if wait and job.status != JobStatus.SUCCEEDED:
        raise typer.Exit(1)


@train_app.command("list")
def train_list(url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """List training jobs, newest first."""
    with reported(), Client(url, api_key) as client:
        jobs = list(client.iter_training_jobs())
    if as_json:
        emit_json(jobs)
        return
    rows = [(j.id, j.method, j.base_model, j.status, j.dataset_id) for j in jobs]
    table("training jobs", ("id", "method", "base model", "status", "dataset"), rows, ids=("id", "dataset"))


@train_app.command("show")
def train_show(training_job_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """A training job's status, settings and metrics summary."""
    with reported(), Client(url, api_key) as client:
        job = client.get_training_job(training_job_id)
    if as_json:
        emit_json(job)
    else:
        fields(f"training job {job.id}", _training_summary(job))


@train_app.command("events")
def train_events(training_job_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """A training job's event log."""
    with reported(), Client(url, api_key) as client:
        events = list(client.iter_training_job_events(training_job_id))
    show_events(f"events of training job {training_job_id}", events, as_json)


@train_app.command("cancel")
def train_cancel(training_job_id: str, url: Url = None, api_key: Key = None) -> None:
    """Cancel a training job."""
    with reported(), Client(url, api_key) as client:
        job = client.cancel_training_job(training_job_id)
    console.print(f"training job {job.id} is {job.status}")


@train_app.command("artifacts")
def train_artifacts(
    training_job_id: str,
    download: Annotated[Path | None, typer.Option(help="also download them as one tar archive to this path")] = None,
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
) -> None:
    """List a training job's artifacts (adapter or model, run card); --download fetches them."""
    with reported(), Client(url, api_key) as client:
        artifacts = client.training_job_artifacts(training_job_id)
        if as_json:
            emit_json(artifacts)
        else:
            table(
                f"artifacts of training job {training_job_id}", ("path", "bytes"), [(a.path, a.size) for a in artifacts]
            )
        if download is not None:
            typer.echo(str(client.download_training_artifacts(training_job_id, download)))
