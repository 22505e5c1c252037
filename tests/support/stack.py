"""The real test stack: a fresh Postgres database, a Redis broker, worker and simulator
subprocesses, and the API app in process."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi.testclient import TestClient

from distillery.cli.stack import free_port, process, wait_http
from tests.support.waiting import wait_until

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
TERMINAL = ("succeeded", "failed", "cancelled")


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"distillery_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Simulator:
    base_url: str
    flags: dict[str, Any] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.base_url.removesuffix("/v1") + "/sim/stats", timeout=10).json()

    def wait_quiet(self, quiet_s: float = 1.5, timeout_s: float = 60.0) -> int:
        """Wait until no request arrived for `quiet_s`; return the request count then."""
        seen = [-1]

        def settled() -> int | None:
            count = int(self.stats()["requests"])
            if count == seen[0]:
                return count or None
            seen[0] = count
            return None

        return wait_until(settled, timeout_s=timeout_s, interval_s=quiet_s, what="the teacher to go quiet")


@contextmanager
def simulator(env: dict[str, str], logs: Path, port: int | None = None, **flags: Any) -> Iterator[Simulator]:
    """A simulator subprocess with `flags`, on `port` (a free one if None)."""
    port = port or free_port()
    args = ["simulate-teacher", "--port", str(port)]
    for name, value in flags.items():
        flag = name.replace("_", "-")
        args += [f"--{flag}" if value else f"--no-{flag}"] if isinstance(value, bool) else [f"--{flag}", str(value)]
    with process(args, env, logs / f"simulator-{port}.log") as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield Simulator(base_url=f"http://127.0.0.1:{port}/v1", flags=flags)


class Api:
    """A tenant's view of the API: the in-process app with that tenant's bearer key."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key
        self.headers = {"Authorization": f"Bearer {key}"}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def add_teacher(self, sim: Simulator, **overrides: Any) -> dict[str, Any]:
        body = {
            "name": f"sim-{secrets.token_hex(3)}",
            "base_url": sim.base_url,
            "model": "sim-teacher-1",
            "api_key": "sk-test-" + secrets.token_hex(16),
            "max_concurrency": 8,
            "input_price_per_mtok": 1.0,
            "output_price_per_mtok": 2.0,
            **overrides,
        }
        response = self.post("/v1/teachers", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def submit_label_job(
        self, teacher: dict[str, Any] | None, seeds: list[dict[str, Any]], **spec: Any
    ) -> dict[str, Any]:
        """A labeling job for `teacher`, or for the `teachers` given in `spec`."""
        body = {
            "name": f"label-{secrets.token_hex(3)}",
            **({"teacher": teacher["name"]} if teacher else {}),
            "method": "label",
            "skill": {"name": "arithmetic", "description": "Evaluate arithmetic exactly.", "reasoning": "cot"},
            "seeds": seeds,
            **spec,
        }
        response = self.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_job(self, job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
        return wait_until(
            lambda: (job := self.job(job_id))["status"] in TERMINAL and job,
            timeout_s=timeout_s,
            what=f"job {job_id} to finish",
        )

    def events(self, job_id: str) -> list[dict[str, Any]]:
        response = self.get(f"/v1/jobs/{job_id}/events", params={"limit": 500})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def records(self, job_id: str, status: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            params: dict[str, Any] = {"limit": 500, "offset": offset}
            if status:
                params["status"] = status
            page = self.get(f"/v1/jobs/{job_id}/records", params=params).json()
            out += page["data"]
            offset = page["next_offset"]
        return out


def arithmetic_seeds(count: int, offset: int = 0) -> list[dict[str, str]]:
    return [
        {"id": f"q{i}", "instruction": f"What is {i + 3} * {i + 7} + {i}?", "answer": str((i + 3) * (i + 7) + i)}
        for i in range(offset, offset + count)
    ]
