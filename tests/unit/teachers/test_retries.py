"""The gateway's retry policy: Retry-After is a floor, 429s are patience, not failures."""

from __future__ import annotations

from tenacity import RetryCallState

from distillery.teachers.http import ConnectionFailed, StatusError, TimedOut
from distillery.teachers.retries import GiveUp, Wait, retryable


def _error(status: int, headers: dict[str, str] | None = None) -> StatusError:
    return StatusError(status, "boom", headers or {})


def _state(exc: BaseException, attempt: int, elapsed: float = 1.0) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    state.outcome_timestamp = state.start_time + elapsed
    return state


def test_retry_after_is_a_floor_with_jitter_on_top():
    wait = Wait()
    waits = {wait(_state(_error(503, {"retry-after": "2"}), attempt=1)) for _ in range(20)}
    assert all(2.0 <= w <= 3.5 for w in waits) and len(waits) > 1
    assert 0.5 <= wait(_state(_error(500, {"retry-after-ms": "500"}), attempt=1)) <= 2.0


def test_a_429_waits_only_jitter_because_the_shared_limiter_holds_everyone_back():
    assert all(0 <= Wait()(_state(_error(429, {"retry-after": "30"}), attempt=3)) <= 0.05 for _ in range(20))


def test_only_transient_errors_are_retried():
    assert retryable(_error(429)) and retryable(_error(500))
    assert not retryable(_error(400))
    assert retryable(ConnectionFailed("ServerDisconnectedError")) and retryable(TimedOut("slow"))
    assert not retryable(ConnectionFailed("ClientConnectorDNSError", refused="a loopback address"))


def test_rate_limits_do_not_use_up_the_attempts():
    give_up = GiveUp(max_attempts=3)
    assert not any(give_up(_state(_error(429), attempt=n)) for n in range(1, 50))
    assert give_up(_state(_error(429), attempt=50, elapsed=10_000))
    give_up = GiveUp(max_attempts=3)
    assert [give_up(_state(_error(500), attempt=n)) for n in (1, 2, 3)] == [False, False, True]
