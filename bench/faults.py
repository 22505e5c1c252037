"""Reliability under faults, through the real stack (API over HTTP, Postgres, two worker
processes, the simulator): a label job runs while one of the workers is killed (SIGKILL)
every few seconds and started again, with the teacher answering 5% of requests with a
5xx and 5% with a 429; then the same job with no faults. Prints figures; asserts nothing.

    python bench/faults.py [--items 1000] [--kill-every 10]

The broker is a redis-server of its own on a free port (needs `redis-server` on PATH);
Postgres is the one on 127.0.0.1:5432, as for the tests.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack import Stack, running_stack

# The teacher's pace (the gateway keeps to it) and its speed: slow enough that the
# clean job takes about a minute, so several kills land in the faulty one.
RPM = 1200
SIM = ["--latency-ms", "200"]
FAULTS = ["--error-rate", "0.05", "--throttle-rate", "0.05"]
# Short leases, so what a killed worker held is re-run within half a minute (300 s by default).
ENV = {"DISTILLERY_LEASE_SECONDS": "20"}


@dataclass
class Run:
    label: str
    job: dict[str, Any]
    stats: dict[str, Any]
    records: list[dict[str, Any]]
    wall_s: float
    kills: int


def run_job(label: str, items: int, sim_flags: list[str], kill_every: float | None, logs: Path) -> Run:
    from tests.support.redis_server import redis_server

    with (
        redis_server(logs / f"redis-{label}.log") as broker,
        running_stack(
            sim_flags, logs / label, database="distillery_bench_faults", broker_url=broker.url, workers=2, env_extra=ENV
        ) as stack,
    ):
        client = stack.client
        teacher = {"name": "sim", "base_url": stack.simulator_url, "model": "sim-teacher-1", "rpm": RPM}
        client.post("/v1/teachers", json={**teacher, "max_concurrency": 16}).raise_for_status()
        seeds = [{"id": f"s{i}", "instruction": f"What is {i} * 7 + {i % 13}?"} for i in range(items)]
        spec = {"name": label, "teacher": "sim", "method": "label", "skill": {"name": "arithmetic"}, "seeds": seeds}
        started = time.monotonic()
        job = client.post("/v1/jobs", json=spec).json()
        kills = 0
        next_kill = started + kill_every if kill_every else float("inf")
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            if time.monotonic() >= next_kill:
                kill_and_restart(stack, kills)
                kills += 1
                next_kill += kill_every or 0
            time.sleep(0.2)
            job = client.get(f"/v1/jobs/{job['id']}").json()
        wall_s = time.monotonic() - started
        return Run(label, job, stack.simulator_stats(), all_records(stack, job["id"]), wall_s, kills)


def kill_and_restart(stack: Stack, kills: int) -> None:
    """SIGKILL the two workers in turn (the other keeps going), each started again at once."""
    worker = stack.workers[kills % len(stack.workers)]
    worker.kill()
    worker.start()


def all_records(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = stack.client.get(f"/v1/jobs/{job_id}/records", params={"limit": 500, "offset": offset}).json()
        out += page["data"]
        offset = page["next_offset"]
    return out


def report(run: Run, items: int, clean: Run | None = None) -> None:
    job, stats, progress, usage = run.job, run.stats, run.job["progress"], run.job["usage"]
    per_item = Counter(r["seed_ids"][0] for r in run.records)
    duplicated = sum(n - 1 for n in per_item.values() if n > 1)
    statuses = stats["status_counts"]
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    print(f"\n== {run.label}")
    print(f"job {job['status']}: {progress['completed']}/{items} items completed ({len(per_item)} distinct)")
    print(f"  records duplicated:          {duplicated}  ({len(run.records)} records)")
    print(f"  accepted/rejected/failed:    {progress['accepted']}/{progress['rejected']}/{progress['failed']}")
    print(f"  workers killed:              {run.kills}")
    print(
        f"  teacher requests per item:   {stats['requests'] / items:.3f} sent, {stats['completions'] / items:.3f} paid"
    )
    print(
        f"  replies paid twice:          {stats['repeated_replies']}"
        f"  (distinct requests {stats['distinct_requests']}, duplicated {stats['duplicate_requests']})"
    )
    print(f"  teacher answered:            {server_errors} 5xx, {statuses.get('429', 0)} 429s")
    print(f"  job usage:                   {usage['requests']} requests, {usage['cached_requests']} from the cache")
    line = f"  wall time:                   {run.wall_s:.1f}s"
    if clean is not None:
        line += f"  ({run.wall_s / clean.wall_s:.2f}x the clean run's {clean.wall_s:.1f}s)"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between worker kills")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="distillery-bench-faults-"))
    print(f"logs in {logs}")
    clean = run_job("clean", args.items, SIM, None, logs)
    report(clean, args.items)
    faulty = run_job("faults", args.items, [*SIM, *FAULTS], args.kill_every, logs)
    report(faulty, args.items, clean)


if __name__ == "__main__":
    main()
