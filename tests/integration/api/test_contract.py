"""The public contract: auth, errors naming the field, tenant isolation, write-only keys."""

from __future__ import annotations

import json

import pytest

from tests.support.stack import arithmetic_seeds

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _job_body(teacher_name: str, **overrides):
    body = {
        "name": "contract",
        "teacher": teacher_name,
        "method": "label",
        "skill": {"name": "arithmetic", "reasoning": "cot"},
        "seeds": [{"instruction": "What is 1 + 1?"}],
    }
    body.update(overrides)
    return body


def _assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"type", "message", "details"}
    if field is not None:
        assert field in [d["field"] for d in error["details"]], error
        assert field in error["message"]
    return error


def test_routes_need_a_valid_bearer_key(test_client):
    for path in ("/v1/jobs", "/v1/teachers", "/v1/datasets"):
        _assert_error(test_client.get(path), 401)
        _assert_error(test_client.get(path, headers={"Authorization": "Bearer dk_nope"}), 401)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"skill": {"name": "x", "reasoning": "maybe"}}, "skill.reasoning"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [{"instruction": ""}]}, "seeds.0.instruction"),
        ({"seeds": [{"instruction": "a\x00b"}]}, "seeds.0.instruction"),
        ({"method": "telepathy"}, "method"),
        ({"budget": {"max_requests": 0}}, "budget.max_requests"),
        ({"params": {"temperature": 7}}, "params.temperature"),
        ({"surprise": 1}, "surprise"),
        ({"teacher": "no-such-teacher"}, "teacher"),
        ({"seeds": [{"instruction": "   "}]}, "seeds.0.instruction"),
        ({"method": "expand"}, "target_count"),
        ({"method": "curate"}, "topics"),
        ({"method": "curate", "seeds": [], "documents": [{"text": " \n "}]}, "documents.0.text"),
        ({"method": "feedback", "seeds": [{"instruction": "hi", "candidates": ["a", "a"]}]}, "params.generators"),
        ({"params": {"samples_per_item": 5}}, "params.temperature"),
        ({"params": {"evol": {"rounds": 2}}}, "params.evol"),
        ({"method": "expand", "target_count": 5, "params": {"mode": "batch"}}, "params.mode"),
        ({"params": {"evol": {"operations": ["shout"]}}}, "params.evol.operations.0"),
        ({"skill": {"name": "x", "output_schema": {"type": "object"}}}, "skill.output_schema"),
        ({"skill": {"name": "x", "output_format": "json", "output_schema": {"type": 7}}}, "skill.output_schema"),
        ({"templates": {"label": "{{ nope }}"}}, "templates.label"),
        ({"templates": {"nope": "x"}}, "templates.nope"),
        ({"params": {"generators": [{"teacher": "t"}]}}, "params.generators"),
    ],
)
def test_bad_job_input_is_a_422_naming_the_field(api, shared_simulator, overrides, field):
    teacher = api.add_teacher(shared_simulator)
    _assert_error(api.post("/v1/jobs", json=_job_body(teacher["name"], **overrides)), 422, field)


def test_malformed_json_and_bad_query_parameters_are_4xx(api):
    response = api.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    _assert_error(response, 422)
    _assert_error(api.get("/v1/jobs", params={"limit": 100000}), 422, "query.limit")
    _assert_error(api.get("/v1/jobs/job_missing/records", params={"status": "maybe"}), 422, "query.status")


def test_teacher_validation_and_duplicate_names(api, shared_simulator):
    sim = shared_simulator
    _assert_error(api.post("/v1/teachers", json={"name": "t", "base_url": "ftp://x", "model": "m"}), 422, "base_url")
    _assert_error(
        api.post("/v1/teachers", json={"name": "t", "base_url": sim.base_url, "model": "m", "rpm": -1}), 422, "rpm"
    )
    api.add_teacher(sim, name="twin")
    _assert_error(api.post("/v1/teachers", json={"name": "twin", "base_url": sim.base_url, "model": "m"}), 409)


def test_teacher_api_key_is_write_only(api, shared_simulator):
    sim = shared_simulator
    secret = "sk-planted-secret-0123456789abcdef"
    teacher = api.add_teacher(sim, api_key=secret)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(3))["id"])
    bodies = [
        json.dumps(teacher),
        api.get(f"/v1/teachers/{teacher['id']}").text,
        api.get("/v1/teachers").text,
        json.dumps(job),
        api.get(f"/v1/jobs/{job['id']}/events").text,
        api.get(f"/v1/jobs/{job['id']}/records").text,
        api.get(f"/v1/datasets/{job['dataset_id']}/download").text,
        # A validation error must not echo the key back either.
        api.post(
            "/v1/teachers", json={"name": "bad name!", "base_url": sim.base_url, "model": "m", "api_key": secret}
        ).text,
    ]
    assert teacher["has_api_key"] is True and "api_key" not in teacher
    for body in bodies:
        assert secret not in body


def test_another_tenants_ids_are_not_found(api, other_api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(2))["id"])
    dataset_id = job["dataset_id"]
    for method, path in [
        ("GET", f"/v1/teachers/{teacher['id']}"),
        ("DELETE", f"/v1/teachers/{teacher['id']}"),
        ("GET", f"/v1/jobs/{job['id']}"),
        ("GET", f"/v1/jobs/{job['id']}/events"),
        ("GET", f"/v1/jobs/{job['id']}/records"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
        ("GET", f"/v1/datasets/{dataset_id}"),
        ("GET", f"/v1/datasets/{dataset_id}/download"),
    ]:
        _assert_error(other_api.request(method, path), 404)
    # Lists show only the caller's own resources, and a job cannot use another's teacher.
    assert other_api.get("/v1/jobs").json()["data"] == []
    assert other_api.get("/v1/teachers").json()["data"] == []
    assert other_api.get("/v1/datasets").json()["data"] == []
    _assert_error(other_api.post("/v1/jobs", json=_job_body(teacher["id"])), 422, "teacher")
    # And the owner still sees everything.
    assert api.get(f"/v1/teachers/{teacher['id']}").status_code == 200


def test_deleting_a_teacher_keeps_its_jobs_and_datasets(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(2))["id"])
    assert api.request("DELETE", f"/v1/teachers/{teacher['id']}").status_code == 204
    assert api.get(f"/v1/teachers/{teacher['id']}").status_code == 404
    assert api.job(job["id"])["status"] == "succeeded"
    assert api.get(f"/v1/datasets/{job['dataset_id']}/download").status_code == 200


def test_paging_and_the_openapi_document(api, shared_simulator, test_client):
    teacher = api.add_teacher(shared_simulator)
    ids = {api.submit_label_job(teacher, arithmetic_seeds(1, offset=i))["id"] for i in range(3)}
    for job_id in ids:
        api.wait_for_job(job_id)
    first = api.get("/v1/jobs", params={"limit": 2}).json()
    second = api.get("/v1/jobs", params={"limit": 2, "offset": first["next_offset"]}).json()
    assert {j["id"] for j in first["data"] + second["data"]} == ids and second["next_offset"] is None

    spec = test_client.get("/openapi.json").json()
    for path in (
        "/v1/jobs",
        "/v1/jobs/{job_id}/records",
        "/v1/datasets/{dataset_id}/download",
        "/v1/teachers/{teacher_id}",
    ):
        assert path in spec["paths"]
    # The job body is one model per method, each refusing unknown fields.
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    methods = [spec["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]] for ref in body["anyOf"]]
    assert len(methods) == 5 and all(m["additionalProperties"] is False for m in methods)
    assert "api_key" not in spec["components"]["schemas"]["TeacherOut"]["properties"]


def test_health_and_readiness(test_client):
    assert test_client.get("/healthz").json() == {"status": "ok"}
    ready = test_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
