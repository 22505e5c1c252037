"""GCRA as a gate (a tenant's request rate) and as a scheduler (a teacher's pacing)."""

from __future__ import annotations

import pytest

from distillery.ratelimit.gcra import admit, reserve


def test_a_full_bucket_admits_its_burst_at_once_then_refuses_with_the_wait_for_one_more():
    interval, burst = 0.1, 5  # 10 a second, 5 at once
    tat, waits = None, []
    for _ in range(burst + 1):
        wait, new_tat = admit(tat, 100.0, interval, (burst - 1) * interval)
        waits.append(wait)
        tat = new_tat if new_tat is not None else tat
    assert waits[:burst] == [0.0] * burst
    assert waits[burst] == pytest.approx(interval)
    assert tat == pytest.approx(100.0 + burst * interval)  # the refusal counted nothing


def test_a_refused_call_fits_once_its_wait_has_passed():
    wait, tat = admit(None, 100.0, 1.0, 0.0)
    assert (wait, tat) == (0.0, 101.0)
    wait, refused = admit(tat, 100.25, 1.0, 0.0)
    assert wait == pytest.approx(0.75) and refused is None
    assert admit(tat, 100.25 + wait, 1.0, 0.0) == (0.0, 102.0)


def test_an_idle_key_banks_no_more_than_its_tolerance():
    _, tat = admit(None, 100.0, 1.0, 2.0)
    waits = []
    for _ in range(4):
        wait, new_tat = admit(tat, 1000.0, 1.0, 2.0)
        waits.append(wait)
        tat = new_tat if new_tat is not None else tat
    assert waits == [0.0, 0.0, 0.0, pytest.approx(1.0)]


def test_the_scheduler_gives_every_call_a_slot_spaced_by_the_interval_after_the_burst():
    tat, starts = None, []
    for _ in range(6):
        start, tat = reserve(tat, 100.0, 0.5, 1.0, not_before=100.0)
        starts.append(start - 100.0)
    assert starts == [0.0, 0.0, 0.0, 0.5, 1.0, 1.5]


def test_not_before_holds_the_slot_back_and_moves_the_schedule_past_it():
    start, tat = reserve(100.0, 100.0, 0.5, 10.0, not_before=103.0)
    assert (start, tat) == (103.0, 103.5)
