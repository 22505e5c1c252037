"""Budgets against an expensive teacher at high concurrency: how far spend goes past
`max_cost_usd`, counted from the simulator's own token counts. Prints figures; asserts
nothing.

    python bench/budgets.py [--caps 0.5 2 5] [--concurrency 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from stack import running_stack

# An expensive teacher (o1-class list prices per million tokens).
INPUT_PRICE, OUTPUT_PRICE = 15.0, 60.0
MAX_TOKENS = 512


def run(cap: float, concurrency: int, workers: int, logs: Path) -> None:
    with running_stack(["--latency-ms", "300"], logs, workers=workers) as stack:
        client = stack.client
        teacher = {
            "name": "pricey",
            "base_url": stack.simulator_url,
            "model": "sim-teacher-1",
            "max_concurrency": concurrency,
            "input_price_per_mtok": INPUT_PRICE,
            "output_price_per_mtok": OUTPUT_PRICE,
        }
        client.post("/v1/teachers", json=teacher).raise_for_status()
        seeds = [{"instruction": f"What is {i} * 17 + {i % 11}?"} for i in range(4000)]
        job = client.post(
            "/v1/jobs",
            json={
                "name": "budget",
                "teacher": "pricey",
                "method": "label",
                "skill": {"name": "arithmetic", "reasoning": "cot"},
                "seeds": seeds,
                "params": {"max_tokens": MAX_TOKENS, "chunk_size": 64},
                "budget": {"max_cost_usd": cap},
            },
        ).json()
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.2)
            job = client.get(f"/v1/jobs/{job['id']}").json()
        stats = stack.simulator_stats()
    spent = (stats["prompt_tokens"] * INPUT_PRICE + stats["completion_tokens"] * OUTPUT_PRICE) / 1e6
    worst = (200 * INPUT_PRICE + MAX_TOKENS * OUTPUT_PRICE) / 1e6
    print(
        f"cap ${cap:.2f}: teacher paid ${spent:.4f} for {stats['completions']} replies"
        f" ({spent / cap:.3f}x the cap; over by {max(0.0, spent - cap) / worst:.2f} worst-case requests"
        f" of ${worst:.4f}); the job reports ${job['usage']['cost_usd']:.4f}; {job['status']}: {job['stop_reason']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--caps", type=float, nargs="+", default=[0.5, 2.0, 5.0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="distillery-bench-logs-"))
    print(f"logs in {logs}; {args.workers} workers, teacher concurrency {args.concurrency}")
    for cap in args.caps:
        run(cap, args.concurrency, args.workers, logs)


if __name__ == "__main__":
    main()
