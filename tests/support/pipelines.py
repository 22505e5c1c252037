"""Pipelines through the API as a test drives them: bodies, submission, waiting."""

from __future__ import annotations

from typing import Any

from tests.support.stack import TERMINAL, Api, arithmetic_seeds
from tests.support.waiting import wait_until


def label(teacher: str, **spec: Any) -> dict[str, Any]:
    return {
        "teacher": teacher,
        "method": "label",
        "skill": {"name": "arithmetic", "description": "Evaluate arithmetic exactly.", "reasoning": "cot"},
        "seeds": arithmetic_seeds(5),
        **spec,
    }


def two_labels(first: str, second: str, seeds: int = 5) -> dict[str, Any]:
    """Label the seeds, then label again what the first stage kept."""
    return {
        "name": "label-twice",
        "stages": [
            {"name": "label", "kind": "job", "spec": label(first, seeds=arithmetic_seeds(seeds))},
            {"name": "relabel", "kind": "job", "spec": label(second, seeds=[], source_dataset="@label")},
        ],
    }


def submit(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/pipelines", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def pipeline(api: Api, pipeline_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/pipelines/{pipeline_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(api: Api, pipeline_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    return wait_until(
        lambda: (p := pipeline(api, pipeline_id))["status"] in TERMINAL and p,
        timeout_s=timeout_s,
        interval_s=0.5,
        what=f"pipeline {pipeline_id} to end",
    )


def events(api: Api, pipeline_id: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/pipelines/{pipeline_id}/events", params={"limit": 500})
    assert response.status_code == 200, response.text
    return response.json()["data"]
