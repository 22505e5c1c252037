"""Secrets: a planted teacher key and tenant key appear in no response, export, dataset
card or log of a job run end to end, and are stored only encrypted or hashed."""

from __future__ import annotations

import gzip
import io
import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support.stack import TERMINAL, arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def _readable(response: httpx.Response, file: str | None = None) -> str:
    """The body as text to search: exports decompressed or decoded first."""
    if file == "jsonl.gz":
        return gzip.decompress(response.content).decode()
    if file == "parquet":
        import pyarrow.parquet as pq

        return json.dumps(pq.read_table(io.BytesIO(response.content)).to_pylist(), default=str)
    return response.text


def run_label_job(client: httpx.Client, keep: Any, teacher: str, items: int) -> dict[str, Any]:
    """Submit a small labeling job over HTTP and wait for it to end; every response kept."""
    body = {
        "name": "secrets",
        "teacher": teacher,
        "method": "label",
        "skill": {"name": "arithmetic", "reasoning": "cot"},
        "seeds": arithmetic_seeds(items),
    }
    job_id = keep(client.post("/v1/jobs", json=body)).json()["id"]
    return wait_until(
        lambda: (j := client.get(f"/v1/jobs/{job_id}").json())["status"] in TERMINAL and j,
        timeout_s=90,
        what="the job to end",
    )


def test_planted_keys_appear_in_no_response_export_card_or_log(stack_env, logs, worker, start_simulator):
    from distillery.datasets.exporters import EXPORTERS
    from distillery.datasets.writers import WRITERS
    from distillery.db.models import ApiKey, Teacher
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key
    from tests.support.server import api_server

    teacher_key = "sk-planted-" + secrets.token_hex(16)
    with unit_of_work() as session:
        tenant_key = create_key(session, f"secrets-{secrets.token_hex(4)}")
    sim = start_simulator(latency_ms=5)
    seen: list[str] = []

    def keep(response: httpx.Response, file: str | None = None) -> httpx.Response:
        assert response.status_code < 500, response.text
        seen.append(_readable(response, file))
        return response

    with (
        api_server(stack_env, logs) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tenant_key}"}, timeout=30) as client,
    ):
        teacher_body: dict[str, Any] = {
            "name": "planted",
            "base_url": sim.base_url,
            "model": "sim-teacher-1",
            "api_key": teacher_key,
        }
        teacher = keep(client.post("/v1/teachers", json=teacher_body)).json()
        # Refused inputs that carry the key: their 422s name the field, never echo the input.
        keep(client.post("/v1/teachers", json={**teacher_body, "name": "bad name!"}))
        keep(client.post("/v1/teachers", json={**teacher_body, "api_key": teacher_key * 2000}))
        keep(client.post("/v1/teachers", json={**teacher_body, "base_url": f"ftp://{teacher_key}@host"}))
        job = run_label_job(client, keep, teacher["name"], 4)
        job_id = job["id"]
        assert job["status"] == "succeeded", job
        dataset_id = job["dataset_id"]
        for path in (
            f"/v1/jobs/{job_id}",
            f"/v1/jobs/{job_id}/events?limit=500",
            f"/v1/jobs/{job_id}/records?limit=500",
            "/v1/jobs",
            f"/v1/teachers/{teacher['id']}",
            "/v1/teachers",
            f"/v1/datasets/{dataset_id}",
            f"/v1/datasets/{dataset_id}/card",
            f"/v1/datasets/{dataset_id}/rejections",
            "/v1/datasets",
        ):
            keep(client.get(path))
        kind = client.get(f"/v1/datasets/{dataset_id}").json()["kind"]
        for format, exporter in EXPORTERS.items():
            for file in WRITERS if exporter.kind == kind else ():
                params = {"format": format, "file": file}
                keep(client.get(f"/v1/datasets/{dataset_id}/download", params=params), file)

    # After the server stopped, so its log is complete; the worker's and simulator's too.
    log_files = sorted(Path(logs).glob("*.log"))
    assert {"worker.log", f"api-{url.rsplit(':', 1)[1]}.log"} <= {p.name for p in log_files}
    assert any(p.name.startswith("simulator-") for p in log_files)
    seen += [p.read_text(errors="replace") for p in log_files]
    for planted in (teacher_key, tenant_key):
        assert not [text[:200] for text in seen if planted in text]

    # At rest: the teacher key only encrypted, the tenant key only hashed.
    with unit_of_work() as session:
        stored = session.scalar(select(Teacher.api_key_encrypted).where(Teacher.id == teacher["id"]))
        hashes = list(session.scalars(select(ApiKey.key_hash)))
    assert stored and teacher_key not in stored
    assert tenant_key not in hashes


def test_a_key_the_teacher_echoes_back_is_masked_in_every_response_page_and_log(
    stack_env, logs, worker, start_simulator
):
    """A provider that quotes the wrong key in its 401 ("Incorrect API key provided: ...")
    must not carry it into the job's error, events, records, the dashboard or any log."""
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key
    from tests.support.server import api_server

    teacher_key = "sk-echoed-" + secrets.token_hex(16)
    with unit_of_work() as session:
        tenant_key = create_key(session, f"echo-{secrets.token_hex(4)}")
    sim = start_simulator(latency_ms=5, api_key="sk-the-right-one-" + secrets.token_hex(8))
    seen: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        assert response.status_code < 500, response.text
        seen.append(response.text)
        return response

    with (
        api_server(stack_env, logs) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tenant_key}"}, timeout=30) as client,
    ):
        body = {"name": "echoed", "base_url": sim.base_url, "model": "sim-teacher-1", "api_key": teacher_key}
        teacher = keep(client.post("/v1/teachers", json=body)).json()
        job = run_label_job(client, keep, teacher["name"], 3)
        job_id = job["id"]
        assert job["status"] == "failed", job
        # The teacher did quote it: what reaches the tenant is the masked form.
        assert f"sk-...{teacher_key[-4:]}" in job["error"], job["error"]
        for path in (
            f"/v1/jobs/{job_id}",
            f"/v1/jobs/{job_id}/events?limit=500",
            f"/v1/jobs/{job_id}/records?limit=500",
            f"/v1/jobs/{job_id}/records?status=failed&limit=500",
            "/v1/jobs",
            "/v1/teachers",
            f"/v1/teachers/{teacher['id']}",
        ):
            keep(client.get(path))
        with httpx.Client(base_url=url, timeout=30) as browser:
            form = keep(browser.get("/ui/login"))
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None
            signed_in = browser.post("/ui/login", data={"key": tenant_key, "csrf": token.group(1)})
            assert signed_in.status_code == 303
            for page in ("/ui/jobs", f"/ui/jobs/{job_id}", f"/ui/jobs/{job_id}?status=failed"):
                assert keep(browser.get(page)).status_code == 200
            assert any(job_id in text for text in seen[-3:])

    log_files = sorted(Path(logs).glob("*.log"))
    seen += [p.read_text(errors="replace") for p in log_files]
    assert any(f"...{teacher_key[-4:]}" in text for text in seen)
    for planted in (teacher_key, tenant_key):
        assert not [text[:200] for text in seen if planted in text]
