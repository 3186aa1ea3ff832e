"""Cancellations reach requests of shared sessions in any process (janus/transports/cancellation.py).

Two real buses stand for two workers (Unix sockets) or two replicas (PostgreSQL LISTEN/NOTIFY);
each has its own InFlightCalls, as each worker process does.
"""

from __future__ import annotations

import json

import pytest

from janus.mcp.cancellation import CancelSignal
from janus.transports.cancellation import EARLY_MAX, InFlightCalls
from tests.support.waiting import wait_for
from tests.transports.test_bus import local_pair, pair, pg_pair, pg_uri, runtime_dir  # noqa: F401 - fixtures


@pytest.fixture
def workers(pair):  # noqa: F811 - the fixture imported above
    a, b = pair
    here, there = InFlightCalls(lambda: a), InFlightCalls(lambda: b)
    assert here.connect() and there.connect()  # as each worker does when its HTTP transports start
    return here, there


def _running(calls: InFlightCalls, session_id: str, request_id) -> CancelSignal:
    signal = CancelSignal()
    calls.register(session_id, request_id, signal)
    return signal


def test_a_cancellation_sent_to_one_worker_reaches_the_request_on_another(workers):
    here, there = workers
    running = _running(there, "session-a", 7)
    bystander = _running(there, "session-a", 8)
    other_session = _running(there, "session-b", 7)
    here.cancel("session-a", 7)
    wait_for(running.is_set, what="the cancellation to cross the bus")
    # Only that request: same id in another session, another id in the same session, both run on.
    marker = _running(there, "session-a", "marker")
    here.cancel("session-a", "marker")  # sent after: once it has arrived, so has everything before it
    wait_for(marker.is_set, what="the marker cancellation")
    assert not bystander.is_set() and not other_session.is_set()


def test_ids_keep_their_json_type_across_the_bus(workers):
    here, there = workers
    number, text = _running(there, "s", 1), _running(there, "s", "1")
    here.cancel("s", "1")
    wait_for(text.is_set, what="the cancellation of request '1'")
    assert not number.is_set()


def test_ending_a_session_cancels_all_its_requests_everywhere_and_ones_that_arrive_late(workers):
    here, there = workers
    first, second = _running(there, "ending", 1), _running(here, "ending", 2)
    survivor = _running(there, "staying", 1)
    here.cancel("ending")
    wait_for(lambda: first.is_set() and second.is_set(), what="both requests to be cancelled")
    late = _running(there, "ending", 3)  # passed the session check just before it ended
    assert late.is_set()
    assert not survivor.is_set()


def test_a_cancellation_that_overtakes_its_request_cancels_it_on_arrival(workers):
    here, there = workers
    here.cancel("race", "early")
    wait_for(lambda: ("race", ("str", "early")) in there._early, what="the other worker to note the cancellation")
    assert _running(there, "race", "early").is_set()
    assert not _running(there, "race", "other").is_set()


def test_a_finished_request_is_forgotten(workers):
    here, there = workers
    signal = _running(there, "done", 1)
    there.unregister("done", 1, signal)
    assert there.count() == 0
    here.cancel("done", 1)  # arrives after the answer: nothing to cancel, nothing breaks
    assert not signal.is_set()


def test_remembered_cancellations_are_bounded():
    from janus.transports.cancellation import InFlightCalls as Calls

    class NoBus:
        def on_topic(self, topic, handler):
            pass

        def broadcast(self, topic, message):
            self.handler(message)

    calls = Calls(lambda: NoBus())
    for i in range(EARLY_MAX + 50):
        calls.cancel_here("flood", i)
    assert len(calls._early) == EARLY_MAX


def test_malformed_bus_messages_are_ignored(workers):
    _, there = workers
    signal = _running(there, "s", 1)
    for junk in (
        "not json",
        json.dumps({"session": 5, "request": 1}),
        json.dumps({"session": "s", "request": 1.5}),
        json.dumps({"request": 1}),
    ):
        there._received(junk)
    assert not signal.is_set()
