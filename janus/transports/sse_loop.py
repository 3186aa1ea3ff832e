"""The one loop behind every long-lived SSE notification stream: GET /sse, GET /mcp and `subscriptions/listen`.

A stream registers with the process's `LocalStreams`, writes its opening event, then waits on its
event source. A quiet keep-alive interval writes a comment (proxies and clients keep the connection);
CATALOG_CHANGED writes `notifications/tools/list_changed` when the caller's visible tools changed;
SHUTDOWN (SIGTERM, or the stream's session ended) ends it, with a last event for a stream whose end
the client waits for; the source ending ends it too. Anything else the source delivers is a message
for the client (legacy SSE's answers, from the bus).

What differs per transport is a parameter: where events come from and how `LocalStreams` reaches the
stream (a bus mailbox for /sse, an `EventQueue` for the others), the SSE event name, the opening and
closing events, and whether the stream is bound to a session. Cleanup beyond leaving `LocalStreams`
(legacy SSE's session and mailbox) stays with the transport, around this generator.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from janus.transports.http_common import SSE_KEEPALIVE, sse_event
from janus.transports.streams import CATALOG_CHANGED, SHUTDOWN, LocalStreams, Notify

QUEUE_SIZE = 64  # markers only (see EventQueue); more pending than this would say nothing new


@dataclass(frozen=True)
class Ended:
    """What an event source returns once it has nothing more to give: the stream ends, after `last`."""

    last: str | None = None


class EventSource(Protocol):
    def get(self, timeout: float) -> str | Ended | None:
        """The next event; None when none came within `timeout` (a keep-alive is due)."""
        ...


class EventQueue:
    """The source of a stream that hears only from `LocalStreams`: `put` is its notify.

    It carries markers only, so a full queue already holds a pending change (one list_changed covers
    many) or a SHUTDOWN: what does not fit is dropped, and `put` never blocks the watcher that calls it.
    """

    def __init__(self, maxsize: int = QUEUE_SIZE) -> None:
        self._events: queue.Queue[str] = queue.Queue(maxsize=maxsize)

    def put(self, event: str) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            pass

    def get(self, timeout: float) -> str | None:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None


def sse_loop(
    streams: LocalStreams,
    key: object,
    notify: Notify,
    source: EventSource,
    *,
    keepalive_seconds: float,
    list_changed: Callable[[], dict[str, Any] | None],
    opening: str,
    closing: str | None = None,
    event: str | None = None,
    session_id: str | None = None,
) -> Iterator[str]:
    """The stream's SSE text, chunk by chunk, until SHUTDOWN, the source's end, or the client leaving.

    `notify` is how `LocalStreams` reaches `source`; with `session_id` the stream also ends when that
    session ends on any worker. `list_changed` is the stream's `ListChangedTracker.notification` (None:
    nothing the caller sees changed). `event` names the SSE event of notifications and messages.
    `closing`, when given, is written at a SHUTDOWN before the stream ends.
    """
    # Registered before the opening event, so a change made meanwhile is not lost.
    streams.open(key, notify, session_id=session_id)
    try:
        if streams.shutting_down.is_set():
            # SIGTERM came after the transport's own check: shutdown sets the flag, then tells the streams
            # it sees, and this one was not among them.
            # End it now, not at the graceful timeout; a stream whose end is an answer (listen) gives it.
            if closing is not None:
                yield opening
                yield closing
            return
        yield opening
        while True:
            item = source.get(keepalive_seconds)
            if item is None:
                yield SSE_KEEPALIVE
            elif isinstance(item, Ended):
                if item.last is not None:
                    yield item.last
                return
            elif item == SHUTDOWN:
                if closing is not None:
                    yield closing
                return
            elif item == CATALOG_CHANGED:
                note = list_changed()
                if note is not None:
                    yield sse_event(note, event=event)
            else:
                yield sse_event(item, event=event)
    finally:
        streams.close(key)
