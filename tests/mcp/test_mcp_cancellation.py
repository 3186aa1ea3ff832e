"""Cancellation and concurrency: requests served in threads on one Session, as the stdio transport does."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from mcp_core_fakes import envelope, req

WAIT = 5.0


def cancelled(request_id, **params):
    return {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id, **params}}


class InBackground:
    """Runs one `server.handle` call on its own thread and keeps what it returned."""

    def __init__(self, server, message, session):
        self.response = "not finished"
        self._thread = threading.Thread(target=self._run, args=(server, message, session), daemon=True)
        self._thread.start()

    def _run(self, server, message, session):
        self.response = server.handle(message, session=session, caller="alice")

    def join(self):
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "request thread did not finish"
        return self.response


@pytest.fixture
def blocked(server, backend, session):
    """A tools/call with id 5 parked inside the backend until the test releases it."""
    call = InBackground(server, req("tools/call", {"name": "block"}, id=5), session)
    assert backend.started.wait(WAIT)
    yield call
    backend.release.set()


def test_cancelled_request_gets_no_response(server, backend, session, blocked):
    assert session.in_flight() == [5]
    assert server.handle(cancelled(5, reason="user closed the tab"), session=session, caller=None) is None
    backend.release.set()
    assert blocked.join() is None
    assert backend.saw_cancel == [True]
    assert session.in_flight() == []


def test_cancelled_request_gets_no_line_from_handle_raw(server, backend, session):
    out: list = []
    thread = threading.Thread(
        target=lambda: out.append(
            server.handle_raw(
                '{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"block"}}',
                session=session,
                caller=None,
            )
        )
    )
    thread.start()
    assert backend.started.wait(WAIT)
    server.handle_raw(
        '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}', session=session, caller=None
    )
    backend.release.set()
    thread.join(WAIT)
    assert out == [None]


def test_cancelling_another_id_leaves_the_request_answered(server, backend, session, blocked):
    server.handle(cancelled("5"), session=session, caller=None)  # a string id is a different request
    server.handle(cancelled(6), session=session, caller=None)
    backend.release.set()
    response = blocked.join()
    assert response["id"] == 5 and "result" in response
    assert backend.saw_cancel == [False]


def test_other_requests_on_the_session_are_served_while_one_is_blocked(server, session, blocked):
    assert server.handle(req("tools/list", id=6), session=session, caller=None)["id"] == 6
    assert server.handle(req("ping", id=7), session=session, caller=None)["result"] == {}
    assert session.in_flight() == [5]


def test_cancellation_in_the_stateless_era_suppresses_the_response(server, backend, session):
    message = req("tools/call", {"name": "block", "_meta": envelope()}, id=8)
    call = InBackground(server, message, session)
    assert backend.started.wait(WAIT)
    notice = cancelled(8, _meta=envelope())
    assert server.handle(notice, session=session, caller=None) is None
    backend.release.set()
    assert call.join() is None


def test_transport_can_cancel_an_in_flight_request_directly(server, backend, session, blocked):
    assert session.cancel(5) is True
    backend.release.set()
    assert blocked.join() is None


def test_cancel_all_drops_every_in_flight_response(server, backend, session, blocked):
    session.cancel_all()
    backend.release.set()
    assert blocked.join() is None


def test_cancelling_a_finished_request_is_ignored_and_the_id_can_be_reused(server, session):
    assert server.handle(req("ping", id=1), session=session, caller=None)["result"] == {}
    assert session.cancel(1) is False
    server.handle(cancelled(1), session=session, caller=None)
    assert server.handle(req("ping", id=1), session=session, caller=None)["result"] == {}


@pytest.mark.parametrize("params", [None, {}, {"requestId": None}, {"requestId": 1.5}, {"requestId": [5]}])
def test_malformed_cancellation_is_ignored(server, backend, session, blocked, params):
    message = {"jsonrpc": "2.0", "method": "notifications/cancelled"}
    if params is not None:
        message["params"] = params
    assert server.handle(message, session=session, caller=None) is None
    backend.release.set()
    assert blocked.join()["id"] == 5


def test_cancellation_without_a_session_is_ignored(server):
    assert server.handle(cancelled(1), session=None, caller=None) is None


def test_many_concurrent_requests_on_one_session_each_get_their_own_answer(server, session):
    def send(i):
        # ping exists in the handshake era only (odd i carry the 2026-07-28 envelope): discover there.
        method = ("tools/list", "tools/call", "server/discover" if i % 2 else "ping")[i % 3]
        params = {"name": "alpha", "arguments": {"i": i}} if method == "tools/call" else None
        if i % 2:
            params = {**(params or {}), "_meta": envelope()}
        return server.handle(req(method, params, id=i), session=session, caller=f"caller-{i}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(send, range(300)))
    assert [r["id"] for r in responses] == list(range(300))
    assert all("result" in r for r in responses)
    assert session.in_flight() == []


# -- the signal itself ------------------------------------------------------------------------


def test_a_cancel_signal_runs_its_callbacks_once_when_set_and_at_once_when_already_set():
    from janus.mcp.cancellation import CancelSignal

    signal, ran = CancelSignal(), []
    signal.on_cancel(lambda: ran.append("first"))
    removed = signal.on_cancel(lambda: ran.append("removed"))
    removed()
    assert not signal.is_set() and ran == []
    signal.set()
    signal.set()  # idempotent: callbacks run once
    assert signal.is_set() and signal.wait(0) and ran == ["first"]
    signal.on_cancel(lambda: ran.append("late"))
    assert ran == ["first", "late"]


def test_a_failing_cancel_callback_does_not_keep_the_others_from_running():
    from janus.mcp.cancellation import CancelSignal

    signal, ran = CancelSignal(), []
    signal.on_cancel(lambda: 1 / 0)
    signal.on_cancel(lambda: ran.append("second"))
    signal.set()
    assert ran == ["second"]


def test_a_waiter_on_a_cancel_signal_wakes_when_it_is_set():
    from janus.mcp.cancellation import CancelSignal

    signal, woke = CancelSignal(), []
    waiter = threading.Thread(target=lambda: woke.append(signal.wait(WAIT)))
    waiter.start()
    assert signal.wait(0.01) is False
    signal.set()
    waiter.join(WAIT)
    assert woke == [True]
