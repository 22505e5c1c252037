"""Pipeline commands: `distillery run pipeline.yaml` submits a pipeline and follows it stage
by stage; `distillery pipelines ...` reads, cancels and retries runs. Through the Python
client, the spec checked locally first, as the other client commands do."""

from __future__ import annotations

from typing import Annotated

import typer

from distillery.cli import specs
from distillery.cli.client_commands import AsJson, Key, Spec, Url, show_events
from distillery.cli.terminal import PipelineView, console, emit_json, errors, pipeline_table, reported, table
from distillery.client import Client
from distillery.client.calls import validated
from distillery.schemas.pipelines import PipelineCreate, PipelineOut, PipelineStatus

pipelines_app = typer.Typer(no_args_is_help=True, help="Pipelines (distillation runs) on a server.")


def _follow(client: Client, pipeline_id: str, timeout_s: float | None) -> None:
    with PipelineView() as view:
        done = client.wait_pipeline(pipeline_id, timeout_s=timeout_s, on_update=view.update)
    _ended(done)


def _ended(pipeline: PipelineOut) -> None:
    if pipeline.status == PipelineStatus.SUCCEEDED:
        console.print(f"pipeline {pipeline.id} succeeded")
        return
    reason = pipeline.error or "cancelled"
    errors.print(f"[red]pipeline {pipeline.id} {pipeline.status}[/]: {reason}", highlight=False)
    raise typer.Exit(1)


def run(
    spec: Spec,
    follow: Annotated[
        bool, typer.Option("--follow/--detach", help="show each stage live until the run ends, or submit and exit")
    ] = True,
    timeout_s: Annotated[float | None, typer.Option(help="stop following after this many seconds")] = None,
    url: Url = None,
    api_key: Key = None,
    as_json: AsJson = False,
) -> None:
    """Run a pipeline (YAML or JSON): its stages one after another. Exits 0 when it succeeds,
    1 with the reason when it fails or is cancelled."""
    with reported(), Client(url, api_key) as client:
        pipeline = client.submit_pipeline(validated(PipelineCreate, specs.load(spec)))
        if as_json and not follow:
            emit_json(pipeline)
            return
        console.print(f"submitted pipeline [bold]{pipeline.id}[/] ({pipeline.name})")
        if follow:
            _follow(client, pipeline.id, timeout_s)


@pipelines_app.command("list")
def pipelines_list(url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """List pipelines, newest first."""
    with reported(), Client(url, api_key) as client:
        found = list(client.iter_pipelines())
    if as_json:
        emit_json(found)
        return
    rows = [
        (p.id, p.name, p.status, f"{p.progress.done}/{p.progress.stages}", p.current_stage, f"{p.cost_usd:.4f}")
        for p in found
    ]
    table("pipelines", ("id", "name", "status", "stages done", "running", "cost $"), rows)


@pipelines_app.command("show")
def pipelines_show(pipeline_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """A pipeline's stages with their status, progress and jobs."""
    with reported(), Client(url, api_key) as client:
        pipeline = client.get_pipeline(pipeline_id)
    if as_json:
        emit_json(pipeline)
    else:
        console.print(pipeline_table(pipeline))


@pipelines_app.command("wait")
def pipelines_wait(
    pipeline_id: str,
    timeout_s: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Follow a pipeline until it ends; exit 1 unless it succeeded."""
    with reported(), Client(url, api_key) as client:
        _follow(client, pipeline_id, timeout_s)


@pipelines_app.command("events")
def pipelines_events(pipeline_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """A pipeline's event log: stages started and ended, with their jobs."""
    with reported(), Client(url, api_key) as client:
        found = list(client.iter_pipeline_events(pipeline_id))
    show_events(f"events of pipeline {pipeline_id}", found, as_json)


@pipelines_app.command("report")
def pipelines_report(pipeline_id: str, url: Url = None, api_key: Key = None, as_json: AsJson = False) -> None:
    """Per stage: records kept and rejected, teacher cost, training, and student vs teacher."""
    with reported(), Client(url, api_key) as client:
        report = client.pipeline_report(pipeline_id)
    if as_json:
        emit_json(report)
        return
    rows = []
    for s in report.stages:
        kept = f"{s.records.kept} kept, {s.records.rejected} rejected" if s.records else ""
        cost = f"{s.teacher.cost_usd:.4f} ({s.teacher.requests} requests)" if s.teacher else ""
        trained = f"{s.training.steps} steps, loss {s.training.last_loss}" if s.training else ""
        if s.samples is not None:
            trained = f"{s.samples} samples"
        scores = []
        if s.gold is not None:
            scores.append(f"teacher {s.gold.accuracy:.1%} on gold" if s.gold.accuracy is not None else "")
        if s.evaluation is not None:
            exact = s.evaluation.student_exact_match
            scores.append(f"student {exact:.1%} exact" if exact is not None else "student: no exact answers")
            teacher = s.evaluation.teacher
            if teacher is not None and teacher.accuracy is not None:
                scores.append(f"teacher {teacher.accuracy:.1%}")
        rows.append((s.name, s.kind, s.status, kept, cost, trained, " · ".join(x for x in scores if x)))
    title = f"report of pipeline {report.id} ({report.name}): {report.status} · ${report.cost_usd:.4f}"
    table(title, ("stage", "kind", "status", "records", "teacher $", "student", "scores"), rows)


@pipelines_app.command("cancel")
def pipelines_cancel(pipeline_id: str, url: Url = None, api_key: Key = None) -> None:
    """Cancel a pipeline: its running stage's job and the stages to come."""
    with reported(), Client(url, api_key) as client:
        pipeline = client.cancel_pipeline(pipeline_id)
    console.print(f"pipeline {pipeline.id} is {pipeline.status}")


@pipelines_app.command("retry")
def pipelines_retry(
    pipeline_id: str,
    follow: Annotated[bool, typer.Option("--follow/--detach", help="show each stage live until the run ends")] = False,
    url: Url = None,
    api_key: Key = None,
) -> None:
    """Run a failed or cancelled pipeline on from the stage that did not finish."""
    with reported(), Client(url, api_key) as client:
        pipeline = client.retry_pipeline(pipeline_id)
        console.print(f"pipeline {pipeline.id} is {pipeline.status}")
        if follow:
            _follow(client, pipeline.id, None)
