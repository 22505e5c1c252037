"""The ideal pacer: the simplest client that could reach a teacher's limit. It starts request
i at exactly i / rate seconds (or as soon as one of `concurrency` connections is free when
there is no rate), retries a 429 or 5xx at once, and does nothing else — no database, no
queue, no parsing, not even an HTTP library: bare HTTP/1.1 keep-alive on asyncio streams,
so that on a small machine the client's own CPU is not what limits it. Every other figure
is printed as a share of its rate."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from rawhttp import Connection


@dataclass(frozen=True)
class PacerRun:
    items: int
    seconds: float
    requests: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds


async def _pace(base_url: str, prompts: list[str], rpm: int | None, concurrency: int) -> PacerRun:
    url = urlsplit(base_url)
    path = url.path.rstrip("/") + "/chat/completions"
    interval = 60 / rpm if rpm else 0.0
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(concurrency):
        pool.put_nowait(Connection(url.hostname or "127.0.0.1", url.port or 80))
    started = time.monotonic()
    next_start = [started]
    sent = [0]

    async def one(prompt: str) -> None:
        body = json.dumps({"model": "sim-teacher-1", "messages": [{"role": "user", "content": prompt}]}).encode()
        while True:
            connection = await pool.get()
            if interval:
                at, next_start[0] = next_start[0], next_start[0] + interval
                await asyncio.sleep(max(0.0, at - time.monotonic()))
            sent[0] += 1
            try:
                status = await connection.request("POST", path, body)
            finally:
                pool.put_nowait(connection)
            if status == 200:
                return

    await asyncio.gather(*(one(p) for p in prompts))
    return PacerRun(len(prompts), time.monotonic() - started, sent[0])


def pace(base_url: str, prompts: list[str], rpm: int | None, concurrency: int = 64) -> PacerRun:
    try:
        import uvloop  # the fastest loop there is: the pacer should not be the bottleneck
    except ImportError:
        return asyncio.run(_pace(base_url, prompts, rpm, concurrency))
    return uvloop.run(_pace(base_url, prompts, rpm, concurrency))
