"""Hand-made nasty inputs against every POST route of a real `distillery serve`: lone
surrogates, NUL, deep nesting, huge and non-finite numbers, wrong types, 10k-element
arrays, in every field. None gets a 5xx, and none closes the keep-alive connection (a 500
does: uvicorn drops the connection after the error handler answers), which the in-process
TestClient cannot show: here every request goes over one HTTP connection."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.server import api_server

pytestmark = pytest.mark.integration


def _nested(depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


# A value for any field; json.dumps writes the surrogates as \ud800 escapes, which the
# server's JSON parser turns back into lone surrogates.
NASTY: list[Any] = [
    "\ud800",
    "ok\udfffok",
    "a\x00b",
    "",
    " ",
    "x" * 200_000,
    "\u202e\ufeff\u0301",
    -1,
    0,
    2**63,
    10**400,
    -(10**400),
    1.5,
    float("inf"),
    float("nan"),
    True,
    None,
    [],
    {},
    ["\ud800"],
    {"\ud800": 1},
    {"a\x00": 1},
    list(range(10_000)),
    ["x"] * 10_000,
    [{"instruction": "q"}] * 10_000,
    _nested(33),
    _nested(100),
]
# Whole bodies, as bytes.
RAW_BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b'"\\ud800"',
    b"{",
    b'{"a": 1,}',
    b"\xff\xfe{}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"k":' * 100_000 + b"1" + b"}" * 100_000,
    b"[" * 200 + b"]" * 200,
    b"1" + b"0" * 5000,
    b"NaN",
    b'{"name": "x", "name": "y"}',
]


def _bases(teacher: str, dataset_id: str) -> dict[str, dict[str, Any]]:
    """A body per route, valid or nearly so, for the nasty values to be planted in."""
    return {
        "/v1/teachers": {
            "name": "t",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "m",
            "api_key": "sk-nasty-" + secrets.token_hex(8),
            "rpm": 60,
        },
        "/v1/jobs": {
            "name": "j",
            "teacher": teacher,
            "method": "label",
            "skill": {"name": "s", "output_format": "json", "output_schema": {"type": "object"}},
            "seeds": [{"instruction": "q", "answer": "a"}],
            "params": {"temperature": 0.0},
            "budget": {"max_requests": 1},
        },
        "/v1/jobs/job_missing/retry": {"items": "failed"},
        "/v1/datasets": {"name": "d", "sources": [{"dataset": dataset_id}], "filters": {"min_score": 0.5}},
        f"/v1/datasets/{dataset_id}/curate": {"name": "c", "curation": {"dedup": True}},
        "/v1/training-jobs": {
            "dataset_id": dataset_id,
            "method": "sft",
            "base_model": "no/such-model",
            "hyperparameters": {"epochs": 1},
            "lora": {"r": 8},
        },
    }


def _paths(body: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in `body` a value could go: each key, and each list's first element."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(body, list) and body:
        yield (*prefix, 0)
        yield from _paths(body[0], (*prefix, 0))


def _planted(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return copy


class Connection:
    """One keep-alive HTTP connection: asserts every answer is under 500 and came over the
    same connection, without `Connection: close`."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.address: Any = None
        self.sent = 0

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.post(path, **kwargs)
        self.sent += 1
        what = f"POST {path} {str(kwargs)[:300]}"
        assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
        assert response.headers.get("connection", "").lower() != "close", f"{what}: the server closed the connection"
        address = response.extensions["network_stream"].get_extra_info("client_addr")
        if self.address is None:
            self.address = address
        assert address == self.address, f"{what}: answered on a new connection"
        return response

    def post_json(self, path: str, body: Any) -> httpx.Response:
        content = json.dumps(body, allow_nan=True).encode()
        return self.post(path, content=content, headers={"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def connection(stack_env, logs) -> Iterator[Connection]:
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key

    with unit_of_work() as session:
        key = create_key(session, f"nasty-{secrets.token_hex(4)}")
    # As fast as it can send, and jobs that would be accepted (few are) stay under any cap.
    env = {**stack_env, "DISTILLERY_TENANT_RPS": "0", "DISTILLERY_TENANT_MAX_ACTIVE_JOBS": "0"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with (
        api_server(env, logs) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=limits) as client,
    ):
        yield Connection(client)


@pytest.fixture(scope="module")
def bases(connection: Connection) -> dict[str, dict[str, Any]]:
    teacher = connection.post_json(
        "/v1/teachers", {"name": f"nasty-{secrets.token_hex(3)}", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    )
    assert teacher.status_code == 201, teacher.text
    seeds = b'{"instruction": "q", "output": "a"}\n'
    upload = connection.post(
        "/v1/datasets/upload", files={"file": ("s.jsonl", seeds)}, data={"purpose": "seeds", "name": "nasty-seeds"}
    )
    assert upload.status_code == 201, upload.text
    return _bases(teacher.json()["name"], upload.json()["id"])


def test_no_value_in_any_field_of_any_post_body_gets_a_5xx_or_closes_the_connection(connection, bases):
    for path, base in bases.items():
        for place in _paths(base):
            for value in NASTY:
                connection.post_json(path, _planted(base, place, value))
        # Unknown fields, with nasty names.
        for key in ("\ud800", "a\x00", "x" * 10_000):
            connection.post_json(path, {**base, key: 1})
    assert connection.sent > 1000


def test_no_whole_body_gets_a_5xx_or_closes_the_connection(connection, bases):
    for path in [*bases, "/v1/jobs/job_missing/cancel", "/v1/training-jobs/tj_missing/cancel"]:
        for value in NASTY:
            connection.post_json(path, value)
        for raw in RAW_BODIES:
            connection.post(path, content=raw, headers={"Content-Type": "application/json"})
        connection.post(path, content=b"<xml/>", headers={"Content-Type": "application/xml"})


def test_a_body_over_the_limit_is_a_413_on_the_same_connection(connection):
    too_big = b"[" + b"1," * (17 * 1024 * 1024) + b"1]"  # 34 MB; the limit is 32
    response = connection.post("/v1/jobs", content=too_big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    chunks = (b"1," * 1024 * 1024 for _ in range(17))  # streamed: no Content-Length
    response = connection.post("/v1/jobs", content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_the_known_root_causes_are_named_4xx(connection, bases):
    teacher = {**bases["/v1/teachers"], "api_key": "sk-\ud800"}
    response = connection.post_json("/v1/teachers", teacher)
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "api_key"
    job = bases["/v1/jobs"]
    deep = _planted(job, ("skill", "output_schema"), _nested(100, {"type": "object"}))
    response = connection.post_json("/v1/jobs", deep)
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"].startswith(
        "skill.output_schema"
    )
    assert "nested deeper than 32 levels" in response.text
    response = connection.post("/v1/jobs", content=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 422 and response.json()["error"]["details"][0]["field"] == "body"


def test_nasty_upload_lines_are_named_bad_lines(connection):
    lines = [
        b'{"instruction": "\\ud800"}',
        b'{"instruction": "a\\u0000b"}',
        b'{"instruction": "q", "k":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"instruction": "q", "metadata": ' + json.dumps(_nested(40)).encode() + b"}",
        b'{"instruction": ' + b"1" + b"0" * 5000 + b"}",
        b'{"instruction": NaN}',
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"instruction": "ok"}',
    ]
    response = connection.post(
        "/v1/datasets/upload", files={"file": ("s.jsonl", b"\n".join(lines))}, data={"purpose": "seeds", "name": "n"}
    )
    assert response.status_code == 422, response.text
    bad = {d["line"] for d in response.json()["error"]["details"]}
    assert bad == set(range(1, len(lines))), response.text
    for value in NASTY[:8]:
        # A form field's bytes as sent: a lone surrogate's UTF-8-like encoding is invalid UTF-8.
        for name in ("\ud800".encode("utf-8", "surrogatepass"), b"a\x00b", b"x" * 1000, b"\xff"):
            files = {"file": ("s.jsonl", json.dumps({"instruction": value}).encode())}
            connection.post("/v1/datasets/upload", files=files, data={"purpose": "seeds", "name": name})
