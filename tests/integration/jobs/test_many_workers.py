"""Many workers on one job: every item done exactly once, counters, usage and budget equal
to what the teacher served, and not one deadlock in the database."""

from __future__ import annotations

from contextlib import ExitStack

import pytest
from sqlalchemy import text

from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


def deadlocks() -> int:
    from distillery.db.session import unit_of_work

    with unit_of_work() as session:
        return int(
            session.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")).scalar()
        )


def test_four_workers_at_concurrency_64_finish_every_item_once_without_a_deadlock(
    api, worker, stack_env, logs, start_simulator
):
    from distillery.cli.stack import process

    sim = start_simulator()
    teacher = api.add_teacher(sim, max_concurrency=64, rpm=1_000_000)
    before = deadlocks()
    with ExitStack() as extra:
        # The session's worker runs two processes; two more make four.
        for n in range(2):
            extra.enter_context(
                process(["worker", "--concurrency", "1", "--no-beat"], stack_env, logs / f"extra-{n}.log")
            )
        free = api.submit_label_job(teacher, arithmetic_seeds(1200), params={"chunk_size": 40})
        capped = api.submit_label_job(
            teacher, arithmetic_seeds(600, offset=5000), params={"chunk_size": 40}, budget={"max_requests": 400}
        )
        free, capped = api.wait_for_job(free["id"], timeout_s=240), api.wait_for_job(capped["id"], timeout_s=240)
    stats = sim.stats()

    assert free["status"] == "succeeded"
    assert free["progress"]["completed"] == free["progress"]["accepted"] == 1200
    assert capped["status"] == "succeeded" and "budget exhausted" in capped["stop_reason"]
    assert capped["usage"]["requests"] == capped["progress"]["completed"] == 400
    assert capped["progress"]["skipped"] == 200
    for job, count in ((free, 1200), (capped, 400)):
        records = api.records(job["id"])
        assert len(records) == count == len({r["seed_ids"][0] for r in records})
    assert free["usage"]["requests"] + capped["usage"]["requests"] == stats["completions"] == 1600
    assert free["usage"]["sent_requests"] + capped["usage"]["sent_requests"] == stats["requests"]
    assert stats["repeated_replies"] == 0
    assert deadlocks() == before
