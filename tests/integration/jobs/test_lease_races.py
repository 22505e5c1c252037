"""Leases under Postgres' row locks, where a worker's transaction races the API's."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from distillery.db.base import utcnow
from distillery.db.models import WorkItem
from distillery.db.session import unit_of_work
from distillery.jobs import leases, lifecycle, planning
from distillery.ledger import counters
from tests.support.ledger_db import TENANT, create_job, seeds

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("postgres_db")]
LEASE_S = 60


def test_items_a_worker_releases_while_a_retry_reopens_the_job_go_back_pending_not_skipped():
    with unit_of_work() as session:
        job_id = create_job(session, seeds(4))
    with unit_of_work() as session:
        (ids,) = planning.plan(session, job_id, chunk_size=4, lease_s=LEASE_S)
    with unit_of_work() as session:
        leases.claim(session, job_id, ids, LEASE_S)  # a worker runs them...
    with unit_of_work() as session:
        lifecycle.cancel(session, TENANT, job_id)  # ...when the user cancels, then retries at once

    released = threading.Event()

    def worker_sees_the_cancel() -> None:
        with unit_of_work() as session:
            leases.release(session, ids)
        released.set()

    with unit_of_work() as session:
        lifecycle.retry(session, TENANT, job_id, None, chunk_size=4, lease_s=LEASE_S)
        worker = threading.Thread(target=worker_sees_the_cancel)
        worker.start()
        # The release waits for the retry; skipping them now would strand them, since
        # the retry, which leaves running items to their worker, dispatches nothing of them.
        assert not released.wait(1.0)
    worker.join(timeout=10)
    assert released.is_set()

    with unit_of_work() as session:
        rows = session.execute(select(WorkItem.status, WorkItem.leased_until).where(WorkItem.job_id == job_id)).all()
        assert [status for status, _ in rows] == ["pending"] * 4
        # Their leases have run out: the reaper dispatches them for the reopened job.
        assert all(until <= utcnow() for _, until in rows)
        assert counters.of(session, job_id).skipped == 0
