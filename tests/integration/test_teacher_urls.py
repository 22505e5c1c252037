"""The SSRF guard: teachers only at allowed hosts, checked at creation and again by the
worker; a teacher's redirect is never followed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.settings import overridden
from tests.support.stack import Simulator, arithmetic_seeds

pytestmark = pytest.mark.integration


def test_a_teacher_off_the_allowlist_is_refused_at_creation_naming_base_url(other_api, start_simulator):
    sim = start_simulator()
    with overridden(teacher_url_allowlist="api.openai.com, *.example.com"):
        for refused in (sim.base_url, "https://example.com/v1", "https://api.openai.com.evil.net/v1"):
            response = other_api.post("/v1/teachers", json={"name": "t", "base_url": refused, "model": "m"})
            assert response.status_code == 422, response.text
            assert [d["field"] for d in response.json()["error"]["details"]] == ["base_url"]
            assert "allowlist" in response.json()["error"]["message"]
        for i, allowed in enumerate(("https://api.openai.com/v1", "https://eu.example.com/v1")):
            response = other_api.post("/v1/teachers", json={"name": f"ok{i}", "base_url": allowed, "model": "m"})
            assert response.status_code == 201, response.text
    # Unset, any http(s) host is allowed (and other schemes never are).
    assert (
        other_api.post("/v1/teachers", json={"name": "sim", "base_url": sim.base_url, "model": "m"}).status_code == 201
    )
    ftp = other_api.post("/v1/teachers", json={"name": "ftp", "base_url": "ftp://files.example.com", "model": "m"})
    assert ftp.status_code == 422


def test_a_teacher_created_before_the_allowlist_is_not_called_by_the_worker(
    api, worker, start_simulator, stack_env, logs
):
    from app.cli.stack import process

    sim = start_simulator()
    teacher = api.add_teacher(sim)  # allowed then: the API has no allowlist
    worker.stop()
    try:
        env = {**stack_env, "DISTILLERY_TEACHER_URL_ALLOWLIST": "api.openai.com"}
        args = ["worker", "--concurrency", "1", "--loglevel", "INFO"]
        with process(args, env, logs / "worker-allowlist.log"):
            job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(3))["id"])
    finally:
        worker.start()
    assert job["status"] == "failed"
    assert teacher["name"] in job["error"] and "allowlist" in job["error"], job["error"]
    assert sim.stats()["requests"] == 0


@pytest.fixture
def redirecting_teacher(start_simulator) -> Iterator[tuple[str, Simulator]]:
    """A teacher endpoint that answers every request with a 307 to a simulator on another
    host name (localhost, where the teacher is 127.0.0.1)."""
    sim = start_simulator()
    target = sim.base_url.replace("127.0.0.1", "localhost")

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(307)
            self.send_header("Location", target + self.path.removeprefix("/v1"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", sim
    server.shutdown()
    server.server_close()


def test_a_teacher_that_redirects_elsewhere_is_not_followed(api, redirecting_teacher):
    base_url, sim = redirecting_teacher
    teacher = api.add_teacher(sim, base_url=base_url)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(2))["id"])
    records = api.records(job["id"])
    assert records and {r["reject_reason"] for r in records} == {"teacher_http_307"}
    assert sim.stats()["requests"] == 0
