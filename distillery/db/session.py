"""Engine and sessions. One engine per process, created lazily (after a worker forks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from distillery.settings import get_settings

# orjson parses the JSON columns (records' parsed fields, scores) several times faster than
# the json module: it is most of the work of streaming an export.
_JSON = {"json_deserializer": orjson.loads}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **_JSON)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the one writer; busy_timeout makes writers queue.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock up front: a deferred transaction that later writes can
            # fail with SQLITE_BUSY instead of waiting.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # The pool keeps as many connections as the API's thread pool runs requests at once
    # (anyio's 40): a connection opened beyond pool_size is closed on return, and opening
    # one costs more than the query it serves.
    return create_engine(url, pool_pre_ping=True, pool_size=40, max_overflow=10, **_JSON)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().resolved_database_url)


@lru_cache
def _sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction owned by the edge: commit on success, roll back on any error."""
    session = _sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_engine() -> None:
    """Forget the engine (after fork, or when tests switch databases)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)
    get_engine.cache_clear()
    _sessionmaker.cache_clear()
