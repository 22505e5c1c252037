"""JSON log lines: one object per line with the bound context, every field scrubbed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from distillery.observability.json_logs import JsonFormatter
from distillery.observability.log_context import ContextFilter, bound, current_request_id, request_id_from
from distillery.security.scrub import install_log_filter

TENANT_KEY = "dk_" + "A1b2C3d4" * 5 + "xyz"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    install_log_filter()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("distillery.test_json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, out
    logger.removeHandler(handler)


def _objects(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_object_with_timestamp_level_logger_message_and_the_bound_context(lines) -> None:
    logger, out = lines
    with bound(request_id="req-1", job_id="job_abc"):
        logger.info("planned %d chunks", 3, extra={"chunks": 3})
    logger.info("after")
    first, after = _objects(out)
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert first["timestamp"].endswith("+00:00")  # type: ignore[union-attr]
    assert (first["level"], first["logger"], first["message"]) == ("INFO", logger.name, "planned 3 chunks")
    assert (first["request_id"], first["job_id"], first["chunks"]) == ("req-1", "job_abc", 3)
    assert "request_id" not in after and "job_id" not in after


def test_secrets_in_the_message_extra_fields_and_traceback_are_masked(lines) -> None:
    logger, out = lines
    try:
        raise RuntimeError(f"teacher said: Incorrect API key provided: {TENANT_KEY}")
    except RuntimeError:
        logger.exception("call failed with %s", TENANT_KEY, extra={"url": "https://user:pw@host/v1", "key": TENANT_KEY})
    text = out.getvalue()
    assert TENANT_KEY not in text and "user:pw" not in text
    (line,) = _objects(out)
    assert "RuntimeError" in line["exc_info"]  # type: ignore[operator]
    assert line["url"] == "https://***@host/v1"


def test_binding_nests_and_unwinds() -> None:
    assert current_request_id() is None
    with bound(request_id="outer"), bound(job_id="job_1"):
        assert current_request_id() == "outer"
        with bound(request_id="inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"
    assert current_request_id() is None


@pytest.mark.parametrize("given", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:1.2_x", "a" * 64])
def test_a_callers_sane_request_id_is_kept(given: str) -> None:
    assert request_id_from(given) == given


@pytest.mark.parametrize("given", [None, "", "has space", "a" * 65, "line\nbreak", "-leading", "ünïcode", '"quoted"'])
def test_any_other_gets_a_new_one(given: str | None) -> None:
    made = request_id_from(given)
    assert made != given and len(made) == 32 and int(made, 16) >= 0
