"""The ideal pacer: the simplest client that could reach a teacher's limit. It starts request
i at exactly i / rate seconds (or as soon as one of `concurrency` slots is free when there is
no rate), retries a 429 or 5xx at once in a fresh slot, and does nothing else — no
database, no queue, no parsing. Every other figure is printed as a share of its rate."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class PacerRun:
    items: int
    seconds: float
    requests: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds


async def _pace(base_url: str, prompts: list[str], rpm: int | None, concurrency: int) -> PacerRun:
    interval = 60 / rpm if rpm else 0.0
    slots = asyncio.Semaphore(concurrency)
    started = time.monotonic()
    next_slot = [started]  # the start time of the next request
    sent = [0]

    async def slot() -> None:
        await slots.acquire()
        if interval:
            at, next_slot[0] = next_slot[0], next_slot[0] + interval
            await asyncio.sleep(max(0.0, at - time.monotonic()))
        sent[0] += 1

    async def one(client: httpx.AsyncClient, prompt: str) -> None:
        body = {"model": "sim-teacher-1", "messages": [{"role": "user", "content": prompt}]}
        while True:
            await slot()
            try:
                response = await client.post("/chat/completions", json=body)
            finally:
                slots.release()
            if response.status_code == 200:
                return

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        await asyncio.gather(*(one(client, p) for p in prompts))
    return PacerRun(len(prompts), time.monotonic() - started, sent[0])


def pace(base_url: str, prompts: list[str], rpm: int | None, concurrency: int = 256) -> PacerRun:
    try:
        import uvloop  # the fastest loop there is: the pacer should not be the bottleneck
    except ImportError:
        return asyncio.run(_pace(base_url, prompts, rpm, concurrency))
    return uvloop.run(_pace(base_url, prompts, rpm, concurrency))
