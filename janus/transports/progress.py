"""A tools/call answered as an SSE stream with progress while the upstream works.

Clients that reset their timeout on progress (a top complaint about MCP
gateways is slow APIs timing out) get `notifications/progress` when the call
starts, every PROGRESS_INTERVAL_SECONDS while it waits, and when the answer
arrives; then the result ends the stream. The connection's own timeout still
bounds the upstream call. Closing the stream cancels the request: its
response is dropped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from janus.gateway.catalog import Principal
from janus.mcp.server import Session
from janus.transports.disconnect import watch as watch_disconnect
from janus.transports.http_common import SSE_HEADERS, SSE_MIMETYPE, sse_event

# One notification shape and one token rule for every transport that reports progress.
from janus.transports.progress_ticker import progress_notification
from janus.transports.wire import HttpResponse


def respond_with_progress(
    rt, environ: dict, principal: Principal, message: dict, session: Session | None, token: Any
) -> HttpResponse:
    session = session or Session()  # something to track the request in, so a disconnect can cancel it
    return HttpResponse(
        200, _stream(rt, environ, principal, message, session, token), list(SSE_HEADERS.items()), SSE_MIMETYPE
    )


def _stream(rt, environ: dict, principal: Principal, message: dict, session: Session, token: Any) -> Iterator[str]:
    done: queue.Queue = queue.Queue(maxsize=1)
    tool = (message.get("params") or {}).get("name")

    def work() -> None:
        done.put(rt.server.handle(message, session=session, caller=principal))

    # Not a daemon, like legacy SSE's call threads: once the client has gone, gunicorn's worker waits
    # for no connection, and on SIGTERM the interpreter would kill a daemon thread still waiting for
    # the upstream, its audit row with it. A non-daemon thread is joined before the atexit hooks flush
    # the audit queue; the graceful timeout still bounds the wait.
    threading.Thread(target=work, name="janus-progress-call", daemon=False).start()
    step = 0
    finished = False
    # The client closing the stream cancels the call at once, not at the next progress write.
    stop_watching = watch_disconnect(environ, lambda: session.cancel_here(message.get("id")))
    try:
        yield sse_event(progress_notification(token, step, f"Calling {tool}"))
        while True:
            try:
                response = done.get(timeout=rt.progress_seconds)
                break
            except queue.Empty:
                step += 1
                yield sse_event(
                    progress_notification(
                        token, step, f"Waiting for the upstream API ({step * rt.progress_seconds:g} s)"
                    )
                )
        if response is None:
            return  # cancelled (the client closed the stream): nothing more is to be said
        step += 1
        ended = "Upstream answered" if isinstance(response, dict) and "result" in response else "The call failed"
        yield sse_event(progress_notification(token, step, ended, total=step))
        finished = True
        yield sse_event(response)
    finally:
        stop_watching()
        if not finished:
            # The client closed the stream: that is this request's cancellation (the 2026-07-28 rule
            # for Streamable HTTP). The call is served here, by this Session: stop its upstream wait.
            session.cancel_here(message.get("id"))
