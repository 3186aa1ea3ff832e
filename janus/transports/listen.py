"""`subscriptions/listen` (2026-07-28): a long-lived response stream of change notifications.

Janus honours `toolsListChanged` only (it has no prompts or resources). The
stream opens with `notifications/subscriptions/acknowledged`, carries
`notifications/tools/list_changed` whenever the caller's visible tools
change, and ends with the request's result when the server shuts down.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from janus.gateway.catalog import Principal
from janus.mcp import jsonrpc, versions
from janus.mcp.errors import INVALID_PARAMS, McpError
from janus.transports.http_common import SSE_HEADERS, SSE_MIMETYPE, sse_event
from janus.transports.sse_loop import EventQueue, sse_loop
from janus.transports.streams import ListChangedTracker
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
    events = EventQueue()
    tracker = ListChangedTracker(rt.catalog, principal, extra_meta=meta)
    yield from sse_loop(
        rt.streams,
        ("listen", uuid.uuid4().hex),
        events.put,
        events,
        keepalive_seconds=rt.keepalive_seconds,
        list_changed=tracker.notification if honored else lambda: None,
        opening=sse_event(jsonrpc.notification(ACKNOWLEDGED, {"notifications": honored, "_meta": meta})),
        # A graceful end (SIGTERM, or a listen opened on a leaving worker): the listen request's own result
        # closes the stream, and the client listens again on a worker that stays.
        closing=sse_event(jsonrpc.result_response(request_id, {"resultType": "complete", "_meta": meta})),
    )
