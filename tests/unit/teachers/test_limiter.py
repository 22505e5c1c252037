"""The pacing schedule (GCRA as a scheduler) and its SQLite store for the embedded mode."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from distillery.teachers.limiter import BURST_S, DECREASE, HEADROOM_CALLS, Limits, SqliteLimiter, _Schedule

RPM_600 = Limits(rpm=600, tpm=None)  # one call every 0.1 s


def slots(schedule: _Schedule, n: int, limits: Limits = RPM_600, now: float = 100.0, tokens: int = 0) -> list[float]:
    return [schedule.reserve(limits, tokens, now) - now for _ in range(n)]


def test_a_rested_schedule_bursts_then_paces_at_the_limit():
    times = slots(_Schedule(), 50)
    burst = BURST_S - HEADROOM_CALLS * 0.1
    # Calls whose slot is now: the burst, less the headroom kept for jitter.
    assert sum(t == 0 for t in times) == int(burst / 0.1) + 1
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if a > 0]
    assert gaps == pytest.approx([0.1] * len(gaps))
    # Never more calls by any time than a bucket of one second's worth allows.
    assert all(i + 1 <= 10 * t + 10 for i, t in enumerate(times))


def test_a_429_pushes_every_slot_past_retry_after_and_cuts_the_rate_once_per_window():
    schedule = _Schedule()
    slots(schedule, 3)
    assert schedule.rate_limited(2.0, now=100.0) == pytest.approx(DECREASE)
    assert schedule.rate_limited(2.0, now=100.5) is None  # the same burst of 429s
    times = slots(schedule, 5, now=100.5)
    assert min(times) >= 1.5  # 100.0 + Retry-After, seen from 100.5
    # Recovering: no burst, and calls spaced at the reduced rate.
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps == pytest.approx([0.1 / DECREASE] * 4)
    assert schedule.rate_limited(1.0, now=102.0) == pytest.approx(DECREASE**2)


def test_learned_limits_lower_the_rate_and_successes_restore_it():
    schedule = _Schedule(factor=0.5)
    schedule.succeeded(RPM_600, 0, Limits(rpm=60, tpm=None))
    assert schedule.rates(RPM_600) == (60.0, 0.0)
    assert schedule.factor == pytest.approx(0.505)
    for _ in range(200):
        schedule.succeeded(RPM_600, 0, Limits(None, None))
    assert schedule.factor == 1.0
    assert schedule.rates(RPM_600) == (60.0, 0.0)  # a learned limit is kept


def test_tokens_are_scheduled_from_the_estimate_and_corrected_from_usage():
    limits = Limits(rpm=None, tpm=6000)  # 100 tokens a second
    schedule = _Schedule()
    schedule.reserve(limits, 500, 100.0)
    assert schedule.tat_tok == pytest.approx(105.0)
    schedule.succeeded(limits, 300, Limits(None, None))  # the reply used 300 fewer tokens
    assert schedule.tat_tok == pytest.approx(102.0)


def _reserve_in_child(path: str, out: multiprocessing.Queue) -> None:
    limiter = SqliteLimiter(Path(path), "teacher-1", RPM_600)
    out.put([limiter._update_now(lambda s: s.reserve(RPM_600, 0, 100.0)) for _ in range(20)])


def test_worker_processes_share_one_schedule_in_the_embedded_mode(tmp_path):
    path = str(tmp_path / "pacing.db")
    out: multiprocessing.Queue = multiprocessing.Queue()
    children = [multiprocessing.Process(target=_reserve_in_child, args=(path, out)) for _ in range(2)]
    for child in children:
        child.start()
    taken = sorted(out.get(timeout=30) + out.get(timeout=30))
    for child in children:
        child.join(timeout=30)
    # One schedule: the 40 calls got 40 slots of one sequence, not two copies of one.
    assert taken == pytest.approx([100.0 + t for t in slots(_Schedule(), 40)])
