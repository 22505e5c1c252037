"""Every answer carries X-Request-ID, a 500 included; a route sees the id it answers with."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from distillery.api import errors, request_ids
from distillery.observability.log_context import current_request_id


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/seen")
    def seen() -> dict[str, str | None]:
        return {"request_id": current_request_id()}

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    request_ids.install(app)
    return app


def test_the_callers_id_is_answered_and_seen_by_the_route() -> None:
    with TestClient(_app()) as client:
        response = client.get("/seen", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123" and response.json() == {"request_id": "abc-123"}


def test_without_one_each_request_gets_its_own() -> None:
    with TestClient(_app()) as client:
        first, second = client.get("/seen"), client.get("/seen", headers={"X-Request-ID": "two words"})
    ids = [r.headers["X-Request-ID"] for r in (first, second)]
    assert ids[0] != ids[1] and [r.json()["request_id"] for r in (first, second)] == ids


def test_a_500_carries_the_id_too() -> None:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        response = client.get("/broken", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500 and response.headers["X-Request-ID"] == "req-500"
    assert response.json()["error"]["type"] == "internal_error"
