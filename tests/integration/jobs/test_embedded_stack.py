"""The embedded mode (what `distillery demo` runs): a SQLite file, kombu's SQLAlchemy
transport as the broker and real worker processes, with the API served over HTTP. A job
runs end to end to a downloaded dataset, and a worker killed mid-job loses no item: that
broker gives a killed worker's messages back only on a graceful shutdown, so the lease
reaper alone brings its items back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SHORT_LEASE_S, Workers
from tests.support.server import api_server
from tests.support.stack import Api, Simulator, arithmetic_seeds, simulator
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@dataclass
class Embedded:
    api: Api
    worker: Workers
    teacher: Simulator
    data_dir: Path


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Iterator[Embedded]:
    data_dir = tmp_path_factory.mktemp("embedded")
    # Empty database and broker URLs: the embedded defaults in the data dir, whatever the
    # rest of the suite uses.
    env = {
        "DISTILLERY_DATA_DIR": str(data_dir),
        "DISTILLERY_DATABASE_URL": "",
        "DISTILLERY_BROKER_URL": "",
        "DISTILLERY_LEASE_SECONDS": str(SHORT_LEASE_S),
        "DISTILLERY_TEACHER_URL_ALLOWLIST": "127.0.0.1",
    }
    command = [sys.executable, "-m", "distillery.cli"]
    run_env = {**os.environ, **env}
    subprocess.run([*command, "db", "upgrade"], env=run_env, check=True, capture_output=True, timeout=120)
    created = subprocess.run(
        [*command, "keys", "create", "--tenant", "embedded"], env=run_env, check=True, capture_output=True, text=True
    )
    key = created.stdout.strip().splitlines()[-1]
    worker = Workers(env, logs / "embedded-worker.log")
    worker.start()
    try:
        with (
            simulator(env, logs, latency_ms=150) as teacher,
            api_server(env, logs) as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            yield Embedded(Api(client, key), worker, teacher, data_dir)  # type: ignore[arg-type]
    finally:
        # SIGKILL: a graceful stop of a worker polling the SQLite broker takes up to 15 s,
        # and nothing is left to finish.
        if worker.proc is not None and worker.proc.poll() is None:
            worker.kill()


def test_a_job_runs_end_to_end_on_sqlite_and_its_dataset_downloads(embedded: Embedded):
    api = embedded.api
    teacher = api.add_teacher(embedded.teacher, max_concurrency=8)
    seeds = arithmetic_seeds(16)
    job = api.wait_for_job(api.submit_label_job(teacher, seeds)["id"], timeout_s=120)

    assert job["status"] == "succeeded", job
    assert job["progress"]["completed"] == job["progress"]["accepted"] == 16
    assert job["usage"]["requests"] == 16
    download = api.get(
        f"/v1/datasets/{job['dataset_id']}/download", params={"format": "alpaca", "include_rationale": False}
    )
    assert download.status_code == 200
    rows = [json.loads(line) for line in download.text.splitlines()]
    assert sorted((r["instruction"], r["output"]) for r in rows) == sorted(
        (s["instruction"], s["answer"]) for s in seeds
    )
    assert (embedded.data_dir / "distillery.db").exists() and (embedded.data_dir / "broker.db").exists()


def test_a_worker_killed_mid_job_on_sqlite_loses_no_item_and_pays_each_stored_reply_once(embedded: Embedded):
    api, worker = embedded.api, embedded.worker
    teacher = api.add_teacher(embedded.teacher, max_concurrency=4)
    seeds = arithmetic_seeds(40, offset=100)  # none asked before: no reply is in the cache
    job = api.submit_label_job(teacher, seeds, params={"chunk_size": 4})
    wait_until(lambda: api.job(job["id"])["progress"]["completed"] >= 6, what="progress before the kill")

    worker.kill()  # SIGKILL: its messages are gone with it, its leases are left behind
    assert api.job(job["id"])["progress"]["completed"] < 40
    worker.start()

    job = api.wait_for_job(job["id"], timeout_s=180)
    assert job["status"] == "succeeded", job
    assert job["progress"]["completed"] == job["progress"]["accepted"] == 40
    records: list[dict[str, Any]] = api.records(job["id"])
    assert Counter(r["seed_ids"][0] for r in records) == Counter(s["id"] for s in seeds)
    # Every stored reply was paid once: a re-run item found its reply in the cache.
    assert job["usage"]["requests"] == 40
