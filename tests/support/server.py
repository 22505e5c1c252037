"""The API as a real HTTP server (`distillery serve` in a subprocess), for clients that
cannot use the in-process TestClient: the Python client, the CLI and a browser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distillery.cli.stack import free_port, process, wait_http


@contextmanager
def api_server(env: dict[str, str], logs: Path, workers: int = 1) -> Iterator[str]:
    """Serve the API on a free port with the stack's environment, in `workers` processes;
    yields its base URL."""
    port = free_port()
    args = ["serve", "--port", str(port), "--workers", str(workers)]
    with process(args, env, logs / f"api-{port}.log") as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc=proc)
        yield url
