"""The SSRF guard: teachers only at public or allowed addresses, checked at creation and again by the
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
    # Listed (the test stack lists 127.0.0.1), the simulator is allowed; other schemes never are.
    assert (
        other_api.post("/v1/teachers", json={"name": "sim", "base_url": sim.base_url, "model": "m"}).status_code == 201
    )
    ftp = other_api.post("/v1/teachers", json={"name": "ftp", "base_url": "ftp://files.example.com", "model": "m"})
    assert ftp.status_code == 422


def test_without_an_allowlist_internal_addresses_are_refused_at_creation(other_api):
    internal = [
        "http://127.0.0.1:6379/v1",
        "http://localhost:8000/v1",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/v1",
        "http://192.168.0.1/v1",
        "http://[::1]:8000/v1",
        "http://[fd00::1]/v1",
        "http://0.0.0.0:8000/v1",
    ]
    with overridden(teacher_url_allowlist=""):
        for i, url in enumerate(internal):
            response = other_api.post("/v1/teachers", json={"name": f"in{i}", "base_url": url, "model": "m"})
            assert response.status_code == 422, (url, response.text)
            error = response.json()["error"]
            assert [d["field"] for d in error["details"]] == ["base_url"] and "address" in error["message"]
        # Credentials in the URL: refused wherever it points, and not echoed.
        body = {"name": "creds", "base_url": "https://bob:hunter2@8.8.8.8/v1", "model": "m"}
        response = other_api.post("/v1/teachers", json=body)
        assert response.status_code == 422 and "api_key" in response.text and "hunter2" not in response.text


@pytest.mark.parametrize(("allowlist", "why"), [("api.openai.com", "allowlist"), ("", "loopback address")])
def test_a_teacher_created_before_the_allowlist_is_not_called_by_the_worker(
    api, worker, start_simulator, stack_env, logs, allowlist, why
):
    from distillery.cli.stack import process

    sim = start_simulator()
    teacher = api.add_teacher(sim)  # allowed then: the API lists 127.0.0.1
    worker.stop()
    try:
        env = {**stack_env, "DISTILLERY_TEACHER_URL_ALLOWLIST": allowlist}
        args = ["worker", "--concurrency", "1", "--loglevel", "INFO"]
        with process(args, env, logs / "worker-allowlist.log"):
            job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(3))["id"])
    finally:
        worker.start()
    assert job["status"] == "failed"
    assert teacher["name"] in job["error"] and why in job["error"], job["error"]
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
