"""One job of each elicitation method through the real stack, against a simulator that
errs (wrong answers, malformed replies, refusals) at set rates. Prints, per job, the
records accepted and rejected by reason, the teacher requests and the time. Asserts nothing.

    python bench/methods.py [--seeds 40] [--wrong-rate 0.2] [--malformed-rate 0.1] [--refusal-rate 0.05]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from stack import Stack, running_stack

SKILL = {"name": "arithmetic", "description": "Evaluate arithmetic exactly.", "reasoning": "cot"}
SCHEMA = {"type": "object", "properties": {"result": {"type": "number"}}, "required": ["result"]}


def seeds(n: int) -> list[dict[str, Any]]:
    return [{"id": f"q{i}", "instruction": f"What is {i + 3} * {i + 7} + {i}?"} for i in range(n)]


def jobs(n: int) -> dict[str, dict[str, Any]]:
    document = " ".join(
        f"The {name} river is {100 + 37 * k} kilometres long and flows into the {sea} sea."
        for k, (name, sea) in enumerate([("Avon", "North"), ("Tamar", "Celtic"), ("Severn", "Irish")] * 8)
    )
    # A student's own answers, off by one on every other task.
    pairs = [{**s, "candidates": [f"Answer: {(i + 3) * (i + 7) + i + i % 2}"]} for i, s in enumerate(seeds(n))]
    generators = [{"teacher": "sim", "temperature": 0.0}, {"teacher": "sim", "temperature": 1.0}]
    return {
        "label, self-consistent (k=5)": {
            "method": "label",
            "seeds": seeds(n),
            "params": {"samples_per_item": 5, "temperature": 0.8},
        },
        "expand, Self-Instruct": {"method": "expand", "seeds": seeds(8), "target_count": n},
        "expand, Evol-Instruct (3 rounds)": {
            "method": "expand",
            "seeds": seeds(n // 3),
            "params": {"evol": {"rounds": 3}},
        },
        "curate, topics": {"method": "curate", "topics": ["fractions", "percentages", "prime numbers"]},
        "curate, documents": {
            "method": "curate",
            "documents": [{"id": "rivers", "text": document}],
            "params": {"chunk_chars": 400},
        },
        "label, 3-turn dialogues": {"method": "label", "seeds": seeds(n // 2), "params": {"turns": 3}},
        "feedback, ratings": {"method": "feedback", "seeds": pairs, "params": {"generators": generators}},
        "feedback, pairwise": {
            "method": "feedback",
            "seeds": pairs[: n // 2],
            "params": {"generators": generators, "judge_mode": "pairwise"},
        },
        "label, JSON schema outputs": {
            "method": "label",
            "seeds": seeds(n),
            "skill": {**SKILL, "reasoning": "none", "output_format": "json", "output_schema": SCHEMA},
        },
    }


def run_job(stack: Stack, name: str, spec: dict[str, Any]) -> None:
    client = stack.client
    before = stack.simulator_stats()["requests"]
    started = time.monotonic()
    job = client.post("/v1/jobs", json={"name": "methods", "teacher": "sim", "skill": SKILL, **spec})
    job.raise_for_status()
    job = job.json()
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.2)
        job = client.get(f"/v1/jobs/{job['id']}").json()
    elapsed = time.monotonic() - started
    reasons: Counter[str] = Counter()
    offset: int | None = 0
    while offset is not None:
        page = client.get(f"/v1/jobs/{job['id']}/records", params={"limit": 500, "offset": offset}).json()
        reasons.update(r["reject_reason"] for r in page["data"] if r["status"] != "accepted")
        offset = page["next_offset"]
    progress, usage = job["progress"], job["usage"]
    print(f"\n== {name}: {job['status']} in {elapsed:.1f}s")
    print(f"  accepted {progress['accepted']}, rejected {progress['rejected']}, failed {progress['failed']}")
    if reasons:
        print("  by reason: " + ", ".join(f"{reason} {n}" for reason, n in reasons.most_common()))
    print(
        f"  teacher requests {usage['requests']} (sent {stack.simulator_stats()['requests'] - before}),"
        f" tokens {usage['prompt_tokens']}+{usage['completion_tokens']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--wrong-rate", default="0.2")
    parser.add_argument("--malformed-rate", default="0.1")
    parser.add_argument("--refusal-rate", default="0.05")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="distillery-bench-logs-"))
    print(f"logs in {logs}")
    flags = ["--wrong-rate", args.wrong_rate, "--malformed-rate", args.malformed_rate]
    flags += ["--refusal-rate", args.refusal_rate]
    with running_stack(flags, logs) as stack:
        teacher = {"name": "sim", "base_url": stack.simulator_url, "model": "sim-teacher-1", "max_concurrency": 32}
        teacher["supports_structured_outputs"] = True
        stack.client.post("/v1/teachers", json=teacher).raise_for_status()
        for name, spec in jobs(args.seeds).items():
            run_job(stack, name, spec)


if __name__ == "__main__":
    main()
