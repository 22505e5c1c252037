"""How client results look in a terminal: tables, a pipeline's live view, a dry run, errors.
The live job progress bar is the client's (distillery/client/progress.py)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from distillery.cli.specs import SpecError
from distillery.client import ApiError, ClientError, LocalSpecError
from distillery.schemas.jobs import JobOut
from distillery.schemas.pipelines import PipelineOut, StageOut
from distillery.schemas.previews import JobPreview

console = Console()
errors = Console(stderr=True)


@contextmanager
def reported() -> Iterator[None]:
    """Turn the client's and the spec checks' errors into one readable message and exit 1."""
    try:
        yield
    except ApiError as exc:
        if isinstance(exc, LocalSpecError):
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


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, ids: Collection[str] = ("id",)) -> None:
    console.print(build_table(title, columns, rows, ids=ids))


def build_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, ids: Collection[str] = ("id",)
) -> Table:
    """Cells that do not fit fold onto more lines, except in the `ids` columns: an id is
    copied and pasted, so it always stays whole on one line, and the other columns give way."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    out = Table(title=title, title_justify="left")
    for n, column in enumerate(columns):
        if column in ids:
            out.add_column(column, no_wrap=True, min_width=max((len(row[n]) for row in cells), default=0))
        else:
            out.add_column(column, overflow="fold")
    for row in cells:
        out.add_row(*row)
    return out


def fields(title: str, values: dict[str, Any]) -> None:
    out = Table(title=title, title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column(overflow="fold")
    for name, value in values.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        out.add_row(name, "" if shown is None else str(shown))
    console.print(out)


def _projected(job: JobOut) -> str | None:
    e = job.estimate
    if e is None:
        return None
    return f"{e.requests} requests, ${e.cost_usd:.6f} at completion (from {e.basis_items} of {e.total_items} items)"


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
        "projected": _projected(job),
        "dataset_id": job.dataset_id,
        "stop_reason": job.stop_reason,
        "error": job.error,
        "created_at": job.created_at.isoformat(timespec="seconds"),
        "finished_at": job.finished_at.isoformat(timespec="seconds") if job.finished_at else None,
    }


def _money(usd: float | None) -> str:
    return "unknown" if usd is None else f"${usd:.4f}"


def show_preview(preview: JobPreview) -> None:
    """A dry run: the first rendered prompts, then the estimate and each teacher's share."""
    for n, prompt in enumerate(preview.prompts, 1):
        console.rule(f"prompt {n} of {preview.items} ({prompt.template_name})", align="left")
        for message in prompt.messages:
            # A Text, not markup: a prompt's own brackets are printed as they are.
            console.print(Text.assemble((f"{message['role']}: ", "bold"), message["content"]), highlight=False)
    bound = {"exact": "", "lower_bound": " (at least)", "upper_bound": " (at most)"}[preview.requests_bound]
    duration = "unknown (no rpm/tpm limit)" if preview.duration_s is None else f"{preview.duration_s:.0f} s"
    fields(
        f"dry run: {preview.method} job, nothing created or sent",
        {
            "items": preview.items,
            "requests": f"{preview.requests}{bound}",
            "prompt tokens": f"{preview.prompt_tokens} ({preview.tokenizer})",
            "completion tokens": f"≤ {preview.completion_tokens} (expected {preview.expected_completion_tokens})",
            "cost": f"≤ {_money(preview.cost_usd)} (expected {_money(preview.expected_cost_usd)})",
            "cost note": preview.cost_note,
            "duration": duration,
        },
    )
    rows = [
        (t.name, t.role, t.model, t.requests, t.price_source, _money(t.cost_usd), t.duration_s)
        for t in preview.teachers
    ]
    table("teachers", ("name", "role", "model", "requests", "prices", "cost ≤", "duration s"), rows)


def pipeline_table(pipeline: PipelineOut) -> Table:
    """One line per stage: its status, progress and job."""
    p = pipeline.progress
    title = f"pipeline {pipeline.id} ({pipeline.name}): {pipeline.status} · {p.done}/{p.stages} stages"
    rows = [
        (s.name, s.kind, s.status, _stage_progress(s), s.job_id or s.training_job_id, s.error) for s in pipeline.stages
    ]
    columns = ("stage", "kind", "status", "progress", "job", "error")
    return build_table(f"{title} · ${pipeline.cost_usd:.4f}", columns, rows, ids=("job",))


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
