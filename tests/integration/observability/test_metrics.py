"""/metrics: teacher counters flushed by worker processes, live job and queue state; the
per-teacher series only for a scrape with the metrics token."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete

from distillery.db.base import new_id, utcnow
from distillery.db.models import Job, WorkItem
from distillery.db.session import unit_of_work
from distillery.observability import collector, teacher_metrics
from distillery.queue import SYNTHESIS, TRAINING, celery_app
from distillery.security.api_keys import tenant_for_key
from tests.support.server import api_server
from tests.support.settings import overridden
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TOKEN = "metrics-" + secrets.token_hex(16)


def _scrape(test_client: Any, *, operator: bool = True) -> tuple[str, Samples]:
    """A scrape with the metrics token (it sees every teacher), or one with none configured."""
    if operator:
        with overridden(metrics_token=TOKEN):
            response = test_client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    else:
        response = test_client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def _add_teacher(api: Any, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/teachers", json={"name": f"metrics-{secrets.token_hex(3)}", "model": "m", **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_teacher_counters_flushed_by_workers_are_scraped_with_the_teacher_name(other_api, test_client):
    secret, base_url = "sk-metrics-" + secrets.token_hex(16), f"http://127.0.0.1:9/v1/{secrets.token_hex(4)}"
    teacher = _add_teacher(other_api, base_url=base_url, api_key=secret)
    gone = _add_teacher(other_api, base_url="http://127.0.0.1:9/v1")
    tid = teacher["id"]

    for outcome, latency in [("ok", 0.04), ("ok", 0.3), ("ok", 0.3), ("rate_limited", 0.01), ("server_error", 12.0)]:
        teacher_metrics.record_request(tid, outcome, latency)
    teacher_metrics.record_usage(tid, 1000, 250, Decimal("0.0035"))
    teacher_metrics.record_request(gone["id"], "ok", 1.0)
    with unit_of_work() as session:
        teacher_metrics.flush(session)
    # A second flush (another process, or later) adds to the stored counters.
    teacher_metrics.record_request(tid, "ok", 0.3)
    teacher_metrics.record_usage(tid, 1000, 250, 0.0035)
    with unit_of_work() as session:
        teacher_metrics.flush(session)
    assert other_api.request("DELETE", f"/v1/teachers/{gone['id']}").status_code == 204

    text, samples = _scrape(test_client)
    ids = {"teacher_id": tid, "teacher": teacher["name"]}
    requests = {
        o: _value(samples, "distillery_teacher_requests_total", **ids, outcome=o) for o in teacher_metrics.OUTCOMES
    }
    assert requests == {
        "ok": 4,
        "rate_limited": 1,
        "server_error": 1,
        "timeout": 0,
        "connection_error": 0,
        "client_error": 0,
    }
    assert _value(samples, "distillery_teacher_tokens_total", **ids, kind="prompt") == 2000
    assert _value(samples, "distillery_teacher_tokens_total", **ids, kind="completion") == 500
    assert _value(samples, "distillery_teacher_cost_usd_total", **ids) == pytest.approx(0.007)

    histogram = "distillery_teacher_request_duration_seconds"
    assert _value(samples, f"{histogram}_count", **ids) == 6
    assert _value(samples, f"{histogram}_sum", **ids) == pytest.approx(12.95)
    buckets = {
        le: _value(samples, f"{histogram}_bucket", **ids, le=le)
        for le in ("0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf")
    }
    assert buckets == {
        "0.05": 2,
        "0.1": 2,
        "0.25": 2,
        "0.5": 5,
        "1.0": 5,
        "2.5": 5,
        "5.0": 5,
        "10.0": 5,
        "30.0": 6,
        "60.0": 6,
        "+Inf": 6,
    }

    # A deleted teacher keeps its counters under its id, with an empty name.
    assert _value(samples, "distillery_teacher_requests_total", teacher_id=gone["id"], teacher="", outcome="ok") == 1
    assert secret not in text and base_url not in text and other_api.key not in text


def test_work_items_and_jobs_by_state(other_api, test_client):
    with unit_of_work() as session:
        tenant_id = tenant_for_key(session, other_api.key)
    _, before = _scrape(test_client)

    # A running job nobody works on (its leases outlast the test, so the reaper leaves it
    # be) and a finished job, whose items are not counted. Both are deleted afterwards.
    running, finished = new_id("job"), new_id("job")
    lease = utcnow() + timedelta(hours=1)
    states = ["pending", "pending", "running", "done", "done", "done", "failed", "skipped"]
    with unit_of_work() as session:
        for job_id, status in ((running, "running"), (finished, "succeeded")):
            session.add(
                Job(
                    id=job_id,
                    tenant_id=tenant_id,
                    name="metrics",
                    method="label",
                    spec={},
                    status=status,
                    started_at=utcnow(),
                )
            )
        session.flush()
        session.add_all(
            WorkItem(job_id=job_id, position=i, seed_ids=[i], payload={}, status=state, leased_until=lease)
            for job_id, items in ((running, states), (finished, ["done"] * 5))
            for i, state in enumerate(items)
        )
    try:
        _, after = _scrape(test_client)
    finally:
        with unit_of_work() as session:
            session.execute(delete(Job).where(Job.id.in_((running, finished))))

    def delta(name: str, label: str, value: str) -> float:
        return _value(after, name, **{label: value}) - _value(before, name, **{label: value})

    work_items = {
        s: delta("distillery_work_items", "state", s) for s in ("pending", "running", "done", "failed", "skipped")
    }
    assert work_items == {"pending": 2, "running": 1, "done": 3, "failed": 1, "skipped": 1}
    jobs = {s: delta("distillery_jobs", "status", s) for s in ("queued", "running", "succeeded", "failed", "cancelled")}
    assert jobs == {"queued": 0, "running": 1, "succeeded": 1, "failed": 0, "cancelled": 0}


def test_queue_depth_counts_waiting_messages_on_the_redis_broker(test_client, monkeypatch):
    busy, idle = f"metrics-busy-{secrets.token_hex(3)}", f"metrics-idle-{secrets.token_hex(3)}"
    monkeypatch.setattr(collector, "QUEUES", (SYNTHESIS, TRAINING, busy, idle))
    for _ in range(3):
        celery_app().send_task("distillery.test.never_run", queue=busy)
    try:
        _, samples = _scrape(test_client)
    finally:
        with celery_app().connection_for_write() as conn:
            conn.default_channel.queue_delete(busy)

    assert _value(samples, "distillery_queue_depth", queue=busy) == 3
    # Redis keeps no key for an empty queue: that is a depth of 0, not a missing gauge.
    assert _value(samples, "distillery_queue_depth", queue=idle) == 0
    assert _value(samples, "distillery_queue_depth", queue=SYNTHESIS) >= 0
    assert _value(samples, "distillery_queue_depth", queue=TRAINING) >= 0


def test_a_broker_that_is_down_leaves_out_only_the_queue_depth(test_client, monkeypatch):
    from celery import Celery

    down = Celery("down", broker="redis://127.0.0.1:1/0")
    monkeypatch.setattr(collector, "celery_app", lambda: down)
    text, _ = _scrape(test_client)
    assert "distillery_queue_depth" not in text
    assert "distillery_jobs{" in text


def test_metrics_is_not_in_the_openapi_document(test_client):
    assert "/metrics" not in test_client.get("/openapi.json").json()["paths"]


def test_a_jobs_teacher_calls_show_in_metrics(api, start_simulator, test_client):
    # A limit the teacher's configuration does not know: the job meets it through 429s.
    sim = start_simulator(rpm=600, limit_headers=False, seed=4)
    teacher = api.add_teacher(sim, max_concurrency=16)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(40))["id"], timeout_s=120)
    assert job["status"] == "succeeded"

    stats = sim.stats()
    _, samples = _scrape(test_client)
    ids = {"teacher_id": teacher["id"], "teacher": teacher["name"]}
    assert _value(samples, "distillery_teacher_requests_total", **ids, outcome="ok") == stats["completions"] == 40
    refused = stats["status_counts"].get("429", 0)
    assert refused > 0
    assert _value(samples, "distillery_teacher_requests_total", **ids, outcome="rate_limited") == refused
    assert _value(samples, "distillery_teacher_request_duration_seconds_count", **ids) == stats["requests"]
    assert _value(samples, "distillery_teacher_tokens_total", **ids, kind="prompt") == job["usage"]["prompt_tokens"]
    assert _value(samples, "distillery_teacher_cost_usd_total", **ids) == pytest.approx(job["usage"]["cost_usd"])


def test_with_a_token_configured_a_scrape_without_it_or_with_a_wrong_one_is_refused(test_client):
    with overridden(metrics_token=TOKEN):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}):
            response = test_client.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["type"] == "unauthenticated"
            assert "distillery_" not in response.text and TOKEN not in response.text


def test_without_a_token_teachers_are_summed_and_no_teacher_or_tenant_is_named(other_api, test_client):
    teacher = _add_teacher(other_api, base_url="http://127.0.0.1:9/v1")
    _, before = _scrape(test_client, operator=False)
    teacher_metrics.record_request(teacher["id"], "ok", 0.3)
    teacher_metrics.record_request(teacher["id"], "timeout", 30.0)
    teacher_metrics.record_usage(teacher["id"], 100, 20, Decimal("0.001"))
    with unit_of_work() as session:
        teacher_metrics.flush(session)
        tenant_id = tenant_for_key(session, other_api.key)

    text, after = _scrape(test_client, operator=False)
    assert teacher["id"] not in text and teacher["name"] not in text and str(tenant_id) not in text
    assert "teacher_id=" not in text and "teacher=" not in text

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("distillery_teacher_requests_total", outcome="ok") == 1
    assert delta("distillery_teacher_requests_total", outcome="timeout") == 1
    assert delta("distillery_teacher_tokens_total", kind="prompt") == 100
    assert delta("distillery_teacher_cost_usd_total") == pytest.approx(0.001)
    assert delta("distillery_teacher_request_duration_seconds_count") == 2
    assert delta("distillery_teacher_request_duration_seconds_bucket", le="0.5") == 1
    # The rest of the figures name no tenant and are there without a token.
    assert "distillery_jobs{" in text and "distillery_work_items{" in text


def test_http_requests_are_counted_by_method_route_template_and_status(other_api, test_client):
    _, before = _scrape(test_client, operator=False)
    missing = [f"job_{secrets.token_hex(12)}" for _ in range(3)]
    for job_id in missing:
        assert other_api.get(f"/v1/jobs/{job_id}").status_code == 404
    assert other_api.get("/v1/jobs").status_code == 200
    assert test_client.get("/v1/jobs").status_code == 401
    assert other_api.get(f"/no/such/{secrets.token_hex(4)}").status_code == 404
    text, after = _scrape(test_client, operator=False)

    def grew(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    requests = "distillery_http_requests_total"
    assert grew(requests, method="GET", route="/v1/jobs/{job_id}", status="404") == 3
    assert grew(requests, method="GET", route="/v1/jobs", status="200") == 1
    assert grew(requests, method="GET", route="/v1/jobs", status="401") == 1
    assert grew(requests, method="GET", route="unmatched", status="404") == 1
    assert grew("distillery_http_request_duration_seconds_count", method="GET", route="/v1/jobs/{job_id}") == 3
    # The route template, never the path: no job id, no unknown path; /metrics itself is not counted.
    assert not any(job_id in text for job_id in missing) and "/no/such" not in text
    assert 'route="/metrics"' not in text


def test_with_several_api_processes_any_scrape_counts_every_processs_requests(stack_env, logs, tenant_api):
    with api_server(stack_env, logs, workers=2) as url:
        headers = {"Authorization": f"Bearer {tenant_api.key}"}
        # A new connection each time, so the kernel spreads them over both processes.
        for _ in range(40):
            assert httpx.get(f"{url}/v1/jobs", headers=headers).status_code == 200
        for _ in range(6):
            scrape = httpx.get(f"{url}/metrics")
            counts = {
                (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
                for family in text_string_to_metric_families(scrape.text)
                for s in family.samples
                if s.name == "distillery_http_requests_total"
            }
            assert counts[("GET", "/v1/jobs", "200")] == 40
