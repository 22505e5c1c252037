"""Bespoke Curator labels the prompts through the OpenAI-compatible simulator; runs in the
curator virtualenv (bench/peer_runs.py makes it, and points TIKTOKEN_CACHE_DIR at the
encodings litellm ships, so nothing is downloaded). Curator is given the scenario's rate
limit (max_requests_per_minute) and the concurrency limit. Prints one JSON line:
{"items", "seconds", "note"}.

    python bench/peers/curator_driver.py BASE_URL PROMPTS_JSONL RPM CONCURRENCY WORKDIR
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# Offline and fresh: no telemetry, no viewer, no cached answers from an earlier run.
os.environ.setdefault("TELEMETRY_ENABLED", "false")
os.environ.setdefault("CURATOR_DISABLE_CACHE", "1")
os.environ.setdefault("CURATOR_DISABLE_RICH_DISPLAY", "1")
os.environ.setdefault("OPENAI_API_KEY", "sk-sim")


def main() -> None:
    base_url, prompts_path = sys.argv[1], Path(sys.argv[2])
    rpm, concurrency, workdir = int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
    from bespokelabs import curator

    class Labeler(curator.LLM):
        def prompt(self, input: dict) -> str:
            return str(input["instruction"])

        def parse(self, input: dict, response: str) -> dict:
            return {"instruction": input["instruction"], "answer": response}

    prompts = [json.loads(line) for line in prompts_path.read_text().splitlines()]
    labeler = Labeler(
        model_name="sim-teacher-1",
        backend="openai",
        generation_params={"temperature": 0.0},
        backend_params={
            "base_url": base_url,
            "api_key": "sk-sim",
            "max_requests_per_minute": rpm,
            "max_tokens_per_minute": 1_000_000_000,
            "max_concurrent_requests": concurrency,
            "max_retries": 20,
            "seconds_to_pause_on_rate_limit": 1,
            "require_all_responses": False,
        },
    )
    started = time.monotonic()
    response = labeler(prompts, working_dir=str(workdir))
    seconds = time.monotonic() - started
    done = sum(1 for row in response.dataset if row.get("answer"))
    note = f"max_requests_per_minute {rpm}, max_concurrent_requests {concurrency}"
    print(json.dumps({"items": done, "seconds": seconds, "note": note}))


if __name__ == "__main__":
    main()
