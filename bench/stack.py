"""The real stack for benchmarks: a fresh Postgres database, Redis, the simulator, worker
processes and the API over HTTP. Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and
Redis on 127.0.0.1:6379, as the tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from distillery.cli.stack import free_port, process, spawn, stop, wait_http  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
UPLOAD_ABOVE = 10_000  # more items than this: a job's seeds come from an uploaded dataset


def prompts(items: int) -> list[str]:
    return [f"What is {i} * 7 + {i % 13}?" for i in range(items)]


@dataclass
class Worker:
    """A `distillery worker` process that a benchmark may kill (SIGKILL) and start again."""

    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = spawn(self.args, self.env, self.log)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


@dataclass(frozen=True)
class Stack:
    client: httpx.Client  # the API, with a tenant's key
    simulator_url: str  # ends in /v1
    workers: list[Worker]
    api: subprocess.Popen[bytes]
    database: str  # the database's name, for pg_stat_database
    key: str  # the tenant's API key

    def simulator_stats(self) -> dict:
        return httpx.get(self.simulator_url.removesuffix("/v1") + "/sim/stats").json()

    def reset_simulator(self) -> None:
        """Zero the simulator's counters and refill its rate limiter: a fresh teacher for the next run."""
        httpx.post(self.simulator_url.removesuffix("/v1") + "/sim/reset").raise_for_status()

    def seeds(self, items: int) -> dict[str, Any]:
        """A label job's seeds: inline, or above UPLOAD_ABOVE an uploaded dataset it reads."""
        if items <= UPLOAD_ABOVE:
            return {"seeds": [{"instruction": p} for p in prompts(items)]}
        lines = "".join(json.dumps({"id": f"s{i}", "instruction": p}) + "\n" for i, p in enumerate(prompts(items)))
        response = self.client.post(
            "/v1/datasets/upload",
            files={"file": ("seeds.jsonl", lines.encode(), "application/jsonl")},
            data={"purpose": "seeds", "name": "bench-seeds"},
            timeout=600,
        )
        response.raise_for_status()
        return {"source_dataset": str(response.json()["id"])}


def fresh_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@contextmanager
def running_stack(
    sim_flags: list[str],
    logs: Path,
    *,
    database: str = "distillery_bench",
    broker_url: str | None = None,
    workers: int = 1,
    api_workers: int = 1,
    train_worker: bool = False,
    env_extra: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """The stack with `workers` worker processes (the first runs the reapers' beat), a
    `train-worker` if asked, and an API of `api_workers` uvicorn processes, on the shared
    Redis' db $BENCH_REDIS_DB (12 unless set; flushed first) or on `broker_url`, a broker of
    the caller's own."""
    import redis

    redis_db = int(os.environ.get("BENCH_REDIS_DB", "12"))
    env = {
        "DISTILLERY_DATABASE_URL": fresh_database(database),
        "DISTILLERY_BROKER_URL": broker_url or f"redis://127.0.0.1:6379/{redis_db}",
        "DISTILLERY_DATA_DIR": tempfile.mkdtemp(prefix="distillery-bench-"),
        "DISTILLERY_SECRET_KEY": secrets.token_urlsafe(32),
        # The simulator runs on loopback, which the SSRF guard refuses unless listed.
        "DISTILLERY_TEACHER_URL_ALLOWLIST": "127.0.0.1",
        **{k: v for k, v in os.environ.items() if k == "DISTILLERY_CHUNK_SIZE"},
        **(env_extra or {}),
    }
    if broker_url is None:
        redis.Redis.from_url(env["DISTILLERY_BROKER_URL"]).flushdb()
    os.environ.update(env)
    from distillery.db.migrate import upgrade
    from distillery.db.session import reset_engine, unit_of_work
    from distillery.security.api_keys import create_key
    from distillery.settings import get_settings

    get_settings.cache_clear()
    reset_engine()
    upgrade()
    with unit_of_work() as session:
        key = create_key(session, "bench")

    with ExitStack() as stack:
        sim_port, api_port = free_port(), free_port()
        sim_cmd = ["simulate-teacher", "--port", str(sim_port), *sim_flags]
        sim = stack.enter_context(process(sim_cmd, env, logs / "sim.log"))
        worker_cmd = ["worker", "--concurrency", os.environ.get("BENCH_CONCURRENCY", "2"), "--loglevel", "WARNING"]
        pool = [
            Worker([*worker_cmd, *(["--no-beat"] if i else [])], env, logs / f"worker-{i}.log") for i in range(workers)
        ]
        for worker in pool:
            worker.start()
            stack.callback(worker.stop)
        if train_worker:
            stack.enter_context(process(["train-worker", "--loglevel", "WARNING"], env, logs / "train-worker.log"))
        api = stack.enter_context(
            process(["serve", "--port", str(api_port), "--workers", str(api_workers)], env, logs / "api.log")
        )
        wait_http(f"http://127.0.0.1:{sim_port}/healthz", proc=sim)
        wait_http(f"http://127.0.0.1:{api_port}/healthz", proc=api)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        yield Stack(client, f"http://127.0.0.1:{sim_port}/v1", pool, api, database, key)
