"""Infrastructure faults, with real processes: the broker restarted mid-job, Postgres
connections dropped mid-job, a teacher that hangs, a training worker killed mid-run.

Every test here runs its own workers against a private stack (a redis-server of its own on
a free port, and the API served from a subprocess on it), with the short timeouts it
needs: the shared Redis serves other runs and is never restarted, and the session's worker
can neither disturb these jobs nor quietly finish them. Postgres is the session's test
database; only connections this file's workers opened are ever terminated.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.redis_server import RedisServer, redis_server
from tests.support.stack import PG_ADMIN, TERMINAL, Api, arithmetic_seeds
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# How this file's synthesis workers name their Postgres connections, so that a test
# terminates theirs and nobody else's.
FAULT_WORKER = "distillery-fault-worker"


@dataclass
class PrivateStack:
    env: dict[str, str]
    redis: RedisServer
    url: str
    logs: Path

    def tenant(self) -> Api:
        from distillery.db.session import unit_of_work
        from distillery.security.api_keys import create_key

        with unit_of_work() as session:
            key = create_key(session, f"tenant-{secrets.token_hex(4)}")
        return Api(httpx.Client(base_url=self.url, timeout=30), key)  # type: ignore[arg-type]

    @contextmanager
    def worker(self, name: str, *args: str, **env: str) -> Iterator[Worker]:
        """A `distillery worker` (or `train-worker`, in args) with this stack's env plus `env`."""
        from distillery.cli.stack import spawn, stop

        log = self.logs / f"fault-{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        worker = Worker(spawn(list(args or ("worker", "--concurrency", "2")), {**self.env, **env}, log), log, offset)
        try:
            yield worker
        finally:
            stop(worker.proc)


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    log_offset: int  # where this process's lines begin in a log earlier runs wrote to too

    def logged(self, text: str) -> bool:
        with open(self.log, "rb") as f:
            f.seek(self.log_offset)
            return text in f.read().decode(errors="replace")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # no graceful shutdown, no ack
        self.proc.wait()


@pytest.fixture(scope="module")
def private(stack_env: dict[str, str], logs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    from tests.support.server import api_server

    with redis_server(logs / "redis-private.log") as redis:
        env = {
            **stack_env,
            "DISTILLERY_BROKER_URL": redis.url,
            # Its own beat schedule file, apart from the session worker's.
            "DISTILLERY_DATA_DIR": str(tmp_path_factory.mktemp("private-stack")),
            # Short leases: what the broker lost, the lease reaper finds again within seconds.
            "DISTILLERY_LEASE_SECONDS": "10",
        }
        with api_server(env, logs) as url:
            yield PrivateStack(env, redis, url, logs)


def assert_each_item_done_once(api: Api, job: dict[str, Any], count: int) -> list[dict[str, Any]]:
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["completed"] == job["progress"]["accepted"] == count
    records = api.records(job["id"])
    assert Counter(r["seed_ids"][0] for r in records) == Counter(s["id"] for s in arithmetic_seeds(count))
    return records


def test_a_broker_restart_mid_job_is_survived_and_every_item_is_done_once(private, start_simulator):
    sim = start_simulator(latency_ms=300)
    api = private.tenant()
    teacher = api.add_teacher(sim, max_concurrency=2)
    with private.worker("redis-restart") as worker:
        job = api.submit_label_job(teacher, arithmetic_seeds(60), params={"chunk_size": 4})
        wait_until(lambda: api.job(job["id"])["progress"]["completed"] >= 8, what="progress before the restart")

        private.redis.stop()  # every queued message and the pacing schedules go with it
        wait_until(lambda: worker.logged("Connection to broker lost"), what="the worker to see the broker go")
        # Down for longer than a Redis client's own few seconds of reconnect retries: the
        # work in flight has to wait for the broker, not fail for want of it.
        sim.wait_quiet(quiet_s=6)
        assert api.job(job["id"])["progress"]["completed"] < 60
        private.redis.start()

        job = api.wait_for_job(job["id"], timeout_s=120)
        assert worker.proc.poll() is None, "the worker must reconnect, not exit"
    assert_each_item_done_once(api, job, 60)
    stats = sim.stats()
    assert job["usage"]["requests"] == stats["completions"] == 60
    assert stats["duplicate_requests"] == 0


def _terminate(database: str) -> int:
    """Terminate this file's workers' connections to the test database, idle ones in their
    pools too; how many of them were in use."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s",
            (database, FAULT_WORKER),
        ).fetchall()
    return sum(1 for state, done in rows if done and state in ("active", "idle in transaction"))


def test_postgres_connections_dropped_mid_job_are_retried_and_nothing_is_half_written(private, start_simulator):
    sim = start_simulator(latency_ms=200)
    api = private.tenant()
    teacher = api.add_teacher(sim, max_concurrency=4)
    database_url = private.env["DISTILLERY_DATABASE_URL"]
    database = database_url.rsplit("/", 1)[1]
    with private.worker("pg-drop", DISTILLERY_DATABASE_URL=f"{database_url}?application_name={FAULT_WORKER}"):
        job = api.submit_label_job(teacher, arithmetic_seeds(60), params={"chunk_size": 4})
        wait_until(lambda: api.job(job["id"])["progress"]["completed"] >= 4, what="the job to be under way")
        # Cut the worker's connections while they are in use, a few times over the job.
        cuts = Counter[str]()

        def cut_until_done() -> dict[str, Any] | None:
            if cuts["busy"] < 6:
                cuts["busy"] += _terminate(database)
            current = api.job(job["id"])
            return current if current["status"] in TERMINAL else None

        job = wait_until(cut_until_done, timeout_s=120, interval_s=0.1, what="the job to finish")

    assert cuts["busy"] > 0, "the test must actually drop connections in use"
    records = assert_each_item_done_once(api, job, 60)
    # Each item's records, its done mark and the job's counters were written together.
    by_status = Counter(r["status"] for r in records)
    assert (by_status["accepted"], by_status["rejected"], by_status["failed"]) == (60, 0, 0)
    stats = sim.stats()
    assert job["usage"]["requests"] == stats["completions"] == 60
    assert stats["duplicate_requests"] == 0


def test_a_teacher_that_hangs_is_timed_out_and_retried_and_paid_once(private, start_simulator):
    # Held 4 s against a 1 s client timeout: every hung request is given up on.
    sim = start_simulator(hang_rate=0.2, hang_s=4, seed=5)
    api = private.tenant()
    teacher = api.add_teacher(sim, max_concurrency=8)
    with private.worker("hang", DISTILLERY_TEACHER_TIMEOUT_S="1"):
        job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(30))["id"], timeout_s=120)

    assert_each_item_done_once(api, job, 30)
    stats = wait_until(lambda: (s := sim.stats())["hung"] == s["status_counts"].get("499", 0) and s, what="hangs")
    assert stats["hung"] > 0, "the test must actually hang some requests"
    # A hung request was never answered, so never paid; its retry was paid once.
    assert job["usage"]["requests"] == stats["completions"] == 30
    assert job["usage"]["cached_requests"] == 0
    assert stats["duplicate_requests"] == 0
    assert stats["requests"] == 30 + stats["hung"]


# Training: quick steps on the tiny student, and a checkpoint every few of them.
FAST = {"learning_rate": 0.01, "batch_size": 4, "max_seq_length": 128, "gradient_checkpointing": False}


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_model import build_tiny_model
    from tests.support.training_data import arithmetic, texts

    return build_tiny_model(tmp_path_factory.mktemp("student"), texts(arithmetic(16)) + ["Answer:"])


def test_a_training_job_whose_worker_dies_is_resumed_then_failed_never_left_running(private, student):
    from distillery.db.session import unit_of_work
    from distillery.security.api_keys import tenant_for_key
    from tests.support.training_data import arithmetic, make_dataset

    api = private.tenant()
    with unit_of_work() as session:
        tenant_id = tenant_for_key(session, api.key)
        assert tenant_id is not None
        dataset_id = make_dataset(session, tenant_id, arithmetic(16))
    # The reaper (in the synthesis worker's beat) gives up on a worker silent for 10 s, and
    # on a job after its second start.
    reaping = {"DISTILLERY_TRAINING_HEARTBEAT_TIMEOUT_S": "10", "DISTILLERY_TRAINING_MAX_ATTEMPTS": "2"}
    response = api.post(
        "/v1/training-jobs",
        json={
            "dataset_id": dataset_id,
            "method": "sft",
            "base_model": str(student),
            "hyperparameters": {**FAST, "epochs": 100},
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            "eval_split": 0.0,
        },
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def job() -> dict[str, Any]:
        return api.get(f"/v1/training-jobs/{job_id}").json()

    def events() -> list[dict[str, Any]]:
        return api.get(f"/v1/training-jobs/{job_id}/events", params={"limit": 500}).json()["data"]

    def seen(kind: str, after: int = 0) -> dict[str, Any] | None:
        return next((e for e in events()[after:] if e["type"] == kind), None)

    train_worker = ("train-worker", "--loglevel", "INFO")
    with private.worker("reaper", **reaping):
        with private.worker("train-1", *train_worker, **reaping) as first:
            wait_until(lambda: seen("checkpoint_saved"), timeout_s=120, what="a first checkpoint")
            first.kill()
        assert job()["status"] == "running"
        saved = max(e["data"]["step"] for e in events() if e["type"] == "checkpoint_saved")

        # No worker left: the reaper queues the job again instead of leaving it running.
        requeued = wait_until(lambda: seen("requeued"), timeout_s=60, what="the reaper to notice the dead worker")
        assert job()["status"] == "queued" and requeued["level"] == "warning"
        mark = len(events())

        with private.worker("train-2", *train_worker, **reaping) as second:
            resumed = wait_until(lambda: seen("training_started", mark), timeout_s=120, what="the job to resume")
            # From the last checkpoint: the one its event names, or one saved as the kill came.
            step = re.search(r"resumed at step (\d+)", resumed["message"])
            assert step is not None and int(step[1]) >= saved > 0, resumed["message"]
            assert job()["status"] == "running"
            wait_until(lambda: job()["progress"]["step"] > int(step[1]), what="steps after the resume")
            second.kill()

        # Its second start used up its attempts: the reaper closes it with a reason.
        done = wait_until(lambda: (j := job())["status"] in TERMINAL and j, timeout_s=60, what="the job to be failed")
    assert done["status"] == "failed"
    assert "the training worker died 2 times while running this job" in done["error"]
    kinds = [e["type"] for e in events()]
    assert kinds.count("requeued") == 1 and kinds.count("restarted") == 1
    assert kinds[-1] == "failed"
