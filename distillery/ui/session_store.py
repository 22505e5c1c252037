"""Where dashboard sessions live, server-side, so that signing out ends one for good.

A session is a random id in the browser's cookie and, here, the tenant key sealed under
the server's secret, stored under the id's SHA-256 (a copy of the store is neither a
cookie nor a key). With a Redis broker the store is Redis (every API process and host
sees one session, and a key expires with its session); in the embedded mode it is one
file per session in data_dir/ui-sessions (every process of `distillery serve --workers N`
sees it, and a restart keeps it). Chosen over a stateless cookie with a revocation list
because a lost store fails safe: the sessions end, instead of revoked ones coming back.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import redis

from distillery.settings import get_settings

KEY_PREFIX = "distillery:ui-session:"
# A sign-in waits at most this long for a Redis that does not answer.
REDIS_TIMEOUT_S = 2.0


class StoreUnavailable(Exception):
    """The session store cannot be reached: nobody can sign in or be recognised now."""


class SessionStore(Protocol):
    def put(self, session_id: str, sealed_key: str, ttl_s: int) -> None: ...

    def get(self, session_id: str) -> str | None: ...

    def drop(self, session_id: str) -> None: ...


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class RedisSessions:
    def __init__(self, url: str) -> None:
        self._redis = _client(url)

    def put(self, session_id: str, sealed_key: str, ttl_s: int) -> None:
        self._call(self._redis.set, KEY_PREFIX + _digest(session_id), sealed_key, ex=ttl_s)

    def get(self, session_id: str) -> str | None:
        value = self._call(self._redis.get, KEY_PREFIX + _digest(session_id))
        return value.decode() if value is not None else None

    def drop(self, session_id: str) -> None:
        self._call(self._redis.delete, KEY_PREFIX + _digest(session_id))

    @staticmethod
    def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from None


@lru_cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)


class FileSessions:
    """One file per session: `<expiry epoch>\\n<sealed key>`, readable only by us."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put(self, session_id: str, sealed_key: str, ttl_s: int) -> None:
        self._sweep()
        fd = os.open(self._dir / _digest(session_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{time.time() + ttl_s:.0f}\n{sealed_key}")

    def get(self, session_id: str) -> str | None:
        path = self._dir / _digest(session_id)
        try:
            expires, sealed = path.read_text().split("\n", 1)
        except (FileNotFoundError, ValueError):
            return None
        if float(expires) < time.time():
            path.unlink(missing_ok=True)
            return None
        return sealed

    def drop(self, session_id: str) -> None:
        (self._dir / _digest(session_id)).unlink(missing_ok=True)

    def _sweep(self) -> None:
        """Delete expired sessions (at each sign-in: an embedded server has a few)."""
        now = time.time()
        for path in self._dir.iterdir():
            try:
                if float(path.read_text().split("\n", 1)[0]) < now:
                    path.unlink(missing_ok=True)
            except (OSError, ValueError):
                continue


def session_store() -> SessionStore:
    settings = get_settings()
    url = settings.pacing_redis_url
    return RedisSessions(url) if url else FileSessions(settings.data_dir / "ui-sessions")
