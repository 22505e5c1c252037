"""The teacher's circuit: one first call, refusals for everyone, outages opened only when
sustained, one probe at a time with backoff, closed by the first answer."""

from __future__ import annotations

import asyncio

import pytest

from distillery.teachers.circuit import (
    FAILING_S,
    FAILURES,
    FIRST_CONTACT_S,
    REFUSED_S,
    Circuit,
    Refused,
    make_breaker,
)

PROBE_S = 35.0


def answered() -> Circuit:
    circuit = Circuit()
    assert circuit.admit(0.0, PROBE_S) == 0  # the first call goes
    circuit.succeeded()
    return circuit


def test_a_new_teacher_lets_one_call_go_first_and_the_rest_wait_for_its_answer():
    circuit = Circuit()
    assert circuit.admit(0.0, PROBE_S) == 0
    assert circuit.admit(0.01, PROBE_S) > 0  # waits for the first call's answer
    circuit.succeeded()
    assert circuit.state == "closed" and circuit.admit(0.02, PROBE_S) == 0


def test_a_refusal_reaches_every_caller_and_is_forgotten_after_a_while():
    circuit = Circuit()
    circuit.admit(0.0, PROBE_S)
    circuit.failed(1.0, "refused the requests (HTTP 401: bad key)", transient=False)
    with pytest.raises(Refused, match="HTTP 401"):
        circuit.admit(1.1, PROBE_S)
    assert circuit.admit(1.0 + REFUSED_S, PROBE_S) == 0  # a fixed key gets its chance


def test_scattered_server_errors_do_not_open_the_circuit():
    circuit = answered()
    for t in range(100):
        circuit.failed(float(t), "teacher_http_500: boom", transient=True)
        if t % 3 == 0:
            circuit.succeeded()
    assert circuit.state == "closed"


def test_failures_in_a_burst_under_the_time_span_do_not_open_it_either():
    circuit = answered()
    for n in range(FAILURES * 3):
        circuit.failed(10.0 + n * (FAILING_S / (FAILURES * 4)), "teacher_timeout: slow", transient=True)
    assert circuit.state == "closed"


def test_a_sustained_outage_opens_it_and_one_probe_at_a_time_goes_with_backoff():
    circuit = answered()
    t = 100.0
    for _ in range(FAILURES):
        circuit.failed(t, "teacher_unreachable: could not connect", transient=True)
        t += FAILING_S / (FAILURES - 1)
    assert circuit.state == "open" and "teacher_unreachable" in circuit.cause
    assert circuit.admit(t, PROBE_S) > 0  # nobody before the first backoff
    first = circuit.probe_at
    assert circuit.admit(first, PROBE_S) == 0  # the probe
    assert circuit.admit(first + 0.1, PROBE_S) > 0  # one probe at a time
    circuit.failed(first + 0.2, "teacher_unreachable: could not connect", transient=True)
    assert circuit.probe_at - (first + 0.2) > first - t  # the backoff grew
    assert circuit.admit(circuit.probe_at, PROBE_S) == 0
    circuit.succeeded()
    assert circuit.state == "closed" and circuit.admit(circuit.probe_at + 1, PROBE_S) == 0


def test_a_teacher_that_never_answers_is_refused_rather_than_waited_for():
    circuit = Circuit()
    t = 0.0
    while t <= FIRST_CONTACT_S + 1:
        if circuit.state == "refused":
            break
        circuit.failed(t, "teacher_unreachable: could not connect", transient=True)
        t += 1.0
    with pytest.raises(Refused, match="never answered"):
        circuit.admit(t, PROBE_S)


def test_a_probe_given_back_unsent_lets_the_next_caller_probe_at_once():
    circuit = Circuit()
    assert circuit.admit(0.0, PROBE_S) == 0  # the first call goes... then its job is cancelled
    assert circuit.admit(0.1, PROBE_S) > 0
    circuit.withdraw()
    assert circuit.admit(0.2, PROBE_S) == 0  # not a probe's whole timeout later


def test_a_caller_waiting_for_the_probe_stops_waiting_once_its_call_is_unwanted(tmp_path):
    breaker = make_breaker(None, tmp_path, "tch_1", PROBE_S)
    waiter = make_breaker(None, tmp_path, "tch_1", PROBE_S)  # another process's gateway

    async def scenario() -> None:
        first = await breaker.admit(wanted)
        assert first.probe and first.circuit.state == "unverified"
        with pytest.raises(LookupError, match="cancelled"):
            await asyncio.wait_for(waiter.admit(cancelled), timeout=PROBE_S / 2)
        await breaker.withdraw()
        assert (await asyncio.wait_for(waiter.admit(wanted), timeout=PROBE_S / 2)).probe

    async def wanted() -> None:
        pass

    async def cancelled() -> None:
        raise LookupError("the job was cancelled")

    asyncio.run(scenario())


def test_a_chunks_callers_share_their_looks_at_the_store_and_one_probe_goes(tmp_path):
    """Fifty calls of a chunk meet a new teacher: one goes as the probe, the others wait
    for its answer without each polling the shared store, and all go once it answers."""
    breaker = make_breaker(None, tmp_path, "tch_1", PROBE_S)
    looks = 0
    update = breaker._store.update

    async def counted(step):  # type: ignore[no-untyped-def]
        nonlocal looks
        looks += 1
        return await update(step)

    breaker._store.update = counted  # type: ignore[method-assign]

    async def wanted() -> None:
        pass

    async def scenario() -> list[bool]:
        first = await breaker.admit(wanted)
        assert first.probe
        rest = [asyncio.create_task(breaker.admit(wanted)) for _ in range(49)]
        await asyncio.sleep(0.3)  # the probe's call takes a while: six polls' worth
        assert not any(task.done() for task in rest)
        await breaker.succeeded()
        return [admission.probe for admission in await asyncio.gather(*rest)]

    assert asyncio.run(scenario()) == [False] * 49
    # The probe's admission and answer, then about one look per poll, not one per caller.
    assert looks < 20, looks
