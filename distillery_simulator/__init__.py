"""The OpenAI-compatible teacher simulator: a fake teacher for tests, demos and benchmarks.

Invariants: a reply is a pure function of (seed, messages, sample), so a repeated request
gets the same text byte for byte, and whether it is wrong or malformed is fixed per prompt;
injected 5xx errors come from the app's own RNG, so a retry can succeed. Limits are
per-second token buckets whose refusals carry Retry-After. /sim/stats counts what was
served, including replies served twice for the same request hash. The Batch API
(/v1/files, /v1/batches) answers its lines through the same reply path, without the
online limits, after a configurable delay.
"""

from __future__ import annotations

import uvicorn

from distillery_simulator.config import SimulatorConfig
from distillery_simulator.server import create_app

__all__ = ["SimulatorConfig", "create_app", "serve"]


def serve(config: SimulatorConfig, host: str = "127.0.0.1", port: int = 8900) -> None:
    """Run the simulator until the process is killed."""
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level="warning",
        # Access logs would cost time under load and could record client headers.
        access_log=False,
        # Hundreds of concurrent clients: keep idle connections long enough to be reused.
        timeout_keep_alive=30,
    )
