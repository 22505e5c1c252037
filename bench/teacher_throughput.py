"""Teacher throughput through the real stack: API (HTTP) → Postgres → Redis → 2 worker
processes → simulator. Prints figures; asserts nothing.

    python bench/teacher_throughput.py [--items 2000] [--skip-unthrottled]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from stack import running_stack


def run(label: str, items: int, sim_flags: list[str], rpm: int | None, logs: Path) -> None:
    with running_stack(sim_flags, logs) as stack:
        client = stack.client
        teacher: dict[str, Any] = {
            "name": "sim",
            "base_url": stack.simulator_url,
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
        stats = stack.simulator_stats()

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
