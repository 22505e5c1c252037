"""NVIDIA NeMo Data Designer labels the prompts through the OpenAI-compatible simulator; runs
in the data-designer virtualenv (bench/peer_runs.py makes it). Data Designer has no rate
limit of its own, only a concurrency limit (`max_parallel_requests`), so that is the limit
it is given. Prints one JSON line: {"items", "seconds", "note"}.

    python bench/peers/data_designer_driver.py BASE_URL PROMPTS_JSONL CONCURRENCY WORKDIR
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# Offline: no telemetry posts, no model health checks against the real providers.
os.environ.setdefault("NEMO_TELEMETRY_ENABLED", "false")
os.environ.setdefault("SIM_API_KEY", "sk-sim")


def main() -> None:
    base_url, prompts_path, concurrency, workdir = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    import pandas as pd
    from data_designer.config import (
        ChatCompletionInferenceParams,
        DataDesignerConfigBuilder,
        DataFrameSeedSource,
        LLMTextColumnConfig,
        ModelConfig,
        ModelProvider,
    )
    from data_designer.interface.data_designer import DataDesigner

    prompts = [json.loads(line)["instruction"] for line in prompts_path.read_text().splitlines()]
    provider = ModelProvider(name="sim", endpoint=base_url, provider_type="openai", api_key="SIM_API_KEY")
    model = ModelConfig(
        alias="sim",
        model="sim-teacher-1",
        provider="sim",
        skip_health_check=True,
        inference_parameters=ChatCompletionInferenceParams(max_parallel_requests=concurrency, temperature=0.0),
    )
    builder = DataDesignerConfigBuilder(model_configs=[model])
    builder.with_seed_dataset(DataFrameSeedSource(df=pd.DataFrame({"instruction": prompts})))
    builder.add_column(LLMTextColumnConfig(name="answer", prompt="{{ instruction }}", model_alias="sim"))
    designer = DataDesigner(artifact_path=workdir, model_providers=[provider])
    started = time.monotonic()
    result = designer.create(builder, num_records=len(prompts), dataset_name="bench")
    seconds = time.monotonic() - started
    dataset = result.load_dataset()
    done = int(dataset["answer"].notna().sum())
    print(json.dumps({"items": done, "seconds": seconds, "note": f"max_parallel_requests {concurrency}"}))


if __name__ == "__main__":
    main()
