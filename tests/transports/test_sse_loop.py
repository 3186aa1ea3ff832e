"""The SSE notification loop on its own (no app, no HTTP): what it writes and when it ends.

Time is the source's: a scripted source answers "nothing came" at once, so every quiet keep-alive
interval passes instantly and the test sees the interval the loop asked for. The three transports
that use the loop (GET /sse, GET /mcp, subscriptions/listen) are tested over real HTTP elsewhere
(test_http_streams.py, test_sse*.py, test_streamable_http.py).
"""

from __future__ import annotations

import pytest

from janus.gateway.catalog import Catalog, CatalogSnapshot
from janus.transports.http_common import SSE_KEEPALIVE, sse_event
from janus.transports.sse_loop import Ended, EventQueue, sse_loop
from janus.transports.streams import CATALOG_CHANGED, SHUTDOWN, LocalStreams

NOTE = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
OPENING = "event: endpoint\ndata: /messages?sessionId=x\n\n"
CLOSING = sse_event({"jsonrpc": "2.0", "id": 1, "result": {"resultType": "complete"}})


class ScriptedSource:
    """Hands out what LocalStreams (or the test) put in, and then "nothing within the timeout"."""

    def __init__(self, *script) -> None:
        self.queue = EventQueue()
        self.script = list(script)
        self.timeouts: list[float] = []

    def get(self, timeout: float):
        self.timeouts.append(timeout)
        pending = self.queue.get(0)
        if pending is not None:
            return pending
        if self.script:
            return self.script.pop(0)
        return None


@pytest.fixture
def streams():
    snapshot = CatalogSnapshot(version=1, tools=(), tokens={})
    streams = LocalStreams(Catalog(lambda: snapshot, lambda: 1, refresh_seconds=60), refresh_seconds=60)
    yield streams
    streams.shutting_down.set()  # stops its watcher thread


def _loop(streams, source, **options):
    options.setdefault("keepalive_seconds", 15.0)
    options.setdefault("list_changed", lambda: NOTE)
    options.setdefault("opening", OPENING)
    return sse_loop(streams, "key", source.queue.put, source, **options)


def _take(stream, count):
    return [next(stream) for _ in range(count)]


def test_it_opens_then_writes_a_keep_alive_for_every_quiet_interval(streams):
    source = ScriptedSource()
    stream = _loop(streams, source, keepalive_seconds=7.5)
    assert _take(stream, 4) == [OPENING, SSE_KEEPALIVE, SSE_KEEPALIVE, SSE_KEEPALIVE]
    assert source.timeouts == [7.5, 7.5, 7.5]
    stream.close()


def test_a_catalogue_change_writes_list_changed_only_when_the_callers_tools_changed(streams):
    answers = [NOTE, None, NOTE]
    source = ScriptedSource(CATALOG_CHANGED, CATALOG_CHANGED, CATALOG_CHANGED)
    stream = _loop(streams, source, list_changed=lambda: answers.pop(0), event="message")
    assert _take(stream, 4) == [
        OPENING,
        sse_event(NOTE, event="message"),
        sse_event(NOTE, event="message"),
        SSE_KEEPALIVE,
    ]
    assert answers == []  # asked once per change; the unchanged one wrote nothing
    stream.close()


def test_anything_else_the_source_gives_is_a_message_framed_with_the_streams_event_name(streams):
    answer = '{"jsonrpc":"2.0","id":3,"result":{}}'
    source = ScriptedSource(answer)
    assert _take(_loop(streams, source, event="message"), 2) == [OPENING, sse_event(answer, event="message")]
    source = ScriptedSource(answer)
    assert _take(_loop(streams, source), 2) == [OPENING, f"data: {answer}\n\n"]  # no event name: plain data


def test_shutdown_ends_the_stream_silently_or_with_its_closing_event(streams):
    silent, answering = ScriptedSource(), ScriptedSource()
    quiet = sse_loop(streams, "quiet", silent.queue.put, silent, keepalive_seconds=1, list_changed=dict, opening="a")
    closing = sse_loop(
        streams,
        "closing",
        answering.queue.put,
        answering,
        keepalive_seconds=1,
        list_changed=dict,
        opening="b",
        closing=CLOSING,
    )
    assert (next(quiet), next(closing)) == ("a", "b")
    assert streams.count() == 2
    streams.shutdown()  # what SIGTERM does: every registered stream gets SHUTDOWN
    assert list(quiet) == []
    assert list(closing) == [CLOSING]
    assert streams.count() == 0


def test_a_stream_opened_once_shutdown_has_begun_ends_at_once(streams):
    streams.shutdown()
    assert list(_loop(streams, ScriptedSource())) == []
    # A stream whose end is an answer still gives it, after its opening: the client gets a whole exchange.
    assert list(_loop(streams, ScriptedSource(), closing=CLOSING)) == [OPENING, CLOSING]
    assert streams.count() == 0


def test_the_sources_end_ends_the_stream_after_its_last_event(streams):
    assert list(_loop(streams, ScriptedSource(Ended("event: error\ndata: {}\n\n")))) == [
        OPENING,
        "event: error\ndata: {}\n\n",
    ]
    assert list(_loop(streams, ScriptedSource("{}", Ended()))) == [OPENING, "data: {}\n\n"]
    assert streams.count() == 0


def test_the_end_of_its_session_ends_a_session_bound_stream_only(streams):
    bound, other = ScriptedSource(), ScriptedSource()
    stream = sse_loop(
        streams, "bound", bound.queue.put, bound, keepalive_seconds=1, list_changed=dict, opening="", session_id="s1"
    )
    free = sse_loop(streams, "free", other.queue.put, other, keepalive_seconds=1, list_changed=dict, opening="")
    next(stream), next(free)
    streams.end_session("s1")  # a DELETE served by this process
    assert list(stream) == []
    assert next(free) == SSE_KEEPALIVE
    free.close()


def test_the_client_leaving_takes_the_stream_out_of_local_streams(streams):
    stream = _loop(streams, ScriptedSource())
    next(stream)
    assert streams.count() == 1
    stream.close()  # what the WSGI server does when the client disconnects
    assert streams.count() == 0


def test_a_stream_is_registered_by_the_time_its_opening_is_written(streams):
    source = ScriptedSource()
    stream = _loop(streams, source)
    assert next(stream) == OPENING
    assert streams.count() == 1  # registered by the time the opening was written
    stream.close()


def test_the_event_queue_drops_what_does_not_fit_and_never_blocks():
    events = EventQueue(maxsize=2)
    for marker in (CATALOG_CHANGED, SHUTDOWN, CATALOG_CHANGED):
        events.put(marker)
    assert [events.get(0), events.get(0), events.get(0)] == [CATALOG_CHANGED, SHUTDOWN, None]
