"""Per-minute request and token limits, enforced as per-second token buckets.

A bucket holds at most a second's worth of its limit (at least one unit) and refills
continuously, so a client that paces itself at the limit is never refused, while a burst
larger than one second's share is. Every answer carries the `x-ratelimit-*` headers that
OpenAI sends, so a client can pace itself from them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Float refill arithmetic can leave 0.9999999 where 1 was meant; don't refuse on rounding.
_EPSILON = 1e-9


@dataclass
class TokenBucket:
    capacity: float
    rate: float  # units per second
    level: float
    updated: float

    @classmethod
    def per_minute(cls, limit: int, now: float) -> TokenBucket:
        capacity = max(1.0, limit / 60)
        return cls(capacity=capacity, rate=limit / 60, level=capacity, updated=now)

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.level = min(self.capacity, self.level + elapsed * self.rate)
        self.updated = now

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` units are available; 0 when they are now."""
        missing = cost - self.level
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def until_full(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.rate)


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after_s: float  # 0 when allowed
    limited_by: str | None  # "requests" or "tokens" when refused
    headers: dict[str, str]


def format_reset(seconds: float) -> str:
    """Duration in OpenAI's header style: "120ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"


def refusal_headers(wait_s: float) -> dict[str, str]:
    """Retry-After in whole seconds (at least 1) and the finer retry-after-ms the SDK prefers."""
    return {
        "retry-after": str(max(1, math.ceil(wait_s))),
        "retry-after-ms": str(max(1, math.ceil(wait_s * 1000))),
    }


class RateLimiter:
    """RPM and TPM buckets; either may be None (unlimited). Safe to share across threads."""

    def __init__(self, rpm: int | None, tpm: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._limits = {"requests": rpm, "tokens": tpm}
        self._buckets = {
            name: TokenBucket.per_minute(limit, now) for name, limit in self._limits.items() if limit is not None
        }

    def try_acquire(self, tokens: int = 0) -> Admission:
        """Take one request and `tokens` prompt tokens, or say how long to wait for them."""
        with self._lock:
            now = self._clock()
            costs: dict[str, float] = {}
            for name, bucket in self._buckets.items():
                bucket.refill(now)
                # A prompt bigger than the bucket could never pass; charge it a full bucket.
                costs[name] = 1.0 if name == "requests" else min(float(tokens), bucket.capacity)
            waits = {name: self._buckets[name].wait_for(cost) for name, cost in costs.items()}
            blocking = max(waits, key=lambda name: waits[name], default=None)
            if blocking is not None and waits[blocking] > 0:
                headers = self._headers() | refusal_headers(waits[blocking])
                return Admission(False, waits[blocking], blocking, headers)
            for name, cost in costs.items():
                self._buckets[name].level -= cost
            return Admission(True, 0.0, None, self._headers())

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket in self._buckets.items():
            headers[f"x-ratelimit-limit-{name}"] = str(self._limits[name])
            headers[f"x-ratelimit-remaining-{name}"] = str(max(0, math.floor(bucket.level + _EPSILON)))
            headers[f"x-ratelimit-reset-{name}"] = format_reset(bucket.until_full())
        return headers


class Storm:
    """Refuse everything for `duration_s` once `after` requests have come in."""

    def __init__(self, after: int | None, duration_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._after, self._duration_s, self._clock = after, duration_s, clock
        self._until: float | None = None

    def remaining(self, requests_so_far: int) -> float:
        """Seconds of storm left (0 when none)."""
        if self._after is None or requests_so_far <= self._after:
            return 0.0
        now = self._clock()
        if self._until is None:
            self._until = now + self._duration_s
        return max(0.0, self._until - now)
