"""GCRA (the generic cell rate algorithm): one timestamp per key, the "theoretical arrival
time" (TAT) at which the key's bucket would be empty again.

A call costs `interval` seconds of the TAT; `tolerance` is how far ahead of now the TAT
may run before a call must wait (the bucket's burst: a bucket of `b` calls has a tolerance
of `(b - 1) * interval`). Two uses:

- `reserve`, a scheduler: every call gets a slot, perhaps in the future, and sleeps until
  it; `not_before` holds slots back (a provider's Retry-After, another limit's slot).
- `admit`, a gate: a call that fits now is counted; one that does not is refused with its
  wait and counts nothing.

`LUA` is the same two functions for Redis scripts, which prepend it to their own text.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Slot(NamedTuple):
    start: float  # when the call may go (before `now`: it may go at once)
    tat: float  # the key's new theoretical arrival time


def reserve(tat: float | None, now: float, interval: float, tolerance: float, not_before: float = -math.inf) -> Slot:
    """The next free slot for a call costing `interval`; the caller stores `Slot.tat`."""
    tat = now if tat is None else max(tat, now)
    start = max(tat - tolerance, not_before)
    return Slot(start, max(tat, start) + interval)


def admit(tat: float | None, now: float, interval: float, tolerance: float) -> tuple[float, float | None]:
    """(0, the new TAT to store) when the call fits now; else (seconds to wait, None)."""
    start, new_tat = reserve(tat, now, interval, tolerance)
    if start > now:
        return start - now, None
    return 0.0, new_tat


# The Python above, line for line (Lua numbers are doubles, as Python's floats are). A
# script stores a TAT as a number argument, which Redis writes at full precision; Lua's
# tostring keeps only 14 digits, a tenth of a millisecond at Redis's clock's magnitude.
LUA = """
local function gcra_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function gcra_reserve(tat, now, interval, tolerance, not_before)
  tat = math.max(tat or now, now)
  local start = math.max(tat - tolerance, not_before or -math.huge)
  return start, math.max(tat, start) + interval
end
local function gcra_admit(tat, now, interval, tolerance)
  local start, new_tat = gcra_reserve(tat, now, interval, tolerance)
  if start > now then return start - now, nil end
  return 0, new_tat
end
"""
