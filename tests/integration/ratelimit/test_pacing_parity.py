"""The pacing scripts that Redis runs and the schedule the embedded mode keeps in SQLite
agree: the same calls, 429s and successes at the same instants give the same slots, cuts,
guesses and stored state."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
import redis

from distillery.teachers import limiter, pacing
from distillery.teachers.pacing import Cut, Limits, Schedule

pytestmark = pytest.mark.integration

# The service's scripts read Redis's clock; here each is given the instant instead.
_CLOCK = ("local now = gcra_now()", "local now = tonumber(ARGV[#ARGV])")


def _script(client: redis.Redis, text: str):  # type: ignore[no-untyped-def]
    assert _CLOCK[0] in text
    return client.register_script(text.replace(*_CLOCK))


def events(seed: int, n: int = 300) -> Iterator[tuple[str, float]]:
    """Bursts of calls, 429s in runs, successes, pauses longer than a counting window."""
    rng = random.Random(seed)
    now = 1_764_000_000.0 + rng.random()
    for _ in range(n):
        now += rng.choice([0.0, 0.0, 0.01, 0.1, rng.random(), rng.random() * 8])
        yield rng.choice(["reserve", "reserve", "reserve", "limited", "limited", "succeeded"]), now


@pytest.mark.parametrize("limits", [Limits(None, None), Limits(600, None), Limits(None, 60_000)], ids=str)
@pytest.mark.parametrize("seed", range(4))
def test_redis_and_the_embedded_schedule_agree_on_every_step(client: redis.Redis, limits: Limits, seed: int) -> None:
    reserve = _script(client, limiter._RESERVE)
    cut = _script(client, limiter._RATE_LIMITED)
    succeed = _script(client, limiter._SUCCEEDED)
    key = f"distillery:test:pacing-parity:{uuid.uuid4().hex}"
    schedule = Schedule()
    rpm, tpm = limits.rpm or 0, limits.tpm or 0
    guessed = 0
    try:
        for step, now in events(seed):
            if step == "reserve":
                args = [rpm, tpm, 500, 60, pacing.BURST_S, pacing.HEADROOM_CALLS, pacing.WINDOW_S, now]
                wait, _, _ = reserve([key], args)
                assert float(wait) == pytest.approx(schedule.reserve(limits, 500, now) - now, abs=1e-6), now
            elif step == "limited":
                found = cut(
                    [key],
                    [1.0, pacing.CUT_WINDOW_S, pacing.DECREASE, pacing.MIN_FACTOR, rpm]
                    + [pacing.WINDOW_S, pacing.MIN_SPAN_S, pacing.MIN_GUESS_RPM, pacing.CUT_HOLD_MAX_S]
                    + [pacing.GUESS_MARGIN, now],
                )
                expected = schedule.rate_limited(limits, 1.0, now)
                # tostring in the script keeps 14 digits
                lua = Cut(float(found[0]), float(found[1]) or None) if found else None
                assert (lua is None) == (expected is None), now
                if lua and expected:
                    assert lua.factor == pytest.approx(expected.factor), now
                    assert lua.guessed_rpm == pytest.approx(expected.guessed_rpm), now
                    guessed += lua.guessed_rpm is not None
            else:
                args = [pacing.INCREASE, 0, tpm, 0, 0, 60 * pacing.GUESS_GROWTH, rpm, pacing.WINDOW_S, now]
                succeed([key], args)
                schedule.succeeded(limits, 0, Limits(None, None), now)
            stored = {k.decode(): float(v) for k, v in client.hgetall(key).items()}
            for field in (
                "tat_req",
                "tat_tok",
                "factor",
                "cooldown",
                "guess_rpm",
                "win_sent",
                "win_refused",
                "win_ok",
                "prev_rate",
            ):
                mine = getattr(schedule, field)
                assert stored.get(field, 0.0 if field != "factor" else 1.0) == pytest.approx(mine or 0.0), field
    finally:
        client.delete(key)
    assert guessed > 0 if not limits.rpm else guessed == 0
