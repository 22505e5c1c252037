"""The SSRF guard: which teacher URLs are refused, with and without an allowlist, and the
connection-time check on the address actually connected to."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from distillery.security import teacher_urls
from distillery.security.teacher_urls import Rule, parse_allowlist, refusal

# Internal addresses an attacker tried as teachers (issue 16): all refused by default.
INTERNAL = [
    "http://127.0.0.1:6379/v1",
    "http://127.1/v1",
    "http://localhost:8000/v1",
    "http://0.0.0.0/v1",
    "http://10.0.0.1/v1",
    "http://172.16.5.4/v1",
    "http://192.168.1.1/v1",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/v1",
    "http://224.0.0.1/v1",
    "http://240.0.0.1/v1",
    "http://[::1]/v1",
    "http://[::]/v1",
    "http://[fe80::1]/v1",
    "http://[fc00::1]/v1",
    "http://[fd12:3456::1]/v1",
    "http://[ff02::1]/v1",
    "http://[::ffff:127.0.0.1]/v1",
    "http://[::ffff:169.254.169.254]/v1",
    "http://2130706433/v1",  # 127.0.0.1 as one number
    "http://0x7f000001/v1",
]


@pytest.fixture
def allowlist(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from distillery.settings import get_settings

    def set_to(value: str) -> None:
        monkeypatch.setenv("DISTILLERY_TEACHER_URL_ALLOWLIST", value)
        get_settings.cache_clear()

    set_to("")
    yield set_to
    get_settings.cache_clear()


@pytest.mark.parametrize("url", INTERNAL)
def test_without_an_allowlist_internal_addresses_are_refused(allowlist, url):
    assert refusal(url) is not None, url


def test_public_addresses_and_unresolvable_names_pass_creation(allowlist):
    assert refusal("https://8.8.8.8/v1") is None
    # Not resolvable now: the connection's own check decides when it is called.
    assert refusal("https://teacher.invalid/v1") is None


def test_only_http_urls_without_credentials(allowlist):
    assert refusal("ftp://8.8.8.8/") == "must be an http(s) URL"
    refused = refusal("https://bob:secret@8.8.8.8/v1")
    assert refused is not None and "api_key" in refused and "secret" not in refused


def test_the_allowlist_takes_names_wildcards_ips_cidrs_and_ports():
    assert parse_allowlist(" API.openai.com, *.Example.com. ,10.0.0.0/8, 127.0.0.1:9100, [::1]:81, vllm:8000,") == [
        Rule(host="api.openai.com"),
        Rule(host="*.example.com"),
        Rule(network=ipaddress.ip_network("10.0.0.0/8")),
        Rule(network=ipaddress.ip_network("127.0.0.1/32"), port=9100),
        Rule(network=ipaddress.ip_network("::1/128"), port=81),
        Rule(host="vllm", port=8000),
    ]


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.openai.com/v1", True),
        ("https://API.OpenAI.com./v1", True),
        ("https://eu.example.com/v1", True),
        ("https://example.com/v1", False),  # a wildcard names subdomains only
        ("https://api.openai.com.evil.net/v1", False),
        ("http://10.1.2.3:8000/v1", True),
        ("http://11.1.2.3/v1", False),
        ("http://127.0.0.1:9100/v1", True),
        ("http://127.0.0.1:9101/v1", False),
        ("http://169.254.169.254/", False),
        ("http://vllm:8000/v1", True),
        ("http://vllm:8001/v1", False),
    ],
)
def test_with_an_allowlist_only_what_it_lists(allowlist, url, allowed):
    allowlist("api.openai.com,*.example.com,10.0.0.0/8,127.0.0.1:9100,vllm:8000")
    assert (refusal(url) is None) is allowed, refusal(url)


def test_a_listed_network_admits_names_that_resolve_into_it(allowlist):
    allowlist("127.0.0.0/8")
    assert refusal("http://localhost:9/v1") is None
    allowlist("10.0.0.0/8")
    assert "allowlist" in (refusal("http://localhost:9/v1") or "")


@pytest.fixture
def local_server() -> Iterator[int]:
    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _get(url: str) -> int:
    from distillery.teachers.http import TeacherHTTP

    async def get() -> int:
        http = TeacherHTTP(url, None, 5)
        try:
            return (await http.request("GET", "")).status
        finally:
            await http.close()

    return asyncio.run(get())


def test_connections_go_only_to_the_checked_address(allowlist, local_server, monkeypatch):
    """DNS rebinding: the name is resolved once, checked, and that very address is
    connected to; an internal answer is refused at connection time."""
    from distillery.teachers.http import ConnectionFailed

    answers = {"rebind.test": [ipaddress.ip_address("127.0.0.1")]}
    monkeypatch.setattr(teacher_urls, "resolve", lambda host, port: answers[host])
    with pytest.raises(ConnectionFailed) as refused:
        _get(f"http://rebind.test:{local_server}/")
    assert refused.value.refused and "loopback" in refused.value.refused
    # Listed, the same name reaches the server at the address the guard checked (the
    # system resolver knows no `rebind.test`).
    allowlist("127.0.0.0/8")
    assert _get(f"http://rebind.test:{local_server}/") == 200


def test_a_refused_address_is_a_final_named_failure(allowlist):
    from distillery.teachers import clients
    from distillery.teachers.http import TeacherHTTPError
    from distillery.teachers.retries import as_failure, retryable

    async def call() -> TeacherHTTPError:
        http = clients.teacher_http("http://127.0.0.1:9/v1", None, 5)
        try:
            await http.request("GET", "/models")
        except TeacherHTTPError as exc:
            return exc
        finally:
            await clients.close_all()
        raise AssertionError("the call went through")

    exc = asyncio.run(call())
    assert not retryable(exc)
    assert as_failure(exc).reason == "teacher_address_refused" and "loopback" in as_failure(exc).detail
