"""Request bodies over DISTILLERY_MAX_REQUEST_MB are a 413, declared or streamed; uploads
have their own, larger limit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def small_limit_server(stack_env, logs) -> Iterator[httpx.Client]:
    """A real server (uvicorn reads chunked bodies as a client streams them) with a 1 MB
    request limit, and a tenant's client for it."""
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key
    from tests.support.server import api_server

    with unit_of_work() as session:
        key = create_key(session, "limits")
    with (
        api_server({**stack_env, "DISTILLERY_MAX_REQUEST_MB": "1"}, logs) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client,
    ):
        yield client


def _big_job(size: int) -> bytes:
    seeds = [{"instruction": "x" * 1000} for _ in range(size // 1000)]
    return json.dumps(
        {"name": "big", "teacher": "t", "method": "label", "skill": {"name": "s"}, "seeds": seeds}
    ).encode()


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["type"] == "payload_too_large"


def test_a_body_over_the_limit_is_a_413_whether_declared_or_streamed(small_limit_server):
    body = _big_job(2 * MIB)
    headers = {"Content-Type": "application/json"}
    declared = small_limit_server.post("/v1/jobs", content=body, headers=headers)
    assert "content-length" in {k.lower() for k in declared.request.headers}
    _assert_too_large(declared)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = small_limit_server.post("/v1/jobs", content=chunks(), headers=headers)
    assert streamed.request.headers.get("transfer-encoding") == "chunked"
    _assert_too_large(streamed)

    # Under the limit, the same route reads the body as usual (here: no such teacher).
    small = small_limit_server.post("/v1/jobs", content=_big_job(100_000), headers=headers)
    assert small.status_code == 422 and small.json()["error"]["details"][0]["field"] == "teacher"


def test_uploads_have_their_own_limit(small_limit_server):
    line = json.dumps({"instruction": "y" * 1000}) + "\n"
    file = (line * (2 * MIB // len(line))).encode()
    response = small_limit_server.post(
        "/v1/datasets/upload", data={"purpose": "seeds", "name": "big-seeds"}, files={"file": ("s.jsonl", file)}
    )
    assert response.status_code == 201, response.text[:300]
    assert response.json()["record_count"] == 2 * MIB // len(line)
