"""`distillery demo`: the whole pipeline on one machine, from nothing to a dataset file.

Starts the embedded stack (SQLite, the SQLAlchemy-transport broker, a real worker
process, the API, and the teacher simulator unless a real teacher is configured), submits
a chain-of-thought labeling job, follows it, downloads the dataset and shuts down.
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import typer

from distillery.cli.stack import free_port, process, wait_http
from distillery.cli.terminal import console, reported
from distillery.client import Client
from distillery.schemas.datasets import export_filename
from distillery.schemas.jobs import JobOut
from distillery.schemas.status import JobStatus
from distillery.settings import get_settings


def arithmetic_seeds(count: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    seeds = []
    for i in range(count):
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 12)
        op = rng.choice(["+", "-", "*"])
        expression = f"({a} {op} {b}) * {c}"
        value = {"+": a + b, "-": a - b, "*": a * b}[op] * c
        seeds.append({"id": f"arith-{i}", "instruction": f"What is {expression}?", "answer": str(value)})
    return seeds


def demo(
    items: int = typer.Option(40, min=1, max=10_000, help="seed questions to label"),
    timeout_s: float = typer.Option(110.0, help="give up after this many seconds"),
) -> None:
    """Run the embedded stack end to end on a sample CoT labeling job."""
    from distillery.db.migrate import upgrade
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key
    from distillery.settings import DemoSettings

    settings, real_teacher = get_settings(), DemoSettings()
    data_dir = settings.data_dir.resolve()
    logs = data_dir / "logs"
    env = {"DISTILLERY_DATA_DIR": str(data_dir)}
    console.print(f"[bold]Distillery demo[/] · data in {data_dir}")
    upgrade()
    with unit_of_work() as session:
        api_key = create_key(session, "demo")

    with ExitStack() as stack:
        teacher: dict[str, Any]
        if real_teacher.teacher_base_url:
            key = real_teacher.teacher_api_key
            teacher = {
                "name": f"demo-{int(time.time())}",
                "base_url": real_teacher.teacher_base_url,
                "model": real_teacher.teacher_model,
                "api_key": key.get_secret_value() if key else None,
                "max_concurrency": 8,
            }
            console.print(f"teacher: {real_teacher.teacher_model} at {real_teacher.teacher_base_url}")
        else:
            sim_port = free_port()
            sim = stack.enter_context(
                process(
                    [
                        "simulate-teacher",
                        "--port",
                        str(sim_port),
                        "--latency-ms",
                        "50",
                        "--wrong-rate",
                        "0.1",
                        "--malformed-rate",
                        "0.05",
                    ],
                    env,
                    logs / "simulator.log",
                )
            )
            wait_http(f"http://127.0.0.1:{sim_port}/v1/models", proc=sim)
            # Teachers on loopback are refused unless listed (the SSRF guard): list this one.
            allowed = [settings.teacher_url_allowlist, f"127.0.0.1:{sim_port}"]
            env["DISTILLERY_TEACHER_URL_ALLOWLIST"] = ",".join(a for a in allowed if a)
            teacher = {
                "name": f"simulator-{sim_port}",
                "base_url": f"http://127.0.0.1:{sim_port}/v1",
                "model": "sim-teacher-1",
                "max_concurrency": 16,
                "input_price_per_mtok": 0.15,
                "output_price_per_mtok": 0.60,
            }
            console.print(f"teacher: the built-in simulator on port {sim_port}")
        stack.enter_context(
            process(["worker", "--concurrency", "2", "--loglevel", "WARNING"], env, logs / "worker.log")
        )
        api_port = free_port()
        api = stack.enter_context(process(["serve", "--port", str(api_port)], env, logs / "api.log"))
        base = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base}/healthz", proc=api)
        with reported(), Client(base, api_key) as client:
            client.create_teacher(teacher)
            job = client.submit_job(
                {
                    "name": "demo-arithmetic-cot",
                    "teacher": teacher["name"],
                    "method": "label",
                    "skill": {
                        "name": "arithmetic",
                        "description": "Evaluate integer arithmetic expressions exactly.",
                        "reasoning": "cot",
                    },
                    "seeds": arithmetic_seeds(items),
                    "params": {"temperature": 0.0, "max_tokens": 512},
                }
            )
            console.print(f"submitted job {job.id} ({items} items); logs in {logs}")
            _report(client, client.wait(job.id, timeout_s=timeout_s, progress=True), data_dir)


def _report(client: Client, job: JobOut, data_dir: Path) -> None:
    if job.status != JobStatus.SUCCEEDED or job.dataset_id is None:
        console.print(f"[red]job {job.status}[/]: {job.error}")
        raise typer.Exit(1)
    dataset = client.get_dataset(job.dataset_id)
    out = data_dir / "exports" / export_filename(dataset.name, dataset.version, "openai-chat", "jsonl")
    client.download_dataset(dataset.id, out)
    lines = len(out.read_bytes().splitlines())
    graded = [
        r.scores["matches_gold"]
        for r in client.iter_job_records(job.id, status="accepted")
        if "matches_gold" in r.scores
    ]
    p, u = job.progress, job.usage
    console.print(
        f"[green]job succeeded[/]: {p.accepted} accepted, {p.rejected} rejected, {p.failed} failed of {p.total}"
    )
    for reason, count in dataset.stats.get("reject_reasons", {}).items():
        console.print(f"  rejected: {reason} × {count}")
    if graded:
        console.print(f"  teacher agreed with the gold answer on {sum(graded)}/{len(graded)} accepted records")
    console.print(f"  usage: {u.requests} requests, {u.prompt_tokens}+{u.completion_tokens} tokens, ${u.cost_usd:.5f}")
    console.print(f"dataset {dataset.id} v{dataset.version}: {lines} records written to")
    console.print(str(out))
