"""Fixtures. Integration tests run against real services: a fresh Postgres database per
session, Redis as the broker, a `distillery worker` subprocess and simulator subprocesses.

The suite runs in parallel (pytest-xdist, `-n` in pyproject's addopts; `-n 0` runs it in
this process). Each xdist worker is a session of its own: its own Postgres database, data
dir, worker subprocess, log folder and Redis database, DISTILLERY_TEST_REDIS_DB (default 8)
plus its index (gw0 → 8, gw1 → 9, ...), so at most 16 - base workers fit.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
# "gw0", "gw1", ... in an xdist worker; "" when the suite runs in one process.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
REDIS_DATABASES = 16


def session_redis_db() -> int:
    """This session's Redis database: the base plus the xdist worker's index."""
    base = int(os.environ.get("DISTILLERY_TEST_REDIS_DB", "8"))
    db = base + int(XDIST_WORKER.removeprefix("gw") or 0)
    if db >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"xdist worker {XDIST_WORKER} would use Redis db {db}: lower DISTILLERY_TEST_REDIS_DB ({base}) or -n"
        )
    return db


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each of schemathesis' items (one per API operation) its operation in its node
    id. Under pytest 9 they all share the test's id, and xdist schedules a file's tests by
    id (`--dist loadfile`), so all but the first operation would silently never run."""
    for item in items:
        label = getattr(item, "operation_label", None)
        node_id = getattr(item, "_id", None)
        if label and node_id is not None and getattr(node_id, "params", "") is None:
            item._id = node_id.with_params(label)
    # Long files first: xdist hands files out in this order, and one started last keeps the
    # whole run waiting on it while the other workers idle.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _reset_cached_config() -> None:
    from distillery.db.session import reset_engine
    from distillery.queue import celery_app
    from distillery.security import secrets as secret_box
    from distillery.settings import get_settings

    get_settings.cache_clear()
    celery_app.cache_clear()
    secret_box._fernet.cache_clear()
    reset_engine()


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of the whole stack, applied to this process and every subprocess."""
    from distillery.db.migrate import upgrade
    from tests.support.stack import postgres_database

    redis_db = session_redis_db()
    with postgres_database() as database_url:
        env = {
            "DISTILLERY_DATABASE_URL": database_url,
            "DISTILLERY_BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
            "DISTILLERY_DATA_DIR": str(tmp_path_factory.mktemp("data")),
            "DISTILLERY_SECRET_KEY": secrets.token_urlsafe(32),
            # Short leases so the reaper's work is visible within a test.
            "DISTILLERY_LEASE_SECONDS": "30",
            "DISTILLERY_TEACHER_MAX_ATTEMPTS": "8",
            "DISTILLERY_BATCH_POLL_S": "0.2",
            # The training tests build their tiny models in pytest's temporary folders.
            "DISTILLERY_MODEL_DIRS": str(tmp_path_factory.getbasetemp()),
            # The simulators run on loopback, which the SSRF guard refuses unless listed.
            "DISTILLERY_TEACHER_URL_ALLOWLIST": "127.0.0.1",
        }
        import redis

        redis.Redis.from_url(env["DISTILLERY_BROKER_URL"]).flushdb()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        _reset_cached_config()
        upgrade()
        yield env
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reset_cached_config()


@pytest.fixture
def embedded_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The embedded mode's database (SQLite in the data dir), migrated, with the core
    tenant and teacher (tests/support/ledger_db.py), for this test alone: `unit_of_work()`
    and the group commit use it. No Redis, no subprocess."""
    from tests.support.ledger_db import fresh_database

    fresh_database(tmp_path)
    yield from _ledger_db(monkeypatch, tmp_path, "")


@pytest.fixture
def postgres_db(stack_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As `embedded_db`, on the session's Postgres database: for what only concurrent
    transactions under Postgres' row locks show. The test's jobs are closed afterwards, so
    that the session's worker leaves them alone."""
    from sqlalchemy import update

    from distillery.db.models import Job
    from distillery.db.session import unit_of_work
    from distillery.schemas.status import ACTIVE_STATUSES, JobStatus
    from tests.support.ledger_db import TENANT

    yield from _ledger_db(monkeypatch, tmp_path, stack_env["DISTILLERY_DATABASE_URL"])
    with unit_of_work() as session:
        session.execute(
            update(Job)
            .where(Job.tenant_id == TENANT, Job.status.in_(ACTIVE_STATUSES))
            .values(status=JobStatus.CANCELLED)
        )


def _ledger_db(monkeypatch: pytest.MonkeyPatch, data_dir: Path, database_url: str) -> Iterator[None]:
    from distillery.db.session import unit_of_work
    from tests.support.ledger_db import add_tenant_and_teacher

    monkeypatch.setenv("DISTILLERY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DISTILLERY_DATABASE_URL", database_url)
    monkeypatch.setenv("DISTILLERY_BROKER_URL", "")
    _reset_cached_config()
    with unit_of_work() as session:
        add_tenant_and_teacher(session)
    yield
    monkeypatch.undo()
    _reset_cached_config()


@pytest.fixture(scope="session")
def logs() -> Path:
    path = ARTIFACTS / "logs" / XDIST_WORKER  # one folder per xdist worker
    path.mkdir(parents=True, exist_ok=True)
    return path


class Workers:
    """The `distillery worker` subprocess, which a test may kill (SIGKILL) and restart."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from distillery.cli.stack import spawn

        self.proc = spawn(["worker", "--concurrency", "2", "--loglevel", "INFO"], self.env, self.log)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        from distillery.cli.stack import stop

        if self.proc is not None:
            stop(self.proc)


@pytest.fixture(scope="session")
def workers(stack_env: dict[str, str], logs: Path) -> Iterator[Workers]:
    """The session's worker, started by the first test that asks for `worker`."""
    pool = Workers(stack_env, logs / "worker.log")
    yield pool
    pool.stop()


@pytest.fixture
def worker(workers: Workers) -> Workers:
    """The session's worker, running (started again if a test stopped or killed it)."""
    if workers.proc is None or workers.proc.poll() is not None:
        workers.start()
    return workers


# Leases of the worker that kill tests kill: its items are free again this long after the
# kill (then the reaper, every max(5 s, a quarter lease), dispatches them), not 30 s.
SHORT_LEASE_S = 10


@pytest.fixture
def short_lease_worker(workers: Workers, stack_env: dict[str, str], logs: Path) -> Iterator[Workers]:
    """A worker of its own with short leases, for a test that kills it and waits for the
    reaper. The session's worker is stopped meanwhile (the next test that asks for
    `worker` starts it again), so no other worker takes the items first."""
    workers.stop()
    pool = Workers({**stack_env, "DISTILLERY_LEASE_SECONDS": str(SHORT_LEASE_S)}, logs / "worker-short-lease.log")
    pool.start()
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def test_client(stack_env: dict[str, str]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from distillery.main import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        yield client


def _new_tenant_api(test_client: Any) -> Any:
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import create_key
    from tests.support.stack import Api

    with unit_of_work() as session:
        key = create_key(session, f"tenant-{secrets.token_hex(4)}")
    return Api(test_client, key)


@pytest.fixture
def api(test_client: Any, worker: Workers) -> Any:
    """A fresh tenant, with the worker running."""
    return _new_tenant_api(test_client)


@pytest.fixture
def tenant_api(test_client: Any) -> Any:
    """A fresh tenant; no worker is started for it (the test brings its own)."""
    return _new_tenant_api(test_client)


@pytest.fixture
def other_api(test_client: Any) -> Any:
    """A second, unrelated tenant."""
    return _new_tenant_api(test_client)


@pytest.fixture(scope="module")
def shared_simulator(stack_env: dict[str, str], logs: Path) -> Iterator[Any]:
    """One default simulator for a file's tests that neither set its flags nor count its
    requests: starting a process per test costs more than most of them take."""
    from tests.support.stack import simulator

    with simulator(stack_env, logs) as sim:
        yield sim


@pytest.fixture
def start_simulator(stack_env: dict[str, str], logs: Path) -> Iterator[Callable[..., Any]]:
    """Start a simulator subprocess with the given flags; stopped after the test."""
    from tests.support.stack import simulator

    with ExitStack() as stack:

        def start(**flags: Any) -> Any:
            started: AbstractContextManager[Any] = simulator(stack_env, logs, **flags)
            return stack.enter_context(started)

        yield start
