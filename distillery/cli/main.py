"""`distillery` commands. Each is a thin edge over the same code the API and workers use."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

import distillery
from distillery.cli import client_commands, pipeline_commands
from distillery.cli.demo import demo
from distillery.security.scrub import install_log_filter
from distillery.settings import get_settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Distillery: black-box knowledge distillation of LLMs."
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
keys_app = typer.Typer(no_args_is_help=True, help="Tenant API keys.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(client_commands.jobs_app, name="jobs")
app.add_typer(client_commands.datasets_app, name="datasets")
app.add_typer(client_commands.teachers_app, name="teachers")
app.add_typer(client_commands.train_app, name="train")
app.add_typer(pipeline_commands.pipelines_app, name="pipelines")
app.command()(demo)
app.command("run")(pipeline_commands.run)


def _version(asked: bool) -> None:
    if asked:
        typer.echo(f"distillery {distillery.__version__}")
        raise typer.Exit()


@app.callback()
def _every_command(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Every command's log lines are scrubbed of secrets; `--version` answers before any command."""
    install_log_filter()


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the REST API."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from distillery.observability import http_metrics
    from distillery.observability.json_logs import uvicorn_config

    settings = get_settings()
    log_config = uvicorn_config() if settings.log_format == "json" else LOGGING_CONFIG
    if workers > 1:
        # One directory per server, emptied: the counts start at zero with it.
        shared = (settings.data_dir / "http-metrics" / str(port)).resolve()
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir(parents=True)
        os.environ[http_metrics.MULTIPROCESS_DIR] = str(shared)
    uvicorn.run(
        "distillery.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        log_config=log_config,
    )


@app.command()
def worker(
    queues: str = typer.Option("synthesis", help="comma-separated queues to consume"),
    concurrency: int = typer.Option(2, min=1, help="worker processes"),
    beat: bool = typer.Option(True, help="also run the lease reaper schedule (one per deployment is enough)"),
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker (real processes; the embedded broker works too)."""
    from distillery.workers.celery_app import app as celery

    argv = [
        "worker",
        f"--queues={queues}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv += ["--beat", f"--schedule={get_settings().data_dir.resolve() / 'beat-schedule'}"]
    celery.worker_main(argv)


@app.command("train-worker")
def train_worker(loglevel: str = "INFO") -> None:
    """Run a training worker: the `training` queue only, one job at a time (one per GPU)."""
    try:
        import distillery.workers.training.tasks  # noqa: F401  torch and TRL load once, before the pool forks
    except ImportError as exc:
        typer.echo(f"the training worker needs the `train` extra (pip install 'distillery[train]'): {exc}", err=True)
        raise typer.Exit(1) from exc
    from distillery.workers.celery_app import app as celery

    celery.conf.include = [*celery.conf.include, "distillery.workers.training.tasks"]
    # A fresh child process per job: all of a finished job's GPU memory goes back.
    argv = ["worker", "--queues=training", "--concurrency=1", "--max-tasks-per-child=1", "--hostname=training@%h"]
    celery.worker_main([*argv, f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"])


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to DISTILLERY_DATABASE_URL (default: the embedded SQLite file)."""
    from distillery.db.migrate import upgrade

    upgrade()
    typer.echo("database is at the latest schema")


@keys_app.command("create")
def keys_create(tenant: str = typer.Option(..., help="tenant name; created if new")) -> None:
    """Create an API key for a tenant. The key is printed once, alone on the last line."""
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key

    with unit_of_work() as session:
        key = create_key(session, tenant)
    typer.echo(f"API key for tenant '{tenant}' (store it now; it is not shown again):", err=True)
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(prefix: str = typer.Argument(..., help="the key's first 8 characters")) -> None:
    """Revoke the keys that start with PREFIX."""
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import revoke_key

    with unit_of_work() as session:
        count = revoke_key(session, prefix)
    typer.echo(f"revoked {count} key(s)")
    if count == 0:
        raise typer.Exit(1)


@app.command("simulate-teacher")
def simulate_teacher(
    host: str = "127.0.0.1",
    port: int = 9100,
    latency_ms: float = typer.Option(0.0, min=0),
    rpm: int | None = typer.Option(None, min=1),
    tpm: int | None = typer.Option(None, min=1),
    error_rate: float = typer.Option(0.0, min=0.0, max=1.0),
    flagged_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="share of requests refused 400 as flagged"),
    wrong_rate: float = typer.Option(0.0, min=0.0, max=1.0),
    malformed_rate: float = typer.Option(0.0, min=0.0, max=1.0),
    refusal_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="share of answers that are a short refusal"),
    limit_headers: bool = typer.Option(True, help="send x-ratelimit-* headers, as OpenAI does"),
    storm_after: int | None = typer.Option(None, min=0, help="after N requests, answer only 429s for --storm-s"),
    storm_s: float = typer.Option(2.0, min=0.001),
    throttle_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="share of requests answered 429 at random"),
    throttle_retry_after_s: float = typer.Option(0.2, min=0.0, help="the Retry-After of those 429s"),
    hang_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="share of requests held --hang-s before an answer"),
    hang_s: float = typer.Option(30.0, min=0.0),
    batch_delay_s: float = typer.Option(1.0, min=0.0, help="seconds a batch waits in_progress before it is answered"),
    reply_styles: str = typer.Option(
        "project", help="project: 'Answer: X' and bare JSON; mixed: the answer styles real teachers use"
    ),
    api_key: str | None = typer.Option(None, help="the only key accepted; any other gets a 401 quoting it"),
    seed: int = 0,
    model: str = "sim-teacher-1",
) -> None:
    """Run the OpenAI-compatible teacher simulator (the teacher of the demo and tests)."""
    from distillery_simulator import SimulatorConfig
    from distillery_simulator import serve as serve_simulator

    config = SimulatorConfig(
        latency_ms=latency_ms,
        rpm=rpm,
        tpm=tpm,
        error_rate=error_rate,
        flagged_rate=flagged_rate,
        wrong_rate=wrong_rate,
        malformed_rate=malformed_rate,
        refusal_rate=refusal_rate,
        limit_headers=limit_headers,
        storm_after=storm_after,
        storm_s=storm_s,
        throttle_rate=throttle_rate,
        throttle_retry_after_s=throttle_retry_after_s,
        hang_rate=hang_rate,
        hang_s=hang_s,
        batch_delay_s=batch_delay_s,
        reply_styles=reply_styles,
        api_key=api_key,
        seed=seed,
        model=model,
    )
    serve_simulator(config, host, port)
