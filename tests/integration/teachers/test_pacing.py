"""Pacing: every worker process shares one schedule per teacher, so together they stay
under the teacher's limit, and a 429 storm slows all of them at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from distillery.cli.stack import process
from tests.support.stack import arithmetic_seeds

pytestmark = pytest.mark.integration


@pytest.fixture
def second_worker(worker, stack_env: dict[str, str], logs: Path) -> Iterator[None]:
    """Another `distillery worker` beside the session's: two hosts' worth of processes."""
    with process(["worker", "--concurrency", "2"], stack_env, logs / "second-worker.log"):
        yield


def _refused(stats: dict) -> int:
    return stats["status_counts"].get("429", 0)


def test_two_workers_together_never_exceed_the_teachers_rpm(api, second_worker, start_simulator):
    # No limit headers: the workers know the limit only from the teacher's configured rpm.
    sim = start_simulator(rpm=300, limit_headers=False)
    teacher = api.add_teacher(sim, rpm=300, max_concurrency=8)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(30), params={"chunk_size": 3})["id"])

    stats = sim.stats()
    assert job["status"] == "succeeded"
    assert stats["completions"] == job["usage"]["requests"] == 30
    assert _refused(stats) == 0, f"the shared schedule let {_refused(stats)} requests over the limit"
    workers_used = {r["id"] for r in api.records(job["id"])}
    assert len(workers_used) == 30


def test_the_same_workers_without_a_configured_rpm_do_exceed_it(api, second_worker, start_simulator):
    # The control for the test above: the setup is fast enough to break a 300 rpm limit.
    sim = start_simulator(rpm=300, limit_headers=False)
    teacher = api.add_teacher(sim, max_concurrency=8)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(30), params={"chunk_size": 3})["id"])
    assert job["status"] == "succeeded"
    assert _refused(sim.stats()) > 0


def test_a_429_storm_with_retry_after_completes_every_item_once(api, start_simulator):
    # After 10 requests the teacher refuses everything for 2 s with a Retry-After.
    sim = start_simulator(storm_after=10, storm_s=2)
    teacher = api.add_teacher(sim, max_concurrency=8)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(40), params={"chunk_size": 10})["id"])

    stats = sim.stats()
    assert job["status"] == "succeeded"
    assert job["progress"]["completed"] == job["progress"]["accepted"] == 40
    assert stats["completions"] == job["usage"]["requests"] == 40
    assert stats["duplicate_requests"] == 0
    # Each request in flight when the storm began may meet it once; after that every
    # worker waits out the shared Retry-After instead of asking again (2 processes × 8).
    assert 0 < _refused(stats) <= 2 * 8
    throttled = [e for e in api.events(job["id"]) if e["type"] == "throttled"]
    assert throttled and f"teacher '{teacher['name']}'" in throttled[0]["message"]
    assert throttled[0]["level"] == "warning"


def test_a_teacher_that_states_no_limit_is_paced_at_what_it_accepts_after_its_first_429s(
    api, second_worker, start_simulator
):
    # 1200 rpm, told to nobody: no rpm configured, no limit headers, only 429s with Retry-After.
    sim = start_simulator(rpm=1200, limit_headers=False)
    teacher = api.add_teacher(sim, max_concurrency=8)
    job = api.wait_for_job(api.submit_label_job(teacher, arithmetic_seeds(160), params={"chunk_size": 20})["id"])

    stats = sim.stats()
    assert job["status"] == "succeeded"
    assert stats["completions"] == job["usage"]["requests"] == 160
    # Once the first burst is refused the workers pace at a guessed limit: later 429s come
    # one now and then, as the guess probes upwards, not a storm after every Retry-After
    # (before the guess: over 2,600 refused for these 160).
    throttled = [e["message"] for e in api.events(job["id"]) if e["type"] == "throttled"]
    assert _refused(stats) < 160, f"{_refused(stats)} requests refused for 160 accepted"
    assert any("rpm, guessed from what it accepted (it states no limit)" in m for m in throttled), throttled
