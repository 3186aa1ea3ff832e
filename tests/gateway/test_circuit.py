"""The circuit breaker on its own (janus/gateway/circuit.py): counts, states, the probe, the listener."""

from __future__ import annotations

import threading

import pytest

from janus.gateway.circuit import CLOSED, HALF_OPEN, OPEN, Breaker, CircuitOpen, Circuits
from tests.support.waiting import wait_for


def _breaker(threshold: int = 3, cooldown: float = 0.2) -> tuple[Breaker, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    return Breaker("Billing", threshold, cooldown, lambda name, state: changes.append((name, state))), changes


def _cooled(breaker: Breaker) -> bool:
    return breaker.remaining() == 0.0


def test_opens_after_the_threshold_of_consecutive_failures_and_refuses_at_once():
    breaker, changes = _breaker(threshold=3, cooldown=60)
    for _ in range(2):
        breaker.admit()
        breaker.failed()
    assert breaker.state == CLOSED and changes == []
    breaker.admit()
    breaker.failed()
    assert breaker.state == OPEN
    assert changes == [("Billing", OPEN)]
    with pytest.raises(CircuitOpen) as caught:
        breaker.admit()
    message = str(caught.value)
    assert message.startswith("Upstream 'Billing' is failing: circuit open for ")
    assert message.endswith("more seconds after 3 consecutive failures")
    assert 0 < caught.value.remaining <= 60


def test_a_success_resets_the_count_of_consecutive_failures():
    breaker, changes = _breaker(threshold=2)
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == CLOSED and breaker.failures == 1 and changes == []


def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes_the_circuit():
    breaker, changes = _breaker(threshold=1, cooldown=0.2)
    breaker.failed()
    wait_for(lambda: _cooled(breaker), what="the cool-down to end")
    breaker.admit()  # the probe
    assert breaker.state == HALF_OPEN
    with pytest.raises(CircuitOpen):  # everyone else waits for the probe's verdict
        breaker.admit()
    breaker.succeeded()
    assert breaker.state == CLOSED and breaker.failures == 0
    breaker.admit()
    assert changes == [("Billing", OPEN), ("Billing", HALF_OPEN), ("Billing", CLOSED)]


def test_a_failed_probe_opens_the_circuit_for_a_new_cooldown():
    breaker, changes = _breaker(threshold=1, cooldown=0.2)
    breaker.failed()
    wait_for(lambda: _cooled(breaker), what="the cool-down to end")
    breaker.admit()
    breaker.failed()
    assert breaker.state == OPEN
    assert breaker.remaining() > 0
    with pytest.raises(CircuitOpen) as caught:
        breaker.admit()
    assert "after 2 consecutive failures" in str(caught.value)
    assert changes == [("Billing", OPEN), ("Billing", HALF_OPEN), ("Billing", OPEN)]


def test_a_probe_that_ends_without_a_verdict_frees_its_slot():
    breaker, _ = _breaker(threshold=1, cooldown=0.2)
    breaker.failed()
    wait_for(lambda: _cooled(breaker), what="the cool-down to end")
    breaker.admit()
    breaker.released()  # e.g. the client cancelled the probe
    breaker.admit()  # the next caller probes
    assert breaker.state == HALF_OPEN


def test_threshold_zero_never_opens():
    breaker, changes = _breaker(threshold=0)
    for _ in range(50):
        breaker.admit()
        breaker.failed()
    assert breaker.state == CLOSED and changes == []


def test_only_one_of_many_concurrent_callers_becomes_the_probe():
    breaker, _ = _breaker(threshold=1, cooldown=0.1)
    breaker.failed()
    wait_for(lambda: _cooled(breaker), what="the cool-down to end")
    admitted: list[int] = []
    start = threading.Barrier(16)

    def caller(i: int) -> None:
        start.wait(timeout=10)
        try:
            breaker.admit()
            admitted.append(i)
        except CircuitOpen:
            pass

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(admitted) == 1


def test_circuits_keep_one_breaker_per_connection_and_renew_it_when_its_settings_change():
    changes: list[tuple[str, str]] = []
    circuits = Circuits(lambda name, state: changes.append((name, state)))
    first = circuits.get("c1", "Billing", 1, 30.0)
    assert circuits.get("c1", "Billing", 1, 30.0) is first
    assert circuits.get("c2", "Other", 1, 30.0) is not first
    first.failed()
    assert circuits.states()["Billing"]["state"] == OPEN
    renewed = circuits.get("c1", "Billing", 2, 30.0)  # the admin changed the threshold: start closed
    assert renewed is not first and renewed.state == CLOSED
    assert changes == [("Billing", OPEN), ("Billing", CLOSED)]
    assert circuits.states()["Billing"] == {"state": CLOSED, "failures": 0, "remaining_seconds": 0.0}
