"""API load: concurrent clients (bare keep-alive HTTP on asyncio) read `GET /v1/jobs` and `GET /v1/jobs/{id}`
in turn for a while, with nothing else running ("idle") and while a labeling job runs on the
workers ("job"). Prints requests/s, p50, p99 and errors; asserts nothing. The tenant's own
request rate limit (DISTILLERY_TENANT_RPS, 20/s by default) is off unless --tenant-rps sets it:
the figure wanted is what the API serves, not what one tenant is allowed.

    python bench/api_load.py [--clients 50] [--seconds 30] [--api-workers 1] [--mode idle|job|both]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from probes import rss_mb
from rawhttp import Connection
from stack import Stack, running_stack


async def _load(base_url: str, key: str, job_id: str, clients: int, seconds: float) -> tuple[list[float], Counter[str]]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    paths = ["/v1/jobs", f"/v1/jobs/{job_id}"]
    url = urlsplit(base_url)

    async def client_loop(index: int) -> None:
        connection = Connection(url.hostname or "127.0.0.1", url.port or 80, {"Authorization": f"Bearer {key}"})
        turn = index
        while time.monotonic() < deadline:
            path = paths[turn % 2]
            turn += 1
            started = time.monotonic()
            try:
                status = await connection.request("GET", path)
                error = "" if status == 200 else str(status)
            except (OSError, asyncio.IncompleteReadError) as exc:
                error = type(exc).__name__
            latencies.append(time.monotonic() - started)
            if error:
                errors[error] += 1
        connection.close()

    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    return latencies, errors


def load(stack: Stack, job_id: str, clients: int, seconds: float) -> tuple[list[float], Counter[str]]:
    base_url = str(stack.client.base_url)
    try:
        import uvloop  # the load generator shares the 2 cores: keep its own cost down
    except ImportError:
        return asyncio.run(_load(base_url, stack.key, job_id, clients, seconds))
    return uvloop.run(_load(base_url, stack.key, job_id, clients, seconds))


def create_job(stack: Stack, items: int) -> str:
    spec: dict[str, Any] = {
        "name": f"load-{items}",
        "teacher": "sim",
        "method": "label",
        "skill": {"name": "arithmetic", "reasoning": "cot"},
        **stack.seeds(items),
    }
    response = stack.client.post("/v1/jobs", json=spec, timeout=600)
    response.raise_for_status()
    return str(response.json()["id"])


def wait_finished(stack: Stack, job_id: str) -> dict[str, Any]:
    while True:
        job = stack.client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return dict(job)
        time.sleep(0.2)


def report(label: str, latencies: list[float], errors: Counter[str], seconds: float) -> None:
    ms = sorted(1000 * x for x in latencies)
    p50 = statistics.median(ms) if ms else 0.0
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else 0.0
    print(
        f"  {label}: {len(ms) / seconds:.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms,"
        f" {sum(errors.values())} errors" + (f" {dict(errors)}" if errors else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--api-workers", type=int, default=1, help="uvicorn processes behind `distillery serve`")
    parser.add_argument("--workers", type=int, default=2, help="`distillery worker` processes")
    parser.add_argument("--mode", choices=["idle", "job", "both"], default="both")
    parser.add_argument("--job-items", type=int, default=20_000, help="the job that runs during the 'job' mode")
    parser.add_argument("--tenant-rps", default="0", help="DISTILLERY_TENANT_RPS for the API; 0 is off")
    parser.add_argument("--database", default="distillery_bench_api")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="distillery-bench-logs-"))
    print(f"logs in {logs}")
    print(f"{args.clients} clients, {args.seconds:.0f} s each, API with {args.api_workers} uvicorn worker(s)")
    with running_stack(
        ["--latency-ms", "50"],
        logs,
        database=args.database,
        workers=args.workers,
        api_workers=args.api_workers,
        env_extra={"DISTILLERY_TENANT_RPS": args.tenant_rps},
    ) as stack:
        teacher = {"name": "sim", "base_url": stack.simulator_url, "model": "sim-teacher-1", "max_concurrency": 64}
        stack.client.post("/v1/teachers", json=teacher).raise_for_status()
        # A finished job, so `/v1/jobs` lists something and `/v1/jobs/{id}` has an answer.
        small = create_job(stack, 100)
        wait_finished(stack, small)
        time.sleep(2.0)
        if args.mode in ("idle", "both"):
            latencies, errors = load(stack, small, args.clients, args.seconds)
            report("nothing else running", latencies, errors, args.seconds)
        if args.mode in ("job", "both"):
            big = create_job(stack, args.job_items)
            time.sleep(1.0)  # the job is planned and its chunks are on the workers
            latencies, errors = load(stack, big, args.clients, args.seconds)
            job = stack.client.get(f"/v1/jobs/{big}").json()
            report("while a job runs", latencies, errors, args.seconds)
            print(
                f"    the job: {job['status']}, {job['progress']['completed']}/{args.job_items} completed"
                " when the load stopped"
            )
            stack.client.post(f"/v1/jobs/{big}/cancel")
        print(f"  API memory (PSS): {rss_mb(stack.api.pid):.0f} MiB")


if __name__ == "__main__":
    main()
