"""Tenancy: another tenant's ids are "not found" on every route, revoked keys stop working,
and each tenant has its own limits on concurrent jobs and request rate."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from tests.support.settings import overridden
from tests.support.stack import Api, arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# Routes without ids in their path, and how the walk covers each: a list shows only the
# caller's own resources; a create that names resources in its body is a 422 naming the
# field; the rest hold no tenant data.
LISTS = {
    "/v1/teachers",
    "/v1/jobs",
    "/v1/datasets",
    "/v1/training-jobs",
    "/v1/pipelines",
    "/ui/jobs",
    "/ui/datasets",
    "/ui/pipelines",
}
NO_TENANT_DATA = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/ui",
    "/ui/login",
    "/ui/logout",
    "/ui/training",
    # Creates that name no other resource.
    "/v1/teachers:POST",
    "/v1/datasets/upload:POST",
}


def _path_id(path: str, param: str, ids: dict[str, str]) -> str:
    if param == "record_id":
        return ids["record"]
    if param == "job_id":
        return ids["training_job"] if path.startswith("/v1/training-jobs") else ids["job"]
    names = {"teacher_id": "teacher", "dataset_id": "dataset", "training_job_id": "training_job"}
    return ids[names.get(param, "pipeline")]


def _body_cases(ids: dict[str, str], own_teacher: str) -> dict[str, list[tuple[dict[str, Any], str]]]:
    """Per create route: bodies naming the owner's resources, and the field each 422 names."""
    job = {
        "name": "intruder",
        "method": "label",
        "skill": {"name": "arithmetic"},
        "seeds": [{"instruction": "What is 1 + 1?"}],
    }
    return {
        "/v1/jobs:POST": [
            ({**job, "teacher": ids["teacher"]}, "teacher"),
            ({**job, "teacher": own_teacher, "judge_teacher": ids["teacher"]}, "judge_teacher"),
            ({**job, "teacher": own_teacher, "seeds": [], "source_dataset": ids["dataset"]}, "source_dataset"),
            (
                {**job, "teacher": own_teacher, "curation": {"decontaminate": {"datasets": [ids["dataset"]]}}},
                "curation.decontaminate.datasets.0",
            ),
        ],
        "/v1/datasets:POST": [
            ({"name": "stolen", "sources": [{"job": ids["job"]}]}, "sources.0.job"),
            ({"name": "stolen", "sources": [{"dataset": ids["dataset"]}]}, "sources.0.dataset"),
        ],
        "/v1/training-jobs:POST": [
            ({"dataset_id": ids["dataset"], "method": "sft", "base_model": ids["base_model"]}, "dataset_id"),
        ],
        "/v1/pipelines:POST": [
            ({"name": "stolen", "stages": [{"name": "a", "kind": "job", "spec": {**job, "teacher": ids["teacher"]}}]},
             "stages.0.spec.teacher"),
            ({"name": "stolen", "stages": [{"name": "a", "kind": "job", "spec": {
                **job, "teacher": own_teacher, "seeds": [], "source_dataset": ids["dataset"]}}]},
             "stages.0.spec.source_dataset"),
            ({"name": "stolen", "stages": [{"name": "a", "kind": "sft", "spec": {
                "dataset_id": ids["dataset"], "base_model": ids["base_model"]}}]},
             "stages.0.spec.dataset_id"),
        ],
    }  # fmt: skip


def _ui_cookie(api: Api) -> tuple[dict[str, str], str]:
    """Sign `api`'s tenant in to the dashboard: the session cookie, sent per request, and
    the session's CSRF token for the dashboard's forms."""
    from distillery.ui.session import COOKIE

    form = api.client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    data = {"key": api.key, "csrf": token.group(1)}
    response = api.client.post("/ui/login", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = response.cookies[COOKIE]
    api.client.cookies.clear()  # the shared test client must not stay signed in
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    page = api.client.get("/ui/jobs", headers=headers)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert csrf is not None
    return headers, csrf.group(1)


@pytest.fixture
def owned(api: Api, shared_simulator: Any, tmp_path: Path) -> dict[str, str]:
    """One of each resource, owned by `api`'s tenant: a teacher, a job, its dataset and a
    row of it, a (queued) training job and a pipeline."""
    teacher = api.add_teacher(shared_simulator)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(2))["id"])
    assert job["status"] == "succeeded", job
    # Creating a training job only checks that the base model is a directory with a config.
    model = tmp_path / "student"
    model.mkdir()
    (model / "config.json").write_text("{}")
    body = {"dataset_id": job["dataset_id"], "method": "sft", "base_model": str(model)}
    training = api.post("/v1/training-jobs", json=body)
    assert training.status_code == 202, training.text
    stages = [{"name": "sft", "kind": "sft", "spec": {"dataset_id": job["dataset_id"], "base_model": str(model)}}]
    pipeline = api.post("/v1/pipelines", json={"name": "owned", "stages": stages})
    assert pipeline.status_code == 202, pipeline.text
    return {
        "pipeline": pipeline.json()["id"],
        "teacher": teacher["id"],
        "job": job["id"],
        "dataset": job["dataset_id"],
        "record": str(api.get(f"/v1/datasets/{job['dataset_id']}/rows").json()["data"][0]["record_id"]),
        "training_job": training.json()["id"],
        "base_model": str(model),
    }


def test_every_route_answers_another_tenants_ids_with_not_found(api, other_api, owned, shared_simulator):
    own_teacher = other_api.add_teacher(shared_simulator)["name"]
    body_cases = _body_cases(owned, own_teacher)
    ui, csrf = _ui_cookie(other_api)
    owner_ids = [owned[k] for k in ("teacher", "job", "dataset", "training_job", "pipeline")]
    walked: set[str] = set()

    # Every route as the app serves it (FastAPI's view, the one its OpenAPI document uses).
    for route in iter_route_contexts(api.client.app.routes):
        if route.methods is None:
            continue  # the dashboard's static files
        params = re.findall(r"{(\w+)}", route.path)
        headers = ui if route.path.startswith("/ui") else {}
        for method in sorted(route.methods - {"HEAD"}):
            key = f"{route.path}:{method}"
            if params:
                path = route.path.format(**{p: _path_id(route.path, p, owned) for p in params})
                body = {"curation": {}} if route.path.endswith("/curate") else None
                if route.path.startswith("/ui") and method == "POST":
                    # The dashboard's forms, sent as its own page would send them.
                    form = {"csrf": csrf, "action": "flag"}
                    response = other_api.request(method, path, data=form, headers=headers)
                else:
                    response = other_api.request(method, path, json=body, headers=headers)
                assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text[:200]}"
                if not route.path.startswith("/ui"):
                    assert response.json()["error"]["type"] == "not_found"
            elif key in body_cases:
                for body, field in body_cases[key]:
                    response = other_api.request(method, route.path, json=body)
                    assert response.status_code == 422, f"{key} naming {field}: {response.text[:300]}"
                    assert field in [d["field"] for d in response.json()["error"]["details"]], response.text
            elif route.path in LISTS and method == "GET":
                text = other_api.get(route.path, headers=headers).text
                assert not [i for i in owner_ids if i in text], f"{route.path} lists another tenant's resources"
            else:
                assert route.path in NO_TENANT_DATA or key in NO_TENANT_DATA, f"the tenancy walk misses {key}"
            walked.add(key)

    # The dashboard's bridge to the API answers the same.
    bridged = other_api.client.get(f"/ui/api/jobs/{owned['job']}", headers=ui)
    assert bridged.status_code == 404
    assert {
        "/v1/jobs/{job_id}/records:GET",
        "/ui/training/{training_job_id}:GET",
        "/v1/datasets/{dataset_id}/flags/{record_id}:PUT",
        "/ui/datasets/{dataset_id}/flags/{record_id}:POST",
        "/ui/datasets/{dataset_id}/versions:POST",
    } <= walked
    # And the owner still sees all of it.
    for path in (
        f"/v1/jobs/{owned['job']}",
        f"/v1/training-jobs/{owned['training_job']}",
        f"/v1/pipelines/{owned['pipeline']}",
    ):
        assert api.get(path).status_code == 200


@pytest.fixture
def two_active_jobs_at_most() -> Iterator[None]:
    with overridden(tenant_max_active_jobs=2):
        yield


def test_a_revoked_key_is_refused(other_api):
    api = other_api
    assert api.get("/v1/jobs").status_code == 200
    revoked = subprocess.run(
        [sys.executable, "-m", "distillery.cli", "keys", "revoke", api.key[:8]],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout, revoked.stderr
    # Within deps.KEY_CACHE_S (the API remembers a key's tenant that long).
    response = wait_until(lambda: (r := api.get("/v1/jobs")).status_code == 401 and r, timeout_s=10)
    assert response.json()["error"]["type"] == "unauthenticated"


@pytest.mark.usefixtures("two_active_jobs_at_most")
def test_a_tenant_over_its_active_job_limit_gets_a_429_until_one_finishes(
    api, other_api, start_simulator, shared_simulator
):
    # A slow teacher keeps the first two jobs running.
    teacher = api.add_teacher(start_simulator(latency_ms=300), max_concurrency=1)
    first = api.submit_label_job(teacher, arithmetic_seeds(40))
    second = api.submit_label_job(teacher, arithmetic_seeds(40, offset=40))

    refused = api.post("/v1/jobs", json=_label_body(teacher["name"]))
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["type"] == "too_many_active_jobs"
    assert int(refused.headers["Retry-After"]) > 0
    # Another tenant is not held back by this one's jobs.
    other_teacher = other_api.add_teacher(shared_simulator)
    assert other_api.post("/v1/jobs", json=_label_body(other_teacher["name"])).status_code == 202

    assert api.post(f"/v1/jobs/{first['id']}/cancel").status_code == 200
    third = api.post("/v1/jobs", json=_label_body(teacher["name"]))
    assert third.status_code == 202, third.text
    for job_id in (second["id"], third.json()["id"]):
        api.post(f"/v1/jobs/{job_id}/cancel")


def _label_body(teacher: str) -> dict[str, Any]:
    return {
        "name": "one-more",
        "teacher": teacher,
        "method": "label",
        "skill": {"name": "arithmetic"},
        "seeds": [{"instruction": "What is 2 + 2?"}],
    }


def test_a_tenant_over_its_request_rate_gets_a_429_with_retry_after(stack_env, logs):
    """Against a real server with a rate of 2 requests per second and a burst of 5."""
    import httpx

    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key
    from tests.support.server import api_server

    with unit_of_work() as session:
        key, other_key = create_key(session, "rate-a"), create_key(session, "rate-b")
    env = {**stack_env, "DISTILLERY_TENANT_RPS": "2", "DISTILLERY_TENANT_BURST": "5"}
    with api_server(env, logs) as url, httpx.Client(base_url=url, timeout=30) as client:
        responses = []
        # A burst passes; a tight loop soon outruns 2 per second (unless each request
        # took over half a second).
        while len(responses) < 50 and (not responses or responses[-1].status_code == 200):
            responses.append(client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"}))
        assert [r.status_code for r in responses[:5]] == [200] * 5
        limited = responses[-1]
        assert limited.status_code == 429, [r.status_code for r in responses]
        error = limited.json()["error"]
        assert error["type"] == "rate_limited" and "2 requests per second" in error["message"]
        # A refused request does not count: the next slot is at most half a second away.
        assert limited.headers["Retry-After"] == "1"
        # The limit is per tenant.
        assert client.get("/v1/jobs", headers={"Authorization": f"Bearer {other_key}"}).status_code == 200
