"""A Redis connection for the parity tests, which run the service's Lua scripts directly."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    db = os.environ.get("DISTILLERY_TEST_REDIS_DB", "13")
    connection = redis.Redis.from_url(f"redis://127.0.0.1:6379/{db}")
    yield connection
    connection.close()
