"""The Lua GCRA that Redis runs and the Python one that runs without Redis give the same
answers: the same calls at the same instants are admitted or refused alike, with the same
waits, slots and stored timestamps, to the last bit."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest
import redis

from distillery.ratelimit import gcra

pytestmark = pytest.mark.integration

# The shared functions, driven at given instants (the service's scripts take Redis's clock),
# returning every number at full precision.
_HARNESS = (
    gcra.LUA
    + """
local tat = tonumber(redis.call('GET', KEYS[1]))
local now, interval, tolerance = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local first, new_tat
if ARGV[1] == 'admit' then
  first, new_tat = gcra_admit(tat, now, interval, tolerance)
else
  first, new_tat = gcra_reserve(tat, now, interval, tolerance, tonumber(ARGV[5]))
end
if new_tat == nil then return {string.format('%.17g', first), ''} end
redis.call('SET', KEYS[1], new_tat, 'EX', 60)
return {string.format('%.17g', first), string.format('%.17g', new_tat)}
"""
)


def calls(seed: int, n: int = 400) -> Iterator[tuple[str, float, float, float, float]]:
    """(mode, now, interval, tolerance, not_before): bursts at one instant, pauses, odd rates,
    at the magnitude of Redis's clock, where 14 digits would lose a tenth of a millisecond."""
    rng = random.Random(seed)
    now = 1_764_000_000.0 + rng.random()
    interval = rng.choice([1 / 3, 0.1, 60 / 7_000_000, 0.75])
    tolerance = rng.choice([0.0, 4 * interval, 0.75 - 2 * interval, 1.3])
    for _ in range(n):
        now += rng.choice([0.0, 0.0, interval / 3, interval, rng.expovariate(2 / interval), rng.random() * 3])
        mode = rng.choice(["admit", "reserve"])
        not_before = now + rng.choice([0.0, 0.0, rng.random()])
        yield mode, now, interval, tolerance, not_before


@pytest.mark.parametrize("seed", range(6))
def test_lua_and_python_agree_on_every_call_of_a_sequence(client: redis.Redis, seed: int) -> None:
    script = client.register_script(_HARNESS)
    key = f"distillery:test:gcra-parity:{uuid.uuid4().hex}"
    tat: float | None = None
    refused = 0
    try:
        for mode, now, interval, tolerance, not_before in calls(seed):
            if mode == "admit":
                first, new_tat = gcra.admit(tat, now, interval, tolerance)
                refused += new_tat is None
            else:
                first, new_tat = gcra.reserve(tat, now, interval, tolerance, not_before)
            lua_first, lua_tat = script(keys=[key], args=[mode, now, interval, tolerance, not_before])
            assert float(lua_first) == first, (mode, now)
            assert (float(lua_tat) if lua_tat else None) == new_tat, (mode, now)
            tat = new_tat if new_tat is not None else tat
    finally:
        client.delete(key)
    assert refused > 0  # the sequence did reach the limit
