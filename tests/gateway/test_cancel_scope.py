"""A client's cancellation stops the executor's wait on a real upstream (janus/gateway/cancel_scope.py)."""

from __future__ import annotations

import threading

import pytest

from janus.gateway.cancel_scope import CallCancelled
from janus.gateway.executor import Executor
from janus.mcp.cancellation import CancelSignal
from tests.gateway.conftest import make_tool
from tests.support.hanging_upstream import HangingUpstream

WAIT = 15.0


@pytest.fixture
def hanging():
    upstream = HangingUpstream()
    yield upstream
    upstream.stop()


class Call:
    """One execute() on its own thread, keeping what it returned or raised."""

    def __init__(self, executor: Executor, tool, arguments: dict, cancel: CancelSignal | None) -> None:
        self.outcome: object = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(executor, tool, arguments, cancel), daemon=True)
        self._thread.start()

    def _run(self, executor, tool, arguments, cancel) -> None:
        try:
            self.outcome = executor.execute(tool, arguments, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - the test asserts on it
            self.error = exc

    def join(self):
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the call did not end"
        return self


def test_cancelling_a_call_closes_the_upstream_connection_and_raises_call_cancelled(executor, hanging):
    cancel = CancelSignal()
    call = Call(executor, make_tool(hanging.url, timeout=30), {"id": "waiting"}, cancel)
    hanging.wait_arrived("/items/waiting")
    cancel.set()
    assert isinstance(call.join().error, CallCancelled)
    hanging.wait_hung_up("/items/waiting")  # the upstream saw its connection closed
    assert hanging.answered == []


def test_a_call_cancelled_before_it_is_sent_never_reaches_the_upstream(executor, hanging):
    cancel = CancelSignal()
    cancel.set()
    with pytest.raises(CallCancelled):
        executor.execute(make_tool(hanging.url), {"id": "never"}, cancel=cancel)
    hanging.release.set()
    # A later, uncancelled call on the same executor goes through: nothing of the first is left behind.
    assert executor.execute(make_tool(hanging.url), {"id": "later"}).http_status == 200
    assert hanging.arrived == ["/items/later"]


def test_a_cancellation_on_a_reused_keep_alive_connection_cuts_that_connection(executor, hanging):
    tool = make_tool(hanging.url, timeout=30)
    hanging.release.set()
    assert executor.execute(tool, {"id": "warm"}).http_status == 200  # leaves a pooled connection
    hanging.release.clear()
    cancel = CancelSignal()
    call = Call(executor, tool, {"id": "reused"}, cancel)
    hanging.wait_arrived("/items/reused")
    assert executor._target(tool.connection).pool.num_connections == 1  # the kept-alive one, not a new one
    cancel.set()
    assert isinstance(call.join().error, CallCancelled)
    hanging.wait_hung_up("/items/reused")


def test_a_cancellation_after_the_answer_never_touches_the_pooled_connection(executor, hanging):
    """The socket is unbound before its connection returns to the pool: a late cancel cannot cut
    a connection that another call has taken meanwhile."""
    tool = make_tool(hanging.url, timeout=30)
    hanging.release.set()
    cancel = CancelSignal()
    assert executor.execute(tool, {"id": "done"}, cancel=cancel).http_status == 200
    hanging.release.clear()
    other = Call(executor, tool, {"id": "next"}, None)  # takes the pooled connection
    hanging.wait_arrived("/items/next")
    cancel.set()  # the first call's cancellation, far too late
    hanging.release.set()
    assert other.join().error is None and other.outcome.http_status == 200
    assert hanging.hung_up == []


def test_an_unrelated_call_is_not_cancelled_with_another(executor, hanging):
    tool = make_tool(hanging.url, timeout=30)
    doomed_signal, kept_signal = CancelSignal(), CancelSignal()
    doomed = Call(executor, tool, {"id": "doomed"}, doomed_signal)
    kept = Call(executor, tool, {"id": "kept"}, kept_signal)
    hanging.wait_arrived("/items/doomed")
    hanging.wait_arrived("/items/kept")
    doomed_signal.set()
    assert isinstance(doomed.join().error, CallCancelled)
    hanging.release.set()
    assert kept.join().error is None and kept.outcome.http_status == 200
    assert hanging.hung_up == ["/items/doomed"]
