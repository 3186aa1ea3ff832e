"""Retries, the per-endpoint timeout and the circuit breaker in the executor, against real upstreams on 127.0.0.1
(janus/gateway/retries.py, janus/gateway/circuit.py). No timing thresholds: counts of requests the upstream saw."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from janus.gateway import retries
from janus.gateway.executor import Executor, UpstreamError
from janus.gateway.metrics import circuit_states
from janus.gateway.specs import ToolSpec
from tests.gateway.conftest import Upstream, make_tool
from tests.support.faulty_upstream import Exchange, FaultyUpstream, complete
from tests.support.waiting import wait_for


def _tool(base_url: str, *, method: str = "GET", retries: int = 0, threshold: int = 0, cooldown: float = 30.0, **kw):
    tool = make_tool(base_url, method=method, **kw)
    conn = replace(tool.connection, retries=retries, breaker_threshold=threshold, breaker_cooldown_seconds=cooldown)
    return replace(tool, connection=conn)


def _answers(upstream: Upstream, *statuses: int, headers: dict[str, str] | None = None) -> None:
    """The upstream answers these statuses in turn, then 200 for ever."""
    left = list(statuses)

    def handler(req, h):
        status = left.pop(0) if left else 200
        upstream.send(h, status, b'{"n": %d}' % len(upstream.received), "application/json", headers)

    upstream.handler = handler


# -- backoff ---------------------------------------------------------------------------------------------


def test_backoff_is_full_jitter_bounded_by_the_exponential_and_the_cap():
    for attempt, bound in ((1, 0.1), (2, 0.2), (3, 0.4), (5, 1.6), (6, 2.0), (20, 2.0)):
        waits = [retries.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= w <= bound for w in waits)
        assert len(set(waits)) > 100  # jittered, not one fixed wait


def test_retry_after_reads_delta_seconds_only():
    assert retries.retry_after("3") == 3.0
    assert retries.retry_after(" 0 ") == 0.0
    assert retries.retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retries.retry_after("-1") is None
    assert retries.retry_after("99999999") is None
    assert retries.retry_after(None) is None


# -- retries ---------------------------------------------------------------------------------------------


def test_a_get_is_retried_after_503_and_502_until_it_succeeds(executor: Executor, upstream: Upstream):
    _answers(upstream, 503, 502)
    outcome = executor.execute(_tool(upstream.base_url, retries=2), {"id": "1"})
    assert outcome.status == "success" and outcome.http_status == 200
    assert outcome.attempts == 3
    assert [r.method for r in upstream.received] == ["GET", "GET", "GET"]


def test_retries_stop_at_the_configured_count(executor: Executor, upstream: Upstream):
    _answers(upstream, 504, 504, 504, 504)
    outcome = executor.execute(_tool(upstream.base_url, retries=2), {"id": "1"})
    assert outcome.http_status == 504 and outcome.status == "failure"
    assert outcome.attempts == 3 and len(upstream.received) == 3


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_non_idempotent_call_is_never_retried(executor: Executor, upstream: Upstream, method: str):
    _answers(upstream, 503, 503)
    outcome = executor.execute(_tool(upstream.base_url, method=method, retries=5, path="/items"), {"id": "1"})
    assert outcome.http_status == 503 and outcome.attempts == 1
    assert [r.method for r in upstream.received] == [method]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_other_idempotent_methods_are_retried(executor: Executor, upstream: Upstream, method: str):
    _answers(upstream, 503)
    outcome = executor.execute(_tool(upstream.base_url, method=method, retries=1, path="/items"), {"id": "1"})
    assert outcome.http_status == 200 and outcome.attempts == 2
    assert [r.method for r in upstream.received] == [method, method]


def test_other_statuses_are_not_retried(executor: Executor, upstream: Upstream):
    _answers(upstream, 500)
    outcome = executor.execute(_tool(upstream.base_url, retries=3), {"id": "1"})
    assert outcome.http_status == 500 and outcome.attempts == 1 and len(upstream.received) == 1


def test_no_retries_by_default(executor: Executor, upstream: Upstream):
    _answers(upstream, 503)
    outcome = executor.execute(make_tool(upstream.base_url), {"id": "1"})
    assert outcome.http_status == 503 and outcome.attempts == 1 and len(upstream.received) == 1


def test_429_is_retried_only_when_its_retry_after_fits_in_the_time_left(executor: Executor, upstream: Upstream):
    _answers(upstream, 429, headers={"Retry-After": "0"})
    outcome = executor.execute(_tool(upstream.base_url, retries=1), {"id": "1"})
    assert outcome.http_status == 200 and outcome.attempts == 2

    upstream.received.clear()
    _answers(upstream, 429, headers={"Retry-After": "30"})  # beyond the 5 s timeout: answered as it is
    outcome = executor.execute(_tool(upstream.base_url, retries=1), {"id": "1"})
    assert outcome.http_status == 429 and outcome.attempts == 1 and len(upstream.received) == 1


def test_a_refused_connection_is_retried_and_the_error_counts_the_attempts(executor: Executor, closed_port: int):
    with pytest.raises(UpstreamError) as caught:
        executor.execute(_tool(f"http://127.0.0.1:{closed_port}", retries=2), {"id": "1"})
    assert caught.value.kind == "refused"
    assert caught.value.attempts == 3


def test_a_connection_reset_before_the_response_is_retried(executor: Executor):
    def respond(exchange: Exchange) -> None:
        if exchange.request.connection == 0:
            exchange.reset()  # the first connection is reset before any response byte
        else:
            exchange.send(complete(b'{"ok": true}'))

    with FaultyUpstream(respond) as upstream:
        outcome = executor.execute(_tool(upstream.url, retries=1), {"id": "1"})
        assert outcome.http_status == 200 and outcome.attempts == 2
        assert [r.connection for r in upstream.requests] == [0, 1]


def test_retries_end_at_the_calls_deadline(executor: Executor, upstream: Upstream):
    # Each answer takes 0.4 s; five retries would need 2.4 s and more, the call has 1 s in all.
    def slow_503(req, h):
        time.sleep(0.4)
        upstream.send(h, 503, b"{}", "application/json")

    upstream.handler = slow_503
    started = time.monotonic()
    try:
        outcome = executor.execute(_tool(upstream.base_url, retries=5, timeout=1.0), {"id": "1"})
        attempts = outcome.attempts
        assert outcome.http_status == 503
    except UpstreamError as exc:  # the last attempt ran into the deadline
        assert exc.kind == "timeout"
        attempts = exc.attempts
    assert attempts < 6
    assert attempts == len(upstream.received)
    assert time.monotonic() - started < 5.0  # generous: the point is that 6 × 0.4 s plus waits never ran


def test_a_cancelled_call_is_not_retried(executor: Executor, upstream: Upstream):
    from janus.gateway.cancel_scope import CallCancelled

    cancelled = threading.Event()

    class Signal:
        def is_set(self) -> bool:
            return cancelled.is_set()

        def on_cancel(self, callback):
            return lambda: None  # the cut of a waiting socket is not what this test is about

    def answer_then_cancel(req, h):
        cancelled.set()  # the client gives up while the upstream answers 503
        upstream.send(h, 503, b"{}", "application/json")

    upstream.handler = answer_then_cancel
    with pytest.raises(CallCancelled):
        executor.execute(_tool(upstream.base_url, retries=3), {"id": "1"}, cancel=Signal())
    assert len(upstream.received) == 1


# -- per-endpoint timeout ----------------------------------------------------------------------------------


def _slow(upstream: Upstream, seconds: float) -> None:
    def handler(req, h):
        upstream.release.wait(seconds)
        upstream.send(h, 200, b'{"ok": true}', "application/json")

    upstream.handler = handler


def test_the_endpoints_timeout_overrides_a_longer_connection_timeout(executor: Executor, upstream: Upstream):
    _slow(upstream, 3.0)
    tool: ToolSpec = replace(make_tool(upstream.base_url, timeout=30.0), timeout_seconds=0.5)
    with pytest.raises(UpstreamError) as caught:
        executor.execute(tool, {"id": "1"})
    assert caught.value.kind == "timeout"
    assert str(caught.value) == "Upstream 'Billing' timed out after 0.5s"


def test_the_endpoints_timeout_overrides_a_shorter_connection_timeout(executor: Executor, upstream: Upstream):
    _slow(upstream, 0.6)
    tool: ToolSpec = replace(make_tool(upstream.base_url, timeout=0.3), timeout_seconds=10.0)
    assert executor.execute(tool, {"id": "1"}).http_status == 200


# -- the circuit breaker in the executor ---------------------------------------------------------------------


def _named(tool: ToolSpec, name: str) -> ToolSpec:
    return replace(tool, connection=replace(tool.connection, id=name, name=name))


def test_the_circuit_opens_after_n_failures_and_then_the_upstream_sees_no_request(
    executor: Executor, upstream: Upstream
):
    _answers(upstream, 503, 503, 503)
    tool = _named(_tool(upstream.base_url, threshold=2, cooldown=60), "breaker-opens")
    assert executor.execute(tool, {"id": "1"}).http_status == 503
    assert executor.execute(tool, {"id": "1"}).http_status == 503
    with pytest.raises(UpstreamError) as caught:
        executor.execute(tool, {"id": "1"})
    assert caught.value.kind == "circuit_open"
    assert caught.value.attempts == 0
    assert "circuit open for" in str(caught.value) and "after 2 consecutive failures" in str(caught.value)
    assert len(upstream.received) == 2  # the third call never left the gateway
    assert circuit_states()["breaker-opens"] == "open"


def test_after_the_cooldown_a_successful_probe_closes_the_circuit(executor: Executor, closed_port: int, upstream):
    dead = _named(_tool(f"http://127.0.0.1:{closed_port}", threshold=1, cooldown=0.3), "breaker-probe")
    with pytest.raises(UpstreamError) as first:
        executor.execute(dead, {"id": "1"})
    assert first.value.kind == "refused"
    with pytest.raises(UpstreamError) as refused:
        executor.execute(dead, {"id": "1"})
    assert refused.value.kind == "circuit_open"
    assert circuit_states()["breaker-probe"] == "open"
    # The upstream is back (same connection id and name, a live address) once the cool-down is over.
    alive = replace(dead, connection=replace(dead.connection, base_url=upstream.base_url))
    breaker = executor.circuits.get("breaker-probe", "breaker-probe", 1, 0.3)
    wait_for(lambda: breaker.remaining() == 0.0, what="the cool-down to end")
    assert executor.execute(alive, {"id": "1"}).http_status == 200
    assert len(upstream.received) == 1
    assert circuit_states()["breaker-probe"] == "closed"
    assert executor.execute(alive, {"id": "1"}).http_status == 200


def test_a_post_that_fails_counts_toward_the_circuit_but_is_not_retried(executor: Executor, upstream: Upstream):
    _answers(upstream, 502, 502)
    tool = _named(_tool(upstream.base_url, method="POST", path="/items", retries=3, threshold=2), "breaker-post")
    executor.execute(tool, {"id": "1"})
    executor.execute(tool, {"id": "1"})
    with pytest.raises(UpstreamError) as caught:
        executor.execute(tool, {"id": "1"})
    assert caught.value.kind == "circuit_open"
    assert [r.method for r in upstream.received] == ["POST", "POST"]


def test_a_success_between_failures_keeps_the_circuit_closed(executor: Executor, upstream: Upstream):
    _answers(upstream, 503, 200, 503, 200, 503)
    tool = _named(_tool(upstream.base_url, threshold=2), "breaker-intermittent")
    statuses = [executor.execute(tool, {"id": "1"}).http_status for _ in range(5)]
    assert statuses == [503, 200, 503, 200, 503]
