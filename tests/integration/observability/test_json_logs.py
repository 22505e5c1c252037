"""DISTILLERY_LOG_FORMAT=json: the API and the synthesis worker write one JSON object per
line; a request's lines carry the request id answered in X-Request-ID, and the worker's
lines for the job that request created carry the same request id and the job's id."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Workers
from tests.support.server import api_server
from tests.support.stack import TERMINAL, arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def _objects(log: Path) -> list[dict[str, Any]]:
    """The log's JSON lines (Celery prints its start-up banner to the terminal as text)."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def json_worker(workers: Workers, stack_env: dict[str, str], logs: Path) -> Iterator[Workers]:
    """A worker of its own writing JSON lines; the session's worker is stopped meanwhile,
    so that this one runs the test's job."""
    workers.stop()
    log = logs / f"worker-json-{secrets.token_hex(3)}.log"
    pool = Workers({**stack_env, "DISTILLERY_LOG_FORMAT": "json"}, log)
    pool.start()
    yield pool
    pool.stop()


def test_a_requests_id_is_in_the_api_and_worker_json_lines_and_on_its_job(
    stack_env, logs, tenant_api, json_worker, shared_simulator
):
    sim = shared_simulator
    teacher_key = "sk-planted-" + secrets.token_hex(16)
    request_id = f"test-{secrets.token_hex(6)}"
    with api_server({**stack_env, "DISTILLERY_LOG_FORMAT": "json"}, logs) as url:
        api_log = logs / f"api-{url.rsplit(':', 1)[1]}.log"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tenant_api.key}"}, timeout=30) as http:
            teacher = http.post(
                "/v1/teachers",
                json={"name": "json-logs", "base_url": sim.base_url, "model": "sim-teacher-1", "api_key": teacher_key},
            )
            assert teacher.status_code == 201, teacher.text
            given = teacher.headers["X-Request-ID"]
            assert len(given) == 32  # none was sent: one was made

            body = {
                "name": "json-logs",
                "teacher": "json-logs",
                "method": "label",
                "skill": {"name": "arithmetic", "description": "Evaluate arithmetic exactly."},
                "seeds": arithmetic_seeds(4),
            }
            created = http.post("/v1/jobs", json=body, headers={"X-Request-ID": request_id})
            assert created.status_code == 202, created.text
            assert created.headers["X-Request-ID"] == request_id
            job = created.json()
            assert job["request_id"] == request_id

            done = wait_until(
                lambda: (j := http.get(f"/v1/jobs/{job['id']}").json())["status"] in TERMINAL and j,
                timeout_s=90,
                what="the job to finish",
            )
            assert done["status"] == "succeeded" and done["request_id"] == request_id

            refused = http.get("/v1/jobs/job_nope", headers={"X-Request-ID": "not a token!"})
            assert refused.status_code == 404 and refused.headers["X-Request-ID"] != "not a token!"

    # The server has stopped: its log is complete.
    lines = api_log.read_text().splitlines()
    api_lines = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    assert all({"timestamp", "level", "logger", "message"} <= set(line) for line in api_lines)
    of_request = [line for line in api_lines if line.get("request_id") == request_id]
    assert any(line["logger"] == "uvicorn.access" and "POST /v1/jobs" in line["message"] for line in of_request)
    assert any(line.get("request_id") == given and "POST /v1/teachers" in line["message"] for line in api_lines)

    worker_lines = _objects(json_worker.log)
    of_job = [line for line in worker_lines if line.get("job_id") == job["id"]]
    assert of_job, "no worker line names the job"
    assert all(line["request_id"] == request_id for line in of_job)
    # Celery's own lines for the job's tasks (planning, its chunk, finalizing) carry them too.
    succeeded = [line["message"] for line in of_job if "succeeded" in line["message"]]
    assert any("plan_job" in m for m in succeeded) and any("finalize_job" in m for m in succeeded)

    for log in (api_log, json_worker.log):
        assert teacher_key not in log.read_text()
