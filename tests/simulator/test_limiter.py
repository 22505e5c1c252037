"""The simulator's per-second token buckets and the provider-style headers they send."""

from __future__ import annotations

import pytest

from distillery_simulator.limiter import RateLimiter, format_reset, refusal_headers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rpm_bucket_admits_one_per_second_at_sixty_rpm() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, tpm=None, clock=clock)
    assert limiter.try_acquire().allowed
    refused = limiter.try_acquire()
    assert not refused.allowed and refused.limited_by == "requests"
    assert refused.retry_after_s == pytest.approx(1.0)
    assert refused.headers["retry-after"] == "1"
    clock.now += 0.5
    assert limiter.try_acquire().retry_after_s == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.try_acquire().allowed


def test_rpm_bucket_holds_one_seconds_share_and_refills_continuously() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=3000, tpm=None, clock=clock)
    clock.now += 100  # idling never banks more than the capacity
    assert all(limiter.try_acquire().allowed for _ in range(50))
    refused = limiter.try_acquire()
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.02)
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-limit-requests"] == "3000"
    clock.now += 0.1
    assert sum(limiter.try_acquire().allowed for _ in range(10)) == 5


def test_tpm_bucket_refuses_by_prompt_tokens_without_spending_a_request() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=600, tpm=600, clock=clock)  # 10 requests and 10 tokens a second
    assert limiter.try_acquire(8).allowed
    refused = limiter.try_acquire(5)
    assert not refused.allowed and refused.limited_by == "tokens"
    assert refused.retry_after_s == pytest.approx(0.3)
    assert refused.headers["x-ratelimit-remaining-requests"] == "9"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "2"
    clock.now += 10
    # A prompt larger than the bucket is charged a full bucket rather than refused forever.
    assert limiter.try_acquire(10_000).allowed


def test_reset_and_retry_headers_use_provider_formats() -> None:
    assert format_reset(0.12) == "120ms"
    assert format_reset(1) == "1s"
    assert format_reset(1.5) == "1.5s"
    assert format_reset(360) == "6m0s"
    assert refusal_headers(0.3) == {"retry-after": "1", "retry-after-ms": "300"}
    assert refusal_headers(2.01) == {"retry-after": "3", "retry-after-ms": "2010"}
