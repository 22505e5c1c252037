"""Budget reservations on the embedded database: each verdict, giving reservations back,
and the charge, with `max_requests` exact however the calls interleave."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from distillery.db.base import utcnow
from distillery.db.models import BudgetHold, Job, Usage
from distillery.db.session import unit_of_work
from distillery.jobs import planning
from distillery.ledger import budget, counters
from distillery.ledger.budget import Charge, Reservation
from distillery.settings import get_settings
from tests.support.ledger_db import TEACHER, create_job, seeds

pytestmark = pytest.mark.usefixtures("embedded_db")
CENT = Decimal("0.01")


def running_job(**budget_spec: object) -> str:
    with unit_of_work() as session:
        job_id = create_job(session, seeds(2), **({"budget": budget_spec} if budget_spec else {}))
    with unit_of_work() as session:
        planning.plan(session, job_id, chunk_size=2, lease_s=60)
    return job_id


def reserve(job_id: str, n: int = 1, cost: Decimal = CENT) -> list[str]:
    with unit_of_work() as session:
        return budget.reserve(session, [Reservation(job_id, cost)] * n)


def settle(job_id: str, n: int, cost: Decimal = CENT) -> None:
    """Charge `n` held calls at `cost` each and give their reservations back."""
    with unit_of_work() as session:
        budget.charge(
            session,
            [
                Charge(job_id, TEACHER, f"h{i}", cached=False, prompt_tokens=10, cost_usd=cost, attempts=1)
                for i in range(n)
            ],
        )
        budget.release(session, [Reservation(job_id, cost)] * n)


def in_flight(job_id: str) -> tuple[int, Decimal]:
    with unit_of_work() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.in_flight_requests, job.in_flight_cost_usd


def test_a_job_without_a_budget_holds_no_reservation():
    job_id = running_job()
    assert reserve(job_id, 3) == ["free", "free", "free"]
    assert in_flight(job_id) == (0, 0)


def test_calls_beyond_max_requests_wait_while_others_are_in_flight():
    job_id = running_job(max_requests=3)
    assert reserve(job_id, 5) == ["held", "held", "held", "wait", "wait"]
    assert in_flight(job_id) == (3, 3 * CENT)


def test_a_spent_budget_is_exhausted_and_a_failed_calls_reservation_is_given_back():
    job_id = running_job(max_requests=2)
    assert reserve(job_id, 2) == ["held", "held"]
    with unit_of_work() as session:  # one call failed for good: nothing charged
        budget.release(session, [Reservation(job_id, CENT)])
    assert reserve(job_id) == ["held"]
    settle(job_id, 2)
    assert in_flight(job_id) == (0, 0)
    assert reserve(job_id, 2) == ["exhausted", "exhausted"]


def test_max_requests_is_exact_however_calls_interleave():
    job_id = running_job(max_requests=7)
    paid = 0
    for asked in (3, 1, 5, 2, 4, 6):
        held = reserve(job_id, asked).count("held")
        if held:
            settle(job_id, held)
        paid += held
    assert paid == 7
    with unit_of_work() as session:
        assert counters.of(session, job_id).requests == 7
    assert reserve(job_id) == ["exhausted"]


def test_a_call_whose_worst_case_does_not_fit_waits_then_goes_alone():
    job_id = running_job(max_cost_usd=0.05)
    assert reserve(job_id, 2, cost=Decimal("0.02")) == ["held", "held"]
    assert reserve(job_id, cost=Decimal("0.03")) == ["wait"]
    settle(job_id, 2, cost=Decimal("0.02"))
    # Nothing in flight: it goes, and may cross the budget by its own worst case.
    assert reserve(job_id, cost=Decimal("0.03")) == ["held"]
    settle(job_id, 1, cost=Decimal("0.03"))
    assert reserve(job_id) == ["exhausted"]


def test_a_stopped_cancelled_or_unknown_job_is_closed():
    stopped, cancelled = running_job(max_requests=5), running_job()
    with unit_of_work() as session:
        session.execute(update(Job).where(Job.id == stopped).values(stop_reason="budget exhausted"))
        session.execute(update(Job).where(Job.id == cancelled).values(status="cancelled"))
    assert reserve(stopped) == ["closed"]
    assert reserve(cancelled) == ["closed"]
    assert reserve("job_unknown") == ["closed"]


def test_verdicts_follow_the_order_of_the_asks_across_jobs():
    limited, unlimited = running_job(max_requests=1), running_job()
    with unit_of_work() as session:
        verdicts = budget.reserve(
            session,
            [Reservation(limited, CENT), Reservation(unlimited, CENT), Reservation(limited, CENT)],
        )
    assert verdicts == ["held", "free", "wait"]


def test_a_release_never_goes_below_zero():
    job_id = running_job(max_requests=5)
    reserve(job_id)
    with unit_of_work() as session:
        budget.release(session, [Reservation(job_id, CENT)] * 3)
    assert in_flight(job_id) == (0, 0)


def test_a_charge_writes_the_ledger_and_the_counters_and_a_cached_reply_is_free():
    job_id = running_job()
    with unit_of_work() as session:
        budget.charge(
            session,
            [
                Charge(
                    job_id,
                    TEACHER,
                    "a",
                    cached=False,
                    prompt_tokens=10,
                    completion_tokens=5,
                    cost_usd=CENT,
                    attempts=2,
                    errors=1,
                ),
                Charge(job_id, TEACHER, "b", cached=True),
            ],
        )
        budget.unpaid(session, [(job_id, TEACHER, 3)])
    with unit_of_work() as session:
        ledger = session.execute(select(Usage.request_hash, Usage.cached, Usage.cost_usd).where(Usage.job_id == job_id))
        assert sorted(ledger.tuples()) == [("a", False, CENT), ("b", True, 0)]
        spent = counters.of(session, job_id)
    assert (spent.requests, spent.cached_requests, spent.sent_requests, spent.failed_requests) == (1, 1, 5, 4)
    assert (spent.prompt_tokens, spent.completion_tokens, spent.cost_usd) == (10, 5, CENT)


def holds(job_id: str) -> list[tuple[str, int]]:
    with unit_of_work() as session:
        query = select(BudgetHold.holder, BudgetHold.requests).where(BudgetHold.job_id == job_id)
        return sorted(session.execute(query).tuples())


def test_a_dead_workers_reservations_are_given_back_by_the_next_reservation():
    job_id = running_job(max_requests=4)
    assert reserve(job_id, 3) == ["held"] * 3
    assert holds(job_id) == [(budget.holder(), 3)]
    with unit_of_work() as session:  # those three as a worker's that died: not renewed for a lease
        stopped = utcnow() - timedelta(seconds=get_settings().lease_seconds + 1)
        session.execute(update(BudgetHold).values(holder="dead-host:1:x", renewed_at=stopped))
    # All four fit again: the dead worker's three were given back first.
    assert reserve(job_id, 4) == ["held"] * 4
    assert in_flight(job_id) == (4, 4 * CENT)
    assert holds(job_id) == [(budget.holder(), 4)]


def test_a_live_workers_renewed_reservations_are_kept():
    job_id = running_job(max_requests=4)
    assert reserve(job_id, 3) == ["held"] * 3
    with unit_of_work() as session:
        stopped = utcnow() - timedelta(seconds=get_settings().lease_seconds + 1)
        session.execute(update(BudgetHold).values(renewed_at=stopped))
        budget.renew_holds(session, job_id)
    assert reserve(job_id, 2) == ["held", "wait"]
    settle(job_id, 4)
    assert in_flight(job_id) == (0, 0) and holds(job_id) == [(budget.holder(), 0)]


def test_a_batch_lines_reservation_is_held_by_its_batch_not_by_the_process():
    job_id = running_job(max_requests=4)
    with unit_of_work() as session:
        assert budget.reserve(session, [Reservation(job_id, CENT, batched=True)] * 2) == ["held"] * 2
    assert holds(job_id) == [] and in_flight(job_id) == (2, 2 * CENT)
