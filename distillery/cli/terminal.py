"""How client results look in a terminal: tables, the live job progress bar, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from distillery.cli.specs import SpecError
from distillery.client import ApiError, ClientError, InvalidSpec
from distillery.schemas.jobs import JobOut
from distillery.schemas.pipelines import PipelineOut, StageOut
from distillery.schemas.status import JobStatus

console = Console()
errors = Console(stderr=True)


@contextmanager
def reported() -> Iterator[None]:
    """Turn the client's and the spec checks' errors into one readable message and exit 1."""
    try:
        yield
    except ApiError as exc:
        if isinstance(exc, InvalidSpec):
            errors.print("[red]invalid spec[/] (checked locally; nothing was sent):", highlight=False)
        else:
            errors.print(f"[red]{exc.status} {exc.type}[/]: {escape(exc.message)}", highlight=False)
        for detail in exc.details if isinstance(exc.details, list) else []:
            if isinstance(detail, dict) and "field" in detail:
                errors.print(f"  {detail['field']}: {detail.get('problem', '')}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except (ClientError, SpecError) as exc:
        errors.print(f"[red]error[/]: {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


def emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    typer.echo(json.dumps(value, indent=2))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(out)


def fields(title: str, values: dict[str, Any]) -> None:
    out = Table(title=title, title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column(overflow="fold")
    for name, value in values.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        out.add_row(name, "" if shown is None else str(shown))
    console.print(out)


def job_summary(job: JobOut) -> dict[str, Any]:
    p, u = job.progress, job.usage
    return {
        "id": job.id,
        "name": job.name,
        "method": job.method,
        "status": job.status,
        "teachers": ", ".join(t.name for t in job.teachers),
        "progress": f"{p.completed}/{p.total} · accepted {p.accepted} · rejected {p.rejected} · failed {p.failed}",
        "requests": f"{u.requests} ({u.cached_requests} from cache)",
        "tokens": f"{u.prompt_tokens} prompt + {u.completion_tokens} completion",
        "cost_usd": f"{u.cost_usd:.6f}",
        "dataset_id": job.dataset_id,
        "stop_reason": job.stop_reason,
        "error": job.error,
        "created_at": job.created_at.isoformat(timespec="seconds"),
        "finished_at": job.finished_at.isoformat(timespec="seconds") if job.finished_at else None,
    }


class JobProgress:
    """The live bar `jobs submit --wait` and `jobs wait` show; feed it every polled job."""

    _columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )

    def __init__(self) -> None:
        self._bar = Progress(*self._columns, console=console)
        self._task = self._bar.add_task("queued", total=None, detail="")
        self._first: tuple[float, int] | None = None

    def __enter__(self) -> JobProgress:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def update(self, job: JobOut) -> None:
        p, u = job.progress, job.usage
        now = time.monotonic()
        if self._first is None and job.status == JobStatus.RUNNING:
            self._first = (now, p.completed)
        rate = ""
        if self._first is not None and now > self._first[0]:
            rate = f" · {(p.completed - self._first[1]) / (now - self._first[0]):.1f} items/s"
        detail = (
            f"accepted {p.accepted} · rejected {p.rejected} · failed {p.failed}"
            f" · {u.requests} requests · {u.prompt_tokens + u.completion_tokens} tokens · ${u.cost_usd:.4f}{rate}"
        )
        self._bar.update(
            self._task, description=job.status, total=p.total or None, completed=p.completed, detail=detail
        )


def pipeline_table(pipeline: PipelineOut) -> Table:
    """One line per stage: its status, progress and job."""
    p = pipeline.progress
    out = Table(
        title=f"pipeline {pipeline.id} ({pipeline.name}): {pipeline.status} · {p.done}/{p.stages} stages"
        f" · ${pipeline.cost_usd:.4f}",
        title_justify="left",
    )
    for column in ("stage", "kind", "status", "progress", "job", "error"):
        out.add_column(column, overflow="fold")
    for stage in pipeline.stages:
        out.add_row(
            stage.name,
            stage.kind,
            stage.status,
            _stage_progress(stage),
            stage.job_id or stage.training_job_id or "",
            stage.error or "",
        )
    return out


def _stage_progress(stage: StageOut) -> str:
    if stage.progress is None:
        return ""
    done, total = stage.progress.done, stage.progress.total
    if stage.progress.unit == "steps":
        return f"step {done}/{total or '?'}"
    return f"{done}/{total} items"


class PipelineView:
    """The live view `distillery run` shows: the stage table, redrawn on every poll."""

    def __init__(self) -> None:
        self._live = Live(console=console, auto_refresh=False)

    def __enter__(self) -> PipelineView:
        self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._live.stop()

    def update(self, pipeline: PipelineOut) -> None:
        self._live.update(pipeline_table(pipeline), refresh=True)
