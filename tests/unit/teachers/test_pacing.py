"""The pacing schedule (GCRA as a scheduler, AIMD, a guessed limit) and its SQLite store for the
embedded mode."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from distillery.teachers.limiter import SqliteLimiter, _sqlite
from distillery.teachers.pacing import (
    BURST_S,
    DECREASE,
    GUESS_GROWTH,
    GUESS_MARGIN,
    HEADROOM_CALLS,
    MIN_GUESS_RPM,
    Cut,
    Limits,
    Schedule,
)

RPM_600 = Limits(rpm=600, tpm=None)  # one call every 0.1 s
UNKNOWN = Limits(rpm=None, tpm=None)


def slots(schedule: Schedule, n: int, limits: Limits = RPM_600, now: float = 100.0, tokens: int = 0) -> list[float]:
    return [schedule.reserve(limits, tokens, now) - now for _ in range(n)]


def test_a_rested_schedule_bursts_then_paces_at_the_limit():
    times = slots(Schedule(), 50)
    burst = BURST_S - HEADROOM_CALLS * 0.1
    # Calls whose slot is now: the burst, less the headroom kept for jitter.
    assert sum(t == 0 for t in times) == int(burst / 0.1) + 1
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if a > 0]
    assert gaps == pytest.approx([0.1] * len(gaps))
    # Never more calls by any time than a bucket of one second's worth allows.
    assert all(i + 1 <= 10 * t + 10 for i, t in enumerate(times))


def test_a_429_pushes_every_slot_past_retry_after_and_cuts_the_rate_once_per_window():
    schedule = Schedule()
    slots(schedule, 3)
    assert schedule.rate_limited(RPM_600, 2.0, now=100.0) == Cut(pytest.approx(DECREASE))
    assert schedule.rate_limited(RPM_600, 2.0, now=100.5) is None  # the same burst of 429s
    times = slots(schedule, 5, now=100.5)
    assert min(times) >= 1.5  # 100.0 + Retry-After, seen from 100.5
    # Recovering: no burst, and calls spaced at the reduced rate.
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps == pytest.approx([0.1 / DECREASE] * 4)
    assert schedule.rate_limited(RPM_600, 1.0, now=102.0) == Cut(pytest.approx(DECREASE**2))


def test_a_teacher_that_states_no_limit_is_paced_after_a_429_at_the_rate_it_accepted():
    schedule = Schedule()
    # 40 calls a second and no limit known: none of them waits.
    sent = [schedule.reserve(UNKNOWN, 0, 100.0 + i / 40) for i in range(40)]
    assert sent == [100.0 + i / 40 for i in range(40)]
    # The first 429 comes back at 101: 39 calls accepted, as far as is known; then 9 more.
    cut = schedule.rate_limited(UNKNOWN, 1.0, now=101.0)
    assert cut is not None and cut.guessed_rpm == pytest.approx(39 / 1.0 * 60 * GUESS_MARGIN)
    for _ in range(9):
        assert schedule.rate_limited(UNKNOWN, 1.0, now=101.0) is None
    # Paced from Retry-After on at the guess, with no burst.
    times = slots(schedule, 5, UNKNOWN, now=101.0)
    assert times[0] == pytest.approx(1.0)
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == pytest.approx([60 / cut.guessed_rpm] * 4)


def test_once_guessing_the_guess_follows_what_succeeds_and_successes_raise_it_slowly():
    schedule = Schedule()
    for i in range(100):  # 100 calls a second for a second
        schedule.reserve(UNKNOWN, 0, 100.0 + i / 100)
    first = schedule.rate_limited(UNKNOWN, 0.5, now=101.0)
    assert first is not None and first.guessed_rpm is not None
    for _ in range(60):  # the rest of the burst in flight comes back refused
        assert schedule.rate_limited(UNKNOWN, 0.5, now=101.1) is None
    # Paced at the guess for a second, of which 15 calls succeed: the provider's real rate.
    for i in range(15):
        schedule.succeeded(UNKNOWN, 0, UNKNOWN, 101.2 + i / 20)
    assert schedule.guess_rpm == pytest.approx(first.guessed_rpm + 15 * 60 * GUESS_GROWTH)
    second = schedule.rate_limited(UNKNOWN, 0.5, now=102.0)
    # Measured since the last cut: the refusals trailing the first burst do not count.
    assert second is not None and second.guessed_rpm == pytest.approx(15 / 1.0 * 60 * GUESS_MARGIN)


def test_a_guess_is_never_raised_by_a_cut_and_falls_by_a_quarter_when_nothing_succeeded():
    schedule = Schedule(guess_rpm=1000.0)
    for i in range(40):  # all accepted over a second: more than the guess allows
        schedule.succeeded(UNKNOWN, 0, UNKNOWN, 100.0 + i / 40)
    grown = 1000.0 + 40 * 60 * GUESS_GROWTH
    cut = schedule.rate_limited(UNKNOWN, 1.0, now=101.0)
    assert cut is not None and cut.guessed_rpm == pytest.approx(grown)
    # Since that cut nothing succeeded: a quarter off.
    again = schedule.rate_limited(UNKNOWN, 1.0, now=103.0)
    assert again is not None and again.guessed_rpm == pytest.approx(grown * DECREASE)


def test_429s_while_calls_given_slots_before_a_cut_still_go_out_are_the_same_burst():
    schedule = Schedule()
    last = max(slots(schedule, 40))  # 0.1 s apart after the burst: 3.9 s away
    assert schedule.rate_limited(RPM_600, 0.1, now=100.0) is not None
    # Until the last of those slots (give or take the burst) and a second past it, a 429 is
    # of the same burst.
    assert schedule.rate_limited(RPM_600, 0.1, now=100.0 + last) is None
    assert schedule.rate_limited(RPM_600, 0.1, now=100.0 + last + 0.9) is None
    assert schedule.rate_limited(RPM_600, 0.1, now=100.0 + last + BURST_S + 1.1) is not None


def test_a_guess_never_falls_below_the_floor_and_a_known_limit_is_never_guessed():
    schedule = Schedule(guess_rpm=MIN_GUESS_RPM)
    cut = schedule.rate_limited(UNKNOWN, 1.0, now=100.0)
    assert cut is not None and cut.guessed_rpm == MIN_GUESS_RPM  # nothing succeeded: a quarter off, but the floor
    known = Schedule()
    for i in range(10):
        known.reserve(RPM_600, 0, 100.0 + i / 10)
    assert known.rate_limited(RPM_600, 1.0, now=101.0) == Cut(pytest.approx(DECREASE))
    assert known.guess_rpm is None and known.win_sent == 0
    # Limits learned from headers count as known too.
    known.succeeded(UNKNOWN, 0, Limits(rpm=120, tpm=None), 102.0)
    cut = known.rate_limited(UNKNOWN, 1.0, now=103.0)
    assert cut is not None and cut.guessed_rpm is None


def test_learned_limits_lower_the_rate_and_successes_restore_it():
    schedule = Schedule(factor=0.5)
    schedule.succeeded(RPM_600, 0, Limits(rpm=60, tpm=None), 100.0)
    assert schedule.rates(RPM_600) == (60.0, 0.0)
    assert schedule.factor == pytest.approx(0.505)
    for _ in range(200):
        schedule.succeeded(RPM_600, 0, Limits(None, None), 100.0)
    assert schedule.factor == 1.0
    assert schedule.rates(RPM_600) == (60.0, 0.0)  # a learned limit is kept


def test_tokens_are_scheduled_from_the_estimate_and_corrected_from_usage():
    limits = Limits(rpm=None, tpm=6000)  # 100 tokens a second
    schedule = Schedule()
    schedule.reserve(limits, 500, 100.0)
    assert schedule.tat_tok == pytest.approx(105.0)
    schedule.succeeded(limits, 300, Limits(None, None), 100.0)  # the reply used 300 fewer tokens
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
    assert taken == pytest.approx([100.0 + t for t in slots(Schedule(), 40)])


def test_a_pacing_file_of_an_older_layout_is_replaced(tmp_path):
    path = tmp_path / "pacing.db"
    import sqlite3

    old = sqlite3.connect(path)
    old.execute("CREATE TABLE pacing (teacher_id TEXT PRIMARY KEY, tat_req REAL, factor REAL)")
    old.execute("INSERT INTO pacing VALUES ('teacher-1', 5.0, 0.5)")
    old.commit()
    old.close()
    limiter = SqliteLimiter(path, "teacher-1", RPM_600)
    assert limiter._update_now(lambda s: s.reserve(RPM_600, 0, 100.0)) == 100.0  # a fresh schedule
    _sqlite.cache_clear()
