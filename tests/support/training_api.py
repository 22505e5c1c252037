"""Training jobs through the HTTP API, as the integration tests drive them: datasets made
in place, submissions, waiting, events and artifacts."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from tests.support.stack import TERMINAL, Api
from tests.support.training_data import Example, make_dataset
from tests.support.waiting import wait_until

# Fast enough to overfit a few dozen examples in a few dozen steps on a 2-core CPU.
FAST = {"learning_rate": 0.01, "batch_size": 8, "max_seq_length": 128, "gradient_checkpointing": False}
LORA = {"r": 8, "alpha": 16, "dropout": 0.0}


def dataset(api: Api, examples: list[Example], kind: str = "sft") -> str:
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import tenant_for_key

    with unit_of_work() as session:
        tenant_id = tenant_for_key(session, api.key)
        assert tenant_id is not None
        return make_dataset(session, tenant_id, examples, kind)


def submit(api: Api, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/training-jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def wait_for(api: Api, job_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        job = api.get(f"/v1/training-jobs/{job_id}").json()
        return job if job["status"] in TERMINAL else None

    return wait_until(finished, timeout_s=timeout_s, interval_s=0.5, what=f"training job {job_id} to finish")


def events(api: Api, job_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/training-jobs/{job_id}/events", params={"limit": 500}).json()["data"]


def step_metrics(api: Api, job_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/training-jobs/{job_id}/metrics", params={"limit": 500}).json()["data"]


def unpack(api: Api, job_id: str, into: Path) -> Path:
    response = api.get(f"/v1/training-jobs/{job_id}/artifacts/download")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        tar.extractall(into, filter="data")
    return into / job_id


def upload(api: Api, name: str, purpose: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSONL file uploaded as a dataset (seeds, eval or candidates)."""
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    response = api.post(
        "/v1/datasets/upload",
        files={"file": (f"{name}.jsonl", body, "application/x-ndjson")},
        data={"purpose": purpose, "name": name},
    )
    assert response.status_code == 201, response.text
    return response.json()


def download(api: Api, dataset_id: str, format: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/datasets/{dataset_id}/download", params={"format": format})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def run_card(api: Api, job_id: str, into: Path) -> dict[str, Any]:
    card: dict[str, Any] = json.loads((unpack(api, job_id, into) / "run_card.json").read_text())
    return card
