"""Teacher throughput through the real stack: API (HTTP) → Postgres → Redis → worker
processes → simulator, timed from job creation to the finished dataset. Each scenario also
runs the ideal pacer (and, with --peers, other distillation tools) against the same
simulator in the same run, and prints Distillery's rate as a ratio to each. Prints
figures; asserts nothing.

    python bench/teacher_throughput.py [--items 1000] [--workers 2|4] [--peers] [--rpm-set]
        [--reply-styles mixed] [--unknown-limit] [--skip-limited] [--skip-unthrottled]
    python bench/teacher_throughput.py --items 100000 --skip-limited   # seeds from an upload
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import peer_runs
from pacer import pace
from probes import ProgressTrace, deadlocks, rss_mb
from stack import UPLOAD_ABOVE, Stack, prompts, running_stack

LIMIT_RPM = 3000
UNTHROTTLED_RPM_SET = 1_000_000
CONCURRENCY = 64  # the teacher's max_concurrency, and every peer's concurrency limit
SETTLE_S = 5.0  # the workers finish booting before anything is timed (2 cores are shared)


@dataclass(frozen=True)
class Scenario:
    label: str
    sim_flags: list[str]
    teacher_rpm: int | None  # what Distillery and the peers are told
    limited: bool  # the simulator enforces LIMIT_RPM (the ideal pacer is always told it)
    latency_s: float


@dataclass(frozen=True)
class Rate:
    name: str
    items: int
    seconds: float
    too_many: int  # 429s the simulator answered
    note: str = ""

    @property
    def per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def run_distillery(stack: Stack, scenario: Scenario, items: int, name: str) -> Rate:
    client = stack.client
    stack.reset_simulator()
    teacher: dict[str, Any] = {
        "name": name,
        "base_url": stack.simulator_url,
        "model": "sim-teacher-1",
        "max_concurrency": CONCURRENCY,
    }
    if scenario.teacher_rpm:
        teacher["rpm"] = scenario.teacher_rpm
    client.post("/v1/teachers", json=teacher).raise_for_status()
    spec: dict[str, Any] = {
        "name": name,
        "teacher": name,
        "method": "label",
        "skill": {"name": "arithmetic", "reasoning": "cot"},
    }
    spec.update(stack.seeds(items))
    rss_start = {"workers": sum(rss_mb(w.proc.pid) for w in stack.workers if w.proc), "api": rss_mb(stack.api.pid)}
    deadlocks_before = deadlocks(stack.database)
    trace = ProgressTrace(items)
    started = time.monotonic()
    job = client.post("/v1/jobs", json=spec, timeout=600).json()
    answered_s = time.monotonic() - started
    if "id" not in job:
        raise RuntimeError(f"the job was not created: {job}")
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.1)
        job = client.get(f"/v1/jobs/{job['id']}").json()
        trace.add(job["progress"]["completed"])
    elapsed = time.monotonic() - started
    rss_end = {"workers": sum(rss_mb(w.proc.pid) for w in stack.workers if w.proc), "api": rss_mb(stack.api.pid)}
    stats = stack.simulator_stats()
    time.sleep(1.0)  # pg_stat_database lags up to a second
    found_deadlocks = deadlocks(stack.database) - deadlocks_before

    progress = job["progress"]
    stamps = {k: datetime.fromisoformat(job[k]) for k in ("created_at", "started_at", "finished_at") if job[k]}
    print(f"  Distillery job {job['status']}: {progress['completed']}/{items} completed in {elapsed:.1f}s")
    if len(stamps) == 3:
        print(
            f"    POST /v1/jobs answered in {answered_s:.2f}s,"
            f" created→planned {(stamps['started_at'] - stamps['created_at']).total_seconds():.2f}s,"
            f" planned→finished {(stamps['finished_at'] - stamps['started_at']).total_seconds():.2f}s"
        )
    first, last = trace.first_tenth_rate(), trace.last_tenth_rate()
    print(
        "    records/s in the first 10%: "
        + (f"{first:.1f}" if first else "n/a (within one poll)")
        + ", in the last 10%: "
        + (f"{last:.1f}" if last else "n/a (within one poll)")
    )
    print(
        f"    memory (PSS) MiB: workers {rss_start['workers']:.0f} → {rss_end['workers']:.0f},"
        f" API {rss_start['api']:.0f} → {rss_end['api']:.0f}"
    )
    print(
        f"    teacher requests per item: {stats['completions'] / max(progress['accepted'], 1):.2f} paid,"
        f" {stats['requests'] / max(progress['completed'], 1):.2f} sent;"
        f" accepted {progress['accepted']}, rejected {progress['rejected']}, failed {progress['failed']}"
    )
    print(f"    Postgres deadlocks during the run: {found_deadlocks}")
    too_many = int(stats["status_counts"].get("429", 0))
    return Rate("Distillery", progress["completed"], elapsed, too_many, f"{found_deadlocks} deadlocks")


def run_pacer(stack: Stack, scenario: Scenario, items: int) -> Rate:
    stack.reset_simulator()
    rpm = LIMIT_RPM if scenario.limited else scenario.teacher_rpm
    result = pace(stack.simulator_url, prompts(items), rpm, CONCURRENCY)
    too_many = int(stack.simulator_stats()["status_counts"].get("429", 0))
    return Rate("ideal pacer", result.items, result.seconds, too_many, f"{result.requests} requests")


def run_peer(stack: Stack, scenario: Scenario, items: int, peer: str, logs: Path) -> Rate | str:
    stack.reset_simulator()
    outcome = peer_runs.run(
        peer, stack.simulator_url, prompts(items), scenario.teacher_rpm, CONCURRENCY, scenario.latency_s, logs
    )
    if isinstance(outcome, str):
        return outcome
    too_many = int(stack.simulator_stats()["status_counts"].get("429", 0))
    return Rate(peer, outcome.items, outcome.seconds, too_many, outcome.note)


def run_scenario(scenario: Scenario, args: argparse.Namespace, logs: Path) -> None:
    print(f"\n== {scenario.label}: {args.items} items, {args.workers} workers", flush=True)
    sim_flags = [*scenario.sim_flags, "--reply-styles", args.reply_styles]
    rates: list[Rate] = []
    failed: dict[str, str] = {}
    with running_stack(sim_flags, logs, database=args.database, workers=args.workers) as stack:
        time.sleep(SETTLE_S)
        if scenario.limited or not args.skip_pacer:
            rates.append(run_pacer(stack, scenario, args.items))
        for peer in args.peers:
            outcome = run_peer(stack, scenario, args.items, peer, logs)
            if isinstance(outcome, str):
                failed[peer] = outcome
            else:
                rates.append(outcome)
        ours = run_distillery(stack, scenario, args.items, f"sim-{len(rates)}")
    print(f"  {'':<14}{'items/s':>9}{'429s':>7}  {'Distillery ÷ it':>15}  note")
    for rate in [*rates, ours]:
        ratio = f"{ours.per_s / rate.per_s:.3f}" if rate is not ours and rate.per_s else ""
        print(f"  {rate.name:<14}{rate.per_s:>9.1f}{rate.too_many:>7}  {ratio:>15}  {rate.note}")
    if scenario.limited:
        print(f"  the limit       {LIMIT_RPM / 60:>7.1f}/s        {ours.per_s / (LIMIT_RPM / 60):>15.3f}")
    for peer, reason in failed.items():
        print(f"  {peer}: did not run: {reason}")


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    found: list[Scenario] = []
    if not args.skip_limited:
        limited = ["--latency-ms", "200", "--rpm", str(LIMIT_RPM)]
        found.append(Scenario(f"rate-limited: 200 ms latency, {LIMIT_RPM} rpm", limited, LIMIT_RPM, True, 0.2))
        found.append(
            Scenario("rate-limited with 5% injected 5xx", [*limited, "--error-rate", "0.05"], LIMIT_RPM, True, 0.2)
        )
        if args.unknown_limit:
            label = f"rate-limited at {LIMIT_RPM} rpm, told to no client (no rpm set, no limit headers)"
            found.append(Scenario(label, [*limited, "--no-limit-headers"], None, True, 0.2))
    if not args.skip_unthrottled:
        found.append(Scenario("unthrottled: 50 ms latency, no rpm", ["--latency-ms", "50"], None, False, 0.05))
        if args.rpm_set:
            label = f"unthrottled: 50 ms latency, teacher rpm set to {UNTHROTTLED_RPM_SET:,}"
            found.append(Scenario(label, ["--latency-ms", "50"], UNTHROTTLED_RPM_SET, False, 0.05))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000, help=f"above {UPLOAD_ABOVE:,} the seeds are uploaded")
    parser.add_argument("--workers", type=int, default=2, help="`distillery worker` processes")
    parser.add_argument(
        "--peers",
        nargs="*",
        choices=sorted(peer_runs.PEERS),
        help="also run these tools (all when the flag has no names), each in a virtualenv of its own",
    )
    parser.add_argument(
        "--rpm-set", action="store_true", help=f"also unthrottled with the rpm set to {UNTHROTTLED_RPM_SET:,}"
    )
    parser.add_argument(
        "--unknown-limit", action="store_true", help="also the rate-limited run with the limit told to no client"
    )
    parser.add_argument("--reply-styles", choices=["project", "mixed"], default="project")
    parser.add_argument("--skip-limited", action="store_true")
    parser.add_argument("--skip-unthrottled", action="store_true")
    parser.add_argument("--skip-pacer", action="store_true", help="no pacer in the unthrottled scenarios")
    parser.add_argument("--database", default="distillery_bench_throughput")
    args = parser.parse_args()
    if args.peers is None:
        args.peers = []
    elif not args.peers:
        args.peers = sorted(peer_runs.PEERS)
    logs = Path(tempfile.mkdtemp(prefix="distillery-bench-logs-"))
    print(f"logs in {logs}")
    for peer in args.peers:
        peer_runs.ensure(peer, logs)
    for scenario in scenarios(args):
        run_scenario(scenario, args, logs)


if __name__ == "__main__":
    main()
