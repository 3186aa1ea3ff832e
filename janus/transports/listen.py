"""`subscriptions/listen` (2026-07-28): a long-lived response stream of change notifications.

Janus honours `toolsListChanged` only (it has no prompts or resources). The
stream opens with `notifications/subscriptions/acknowledged`, carries
`notifications/tools/list_changed` whenever the caller's visible tools
change, and ends with the request's result when the server shuts down.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator

from janus.gateway.catalog import Principal
from janus.mcp import jsonrpc, versions
from janus.mcp.errors import INVALID_PARAMS, McpError
from janus.transports.http_common import SSE_HEADERS, SSE_KEEPALIVE, SSE_MIMETYPE, sse_event
from janus.transports.streams import CATALOG_CHANGED, SHUTDOWN, ListChangedTracker
from janus.transports.wire import HttpResponse

SUBSCRIPTION_ID_META_KEY = "io.modelcontextprotocol/subscriptionId"
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"


def listen_stream(rt, principal: Principal, message: dict) -> HttpResponse:
    request_id = message["id"]
    version = versions.envelope_version(message)
    if not versions.is_stateless(version):
        raise versions.unsupported_version_error(version)  # listen exists only in the stateless era
    params = message.get("params") or {}
    requested = params.get("notifications")
    if not isinstance(requested, dict):
        raise McpError(INVALID_PARAMS, "subscriptions/listen needs params.notifications (an object)")
    honored = {"toolsListChanged": True} if requested.get("toolsListChanged") else {}
    meta = {SUBSCRIPTION_ID_META_KEY: request_id}
    return HttpResponse(200, _stream(rt, principal, request_id, honored, meta), list(SSE_HEADERS.items()), SSE_MIMETYPE)


def _stream(rt, principal: Principal, request_id, honored: dict, meta: dict) -> Iterator[str]:
    key = ("listen", uuid.uuid4().hex)
    events: queue.Queue[str] = queue.Queue(maxsize=64)
    tracker = ListChangedTracker(rt.catalog, principal, extra_meta=meta)

    def notify(event: str) -> None:
        try:
            events.put_nowait(event)
        except queue.Full:
            pass  # one pending change covers many

    # Registered before the acknowledgement, so a change made meanwhile is not lost.
    rt.streams.open(key, notify)
    try:
        yield sse_event(jsonrpc.notification(ACKNOWLEDGED, {"notifications": honored, "_meta": meta}))
        if rt.streams.shutting_down.is_set():
            # Opened on a leaving worker (shutdown already told the streams it knew): end it gracefully now,
            # not at the graceful timeout; the client listens again on a worker that stays.
            yield sse_event(jsonrpc.result_response(request_id, {"resultType": "complete", "_meta": meta}))
            return
        while True:
            try:
                event = events.get(timeout=rt.keepalive_seconds)
            except queue.Empty:
                yield SSE_KEEPALIVE
                continue
            if event == SHUTDOWN:
                # A graceful end: the listen request's own result closes the stream.
                yield sse_event(jsonrpc.result_response(request_id, {"resultType": "complete", "_meta": meta}))
                return
            if event == CATALOG_CHANGED and honored:
                note = tracker.notification()
                if note is not None:
                    yield sse_event(note)
    finally:
        rt.streams.close(key)
