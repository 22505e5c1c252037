"""Pipelines end to end: the API, real worker processes, Postgres, Redis and the simulated
teacher. Stages run in order, each an ordinary job of its own; the run rolls up status and
cost; a failing stage fails the run with its reason; cancel stops the running stage;
retry goes on from where the run stopped."""

from __future__ import annotations

import secrets
import time

import pytest
import yaml

from tests.support.pipelines import events, pipeline, submit, two_labels, wait_for
from tests.support.stack import arithmetic_seeds, simulator
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_yaml_pipeline_runs_its_stages_in_order_each_a_job_and_rolls_up(api, shared_simulator):
    teacher = api.add_teacher(shared_simulator)["name"]
    body = yaml.safe_dump(two_labels(teacher, teacher))
    response = api.post("/v1/pipelines", content=body, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued" and [s["name"] for s in created["stages"]] == ["label", "relabel"]

    done = wait_for(api, created["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == {"stages": 2, "done": 2} and done["current_stage"] is None
    first, second = done["stages"]
    assert [first["status"], second["status"]] == ["succeeded", "succeeded"]
    assert first["progress"] == {"unit": "items", "done": 5, "total": 5}

    # Each stage is an ordinary job, visible as such; the second read what the first made.
    label_job, relabel_job = api.job(first["job_id"]), api.job(second["job_id"])
    assert label_job["status"] == relabel_job["status"] == "succeeded"
    assert first["dataset_id"] == label_job["dataset_id"] and second["dataset_id"] == relabel_job["dataset_id"]
    assert relabel_job["created_at"] >= label_job["finished_at"]
    assert relabel_job["progress"]["total"] == label_job["progress"]["accepted"] == 5
    cost = label_job["usage"]["cost_usd"] + relabel_job["usage"]["cost_usd"]
    assert done["cost_usd"] == pytest.approx(cost) and cost > 0

    kinds = [(e["type"], e["data"].get("stage")) for e in events(api, done["id"])]
    assert kinds == [
        ("created", None),
        ("stage_started", "label"),
        ("stage_succeeded", "label"),
        ("stage_started", "relabel"),
        ("stage_succeeded", "relabel"),
        ("succeeded", None),
    ]
    assert [p["id"] for p in api.get("/v1/pipelines").json()["data"]] == [done["id"]]

    report = api.get(f"/v1/pipelines/{done['id']}/report").json()
    labelled = report["stages"][0]
    assert labelled["records"]["kept"] == 5 and labelled["teacher"]["requests"] == 5
    # The seeds' gold answers: the simulated teacher gets arithmetic right.
    assert labelled["gold"] == {"job_id": first["job_id"], "scored": 5, "matched": 5, "accuracy": 1.0}
    assert report["cost_usd"] == pytest.approx(cost)


def test_a_failing_stage_fails_the_run_with_its_reason_and_retry_goes_on_from_it(
    api, shared_simulator, stack_env, logs
):
    from distillery.cli.stack import free_port

    good = api.add_teacher(shared_simulator)["name"]
    port = free_port()
    with simulator(stack_env, logs, port=port, api_key="sk-another-" + secrets.token_hex(8)) as strict:
        refusing = api.add_teacher(strict)["name"]
        run = submit(api, two_labels(good, refusing))
        failed = wait_for(api, run["id"])
    assert failed["status"] == "failed"
    first, second = failed["stages"]
    assert (first["status"], second["status"]) == ("succeeded", "failed")
    job = api.job(second["job_id"])
    assert job["status"] == "failed" and "HTTP 401" in job["error"]
    assert failed["error"] == f"stage 'relabel' failed: {job['error']}"
    assert events(api, run["id"])[-1]["type"] == "failed"
    assert api.post(f"/v1/pipelines/{run['id']}/cancel").status_code == 409

    wait_until(lambda: api.job(job["id"])["progress"]["skipped"] == 5, what="the refused job's items skipped")
    time.sleep(6)  # the refusal is remembered for a few seconds (circuit.REFUSED_S)
    with simulator(stack_env, logs, port=port):
        retried = api.post(f"/v1/pipelines/{run['id']}/retry")
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "running" and retried.json()["current_stage"] == "relabel"
        done = wait_for(api, run["id"])
    assert done["status"] == "succeeded" and done["error"] is None
    # The ordinary retry of the stage's own job; the first stage was not run again.
    assert [s["job_id"] for s in done["stages"]] == [first["job_id"], second["job_id"]]
    assert api.job(second["job_id"])["progress"]["accepted"] == 5
    assert api.post(f"/v1/pipelines/{run['id']}/retry").status_code == 409


def test_cancel_stops_the_running_stage_and_retry_resumes_it(api, start_simulator):
    teacher = api.add_teacher(start_simulator(latency_ms=300), max_concurrency=1)["name"]
    run = submit(api, two_labels(teacher, teacher, seeds=20))
    running = wait_until(
        lambda: (
            (p := pipeline(api, run["id"]))["stages"][0]["progress"] and p["stages"][0]["progress"]["done"] >= 2 and p
        ),
        what="the first stage under way",
    )
    assert running["status"] == "running" and running["current_stage"] == "label"

    cancelled = api.post(f"/v1/pipelines/{run['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled" and [s["status"] for s in body["stages"]] == ["cancelled", "cancelled"]
    first_job = body["stages"][0]["job_id"]
    assert api.job(first_job)["status"] == "cancelled" and body["stages"][1]["job_id"] is None
    assert api.post(f"/v1/pipelines/{run['id']}/cancel").status_code == 409

    assert api.post(f"/v1/pipelines/{run['id']}/retry").status_code == 202
    done = wait_for(api, run["id"], timeout_s=180)
    assert done["status"] == "succeeded", done["error"]
    assert done["stages"][0]["job_id"] == first_job  # the same job ran its skipped items
    assert api.job(first_job)["progress"]["accepted"] == 20
    kinds = [e["type"] for e in events(api, run["id"])]
    assert kinds.index("cancelled") < kinds.index("retried") < kinds.index("succeeded")


def test_cancelling_a_stages_job_directly_fails_the_run(api, start_simulator):
    teacher = api.add_teacher(start_simulator(latency_ms=300), max_concurrency=1)["name"]
    run = submit(api, two_labels(teacher, teacher, seeds=20))
    started = wait_until(lambda: pipeline(api, run["id"])["stages"][0]["job_id"], what="the first stage's job")
    assert api.post(f"/v1/jobs/{started}/cancel").status_code == 200
    failed = wait_for(api, run["id"], timeout_s=30)
    assert failed["status"] == "failed" and failed["error"] == "stage 'label' failed: its job was cancelled"


def test_a_stage_that_cannot_start_fails_the_run_without_a_server_error(api, shared_simulator):
    # Every label is rejected (no answer matches the gold one), so the second stage's input is empty.
    teacher = api.add_teacher(shared_simulator)["name"]
    body = two_labels(teacher, teacher)
    body["stages"][0]["spec"]["seeds"] = [{**s, "answer": "never"} for s in arithmetic_seeds(3)]
    run = submit(api, body)
    failed = wait_for(api, run["id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("stage 'relabel' could not start: source_dataset: stage 'label' made an empty")
    assert failed["stages"][1]["job_id"] is None


@pytest.mark.parametrize(
    ("content", "content_type", "field", "words"),
    [
        ("name: x\nstages: [\n  - {name: a", "application/yaml", "body", "line 3"),
        ("- just\n- a list\n", "text/yaml", "body", "a mapping"),
        ("{not json", "application/json", "body", "line 1"),
        ("name=x", "text/plain", "body", "application/yaml"),
        ("name: x\nstages: []\n", "application/yaml", "stages", "at least 1"),
    ],
)
def test_a_body_that_is_no_pipeline_is_a_422_naming_the_line_or_field(tenant_api, content, content_type, field, words):
    response = tenant_api.post("/v1/pipelines", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["field"] == field and words in error["message"], error


def test_stages_are_checked_at_submission_naming_the_field(tenant_api, other_api, shared_simulator):
    teacher = tenant_api.add_teacher(shared_simulator)["name"]
    theirs = other_api.add_teacher(shared_simulator)["name"]
    cases = [
        (two_labels(teacher, "nobody"), "stages.1.spec.teacher"),
        (two_labels(theirs, teacher), "stages.0.spec.teacher"),
        ({**two_labels(teacher, teacher), "rounds": {"count": 11, "stages": ["relabel"]}}, "rounds.count"),
    ]
    bad_ref = two_labels(teacher, teacher)
    bad_ref["stages"][1]["spec"]["source_dataset"] = "@relabel"
    cases.append((bad_ref, "stages.1.spec.source_dataset"))
    templated = two_labels(teacher, teacher)
    templated["stages"][0]["spec"]["templates"] = {"label": "{{ nope }}"}
    cases.append((templated, "stages.0.spec.templates.label"))
    for body, field in cases:
        response = tenant_api.post("/v1/pipelines", json=body)
        assert response.status_code == 422, response.text
        assert [d["field"] for d in response.json()["error"]["details"]] == [field], response.text
    assert tenant_api.get("/v1/pipelines").json()["data"] == []


def test_another_tenants_pipeline_is_not_found(tenant_api, other_api, shared_simulator):
    teacher = tenant_api.add_teacher(shared_simulator)["name"]
    run = submit(tenant_api, two_labels(teacher, teacher))
    for method, path in [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/report"),
        ("POST", "/cancel"),
        ("POST", "/retry"),
    ]:
        response = other_api.request(method, f"/v1/pipelines/{run['id']}{path}")
        assert response.status_code == 404 and response.json()["error"]["type"] == "not_found", (method, path)
    assert other_api.get("/v1/pipelines").json()["data"] == []
    tenant_api.post(f"/v1/pipelines/{run['id']}/cancel")


def test_every_pipeline_route_is_in_the_openapi_document(test_client):
    paths = test_client.get("/openapi.json").json()["paths"]
    assert {p for p in paths if p.startswith("/v1/pipelines")} == {
        "/v1/pipelines",
        "/v1/pipelines/{pipeline_id}",
        "/v1/pipelines/{pipeline_id}/events",
        "/v1/pipelines/{pipeline_id}/cancel",
        "/v1/pipelines/{pipeline_id}/retry",
        "/v1/pipelines/{pipeline_id}/report",
    }
    body = paths["/v1/pipelines"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/yaml"}


def test_a_run_whose_messages_were_lost_is_moved_on_by_the_reapers_sweep(
    tenant_api, workers, shared_simulator, stack_env, logs
):
    """The database is the ledger: with no worker up, the POST's message is lost with the
    broker's data; a worker started later finds the run in its sweep and runs it."""
    import redis

    from tests.conftest import SHORT_LEASE_S, Workers

    workers.stop()  # the next test that asks for `worker` starts it again
    teacher = tenant_api.add_teacher(shared_simulator)["name"]
    run = submit(tenant_api, two_labels(teacher, teacher))
    redis.Redis.from_url(stack_env["DISTILLERY_BROKER_URL"]).flushdb()
    # Short leases: the sweep runs every 5 s and takes runs queued for SHORT_LEASE_S.
    pool = Workers({**stack_env, "DISTILLERY_LEASE_SECONDS": str(SHORT_LEASE_S)}, logs / "worker-sweep.log")
    pool.start()
    try:
        done = wait_for(tenant_api, run["id"], timeout_s=90)
    finally:
        pool.stop()
    assert done["status"] == "succeeded", done["error"]
    assert [s["status"] for s in done["stages"]] == ["succeeded", "succeeded"]


def test_a_worker_killed_mid_pipeline_is_replaced_and_the_run_goes_on_from_the_ledger(
    tenant_api, short_lease_worker, start_simulator
):
    api, worker = tenant_api, short_lease_worker
    teacher = api.add_teacher(start_simulator(latency_ms=250), max_concurrency=4)["name"]
    run = submit(api, two_labels(teacher, teacher, seeds=24))
    first = wait_until(
        lambda: (
            (j := pipeline(api, run["id"])["stages"][0]["job_id"]) and api.job(j)["progress"]["completed"] >= 4 and j
        ),
        what="the first stage under way",
    )
    worker.kill()  # SIGKILL mid-stage: leases and the pipeline's doorbells lost with it
    assert api.job(first)["progress"]["completed"] < 24
    worker.start()

    done = wait_for(api, run["id"], timeout_s=180)
    assert done["status"] == "succeeded", done["error"]
    label, relabel = done["stages"]
    assert label["job_id"] == first  # the same job resumed, not a second one
    assert len(api.records(first)) == 24 and len(api.records(relabel["job_id"])) == 24
