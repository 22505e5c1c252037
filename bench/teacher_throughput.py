"""Teacher throughput through the real stack: API (HTTP) → Postgres → Redis → 2 worker
processes → simulator. Prints figures; asserts nothing.

    python bench/teacher_throughput.py [--items 2000] [--skip-unthrottled]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and Redis on 127.0.0.1:6379, as the tests.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.cli.stack import free_port, process, wait_http  # noqa: E402

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def fresh_database() -> str:
    name = "distillery_bench"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def run(label: str, items: int, sim_flags: list[str], rpm: int | None, logs: Path) -> None:
    import redis

    env = {
        "DISTILLERY_DATABASE_URL": fresh_database(),
        "DISTILLERY_BROKER_URL": "redis://127.0.0.1:6379/12",
        "DISTILLERY_DATA_DIR": tempfile.mkdtemp(prefix="distillery-bench-"),
        "DISTILLERY_SECRET_KEY": secrets.token_urlsafe(32),
        **{k: v for k, v in os.environ.items() if k == "DISTILLERY_CHUNK_SIZE"},
    }
    redis.Redis.from_url(env["DISTILLERY_BROKER_URL"]).flushdb()
    os.environ.update(env)
    from app.db.migrate import upgrade
    from app.db.session import reset_engine, unit_of_work
    from app.security.api_keys import create_key
    from app.settings import get_settings

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
        stack.enter_context(process(worker_cmd, env, logs / "worker.log"))
        api = stack.enter_context(process(["serve", "--port", str(api_port)], env, logs / "api.log"))
        wait_http(f"http://127.0.0.1:{sim_port}/healthz", proc=sim)
        wait_http(f"http://127.0.0.1:{api_port}/healthz", proc=api)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {key}"}, timeout=60
        )
        teacher: dict[str, Any] = {
            "name": "sim",
            "base_url": f"http://127.0.0.1:{sim_port}/v1",
            "model": "sim-teacher-1",
            "max_concurrency": 64,
        }
        if rpm:
            teacher["rpm"] = rpm
        client.post("/v1/teachers", json=teacher).raise_for_status()
        seeds = [{"instruction": f"What is {i} * 7 + {i % 13}?"} for i in range(items)]
        started = time.monotonic()
        job = client.post(
            "/v1/jobs",
            json={
                "name": "bench",
                "teacher": "sim",
                "method": "label",
                "skill": {"name": "arithmetic", "reasoning": "cot"},
                "seeds": seeds,
            },
        ).json()
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.1)
            job = client.get(f"/v1/jobs/{job['id']}").json()
        elapsed = time.monotonic() - started
        stats = httpx.get(f"http://127.0.0.1:{sim_port}/sim/stats").json()

    progress = job["progress"]
    rate = progress["completed"] / elapsed
    too_many = stats["status_counts"].get("429", 0)
    print(f"\n== {label}")
    print(f"job {job['status']}: {progress['completed']}/{items} items completed in {elapsed:.1f}s")
    print(f"  records/s end to end:        {rate:.1f}")
    stamps = {k: datetime.fromisoformat(job[k]) for k in ("created_at", "started_at", "finished_at")}
    print(
        f"  time: created→planned {(stamps['started_at'] - stamps['created_at']).total_seconds():.2f}s,"
        f" planned→finished {(stamps['finished_at'] - stamps['started_at']).total_seconds():.2f}s"
    )
    if rpm:
        print(f"  share of the rate limit:     {100 * rate / (rpm / 60):.1f}%  (limit {rpm} rpm)")
    print(f"  429s per 100 requests:       {100 * too_many / max(stats['requests'], 1):.2f}")
    print(
        f"  teacher requests per item:   {stats['completions'] / max(progress['accepted'], 1):.2f} paid,"
        f" {stats['requests'] / max(progress['completed'], 1):.2f} sent"
    )
    print(
        f"  items completed:             {100 * progress['completed'] / items:.1f}%"
        f"  (accepted {progress['accepted']}, rejected {progress['rejected']}, failed {progress['failed']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--skip-limited", action="store_true")
    parser.add_argument("--skip-unthrottled", action="store_true")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="distillery-bench-logs-"))
    print(f"logs in {logs}")
    if not args.skip_limited:
        limited = ["--latency-ms", "200", "--rpm", "3000"]
        run("rate-limited: 200 ms latency, 3000 rpm", args.items, limited, 3000, logs)
        run("rate-limited with 5% injected 5xx", args.items, [*limited, "--error-rate", "0.05"], 3000, logs)
    if not args.skip_unthrottled:
        run("unthrottled: 50 ms latency, no limit", args.items, ["--latency-ms", "50"], None, logs)


if __name__ == "__main__":
    main()
