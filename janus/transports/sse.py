"""The legacy HTTP+SSE transport (2024-11-05): GET /sse and POST /messages?sessionId=….

The stream lives on one worker; a POST may land on any worker (or replica).
The POST is answered 202 at once, processed where it landed, and its response
travels over the bus to the worker holding the stream, which writes it as an
`event: message`. No sticky routing, no polling by idle streams.
"""
from __future__ import annotations

import logging
import threading
from typing import Iterator

from flask import Blueprint, Response, request, stream_with_context, url_for

from janus.gateway.catalog import Principal
from janus.mcp import jsonrpc
from janus.mcp.errors import McpError
from janus.mcp.server import Session
from janus.services.sessions import SessionRecord
from janus.transports.http_common import (
    SSE_HEADERS, SSE_KEEPALIVE, SSE_MIMETYPE, authenticate, json_response, protect, rpc_error, sse_event, wire_text,
)
from janus.transports.http_metrics import count_requests
from janus.transports.http_runtime import HttpRuntime, http_runtime
from janus.transports.streams import CATALOG_CHANGED, SHUTDOWN, ListChangedTracker
from janus.transports.wire import BodyTooLarge, WireRequest

bp = Blueprint("sse", __name__)
log = logging.getLogger(__name__)

TRANSPORT = "sse"
MAX_CONCURRENT_CALLS = 256  # per process; beyond this POSTs wait for a slot (backpressure)
_slots = threading.BoundedSemaphore(MAX_CONCURRENT_CALLS)


protect(bp)
count_requests(bp, TRANSPORT)


@bp.get("/sse")
def open_stream() -> Response:
    rt = http_runtime()
    principal = authenticate(rt.catalog, TRANSPORT)
    bus = rt.bus
    record = rt.sessions.create(TRANSPORT, principal.token_hash, owner_node=bus.node)
    mailbox = bus.subscribe(record.id)
    endpoint = url_for("sse.post_message", sessionId=record.id)
    log.info("sse session %s opened", record.id[:8])
    return Response(stream_with_context(_stream(rt, principal, record, mailbox, endpoint)),
                    mimetype=SSE_MIMETYPE, headers=SSE_HEADERS)


def _stream(rt: HttpRuntime, principal: Principal, record: SessionRecord, mailbox, endpoint: str) -> Iterator[str]:
    bus = rt.bus
    key = (record.id, "sse")
    tracker = ListChangedTracker(rt.catalog, principal)
    rt.streams.open(key, lambda event: bus.publish(bus.node, record.id, event))
    try:
        yield sse_event(endpoint, event="endpoint")
        while True:
            item = mailbox.get(timeout=rt.keepalive_seconds)
            if item is None:
                yield SSE_KEEPALIVE
                continue
            if item == SHUTDOWN:
                return
            if item == CATALOG_CHANGED:
                note = tracker.notification()
                if note is not None:
                    yield sse_event(note, event="message")
                continue
            yield sse_event(item, event="message")
    finally:
        # The client went away (or we are shutting down): the session is over everywhere.
        rt.streams.close(key)
        bus.unsubscribe(record.id)
        mailbox.close()
        rt.sessions.end(record.id)
        log.info("sse session %s closed", record.id[:8])


@bp.post("/messages")
def post_message() -> Response:
    rt = http_runtime()
    principal = authenticate(rt.catalog, TRANSPORT)
    session_id = request.args.get("sessionId", "")
    if not session_id:
        return json_response({"error": "bad_request", "message": "The sessionId query parameter is required."}, 400)
    record = rt.sessions.get(session_id)
    if record is None or record.transport != TRANSPORT or record.token_hash != principal.token_hash:
        return Response("Session not found", status=404, mimetype="text/plain")
    try:
        # Read from the WSGI input with the transport's cap: Flask's reader would silently cut a
        # chunked body at MAX_CONTENT_LENGTH instead of refusing it.
        body = WireRequest(request.environ).read_body(rt.max_request_bytes)
    except BodyTooLarge:
        return json_response({"error": "request_entity_too_large",
                              "message": f"The request body exceeds {rt.max_request_bytes} bytes."}, 413)
    try:
        message = jsonrpc.parse(body)
    except McpError as error:
        return rpc_error(400, error.code, error.message)
    # Answer now, work after: the SDK's SSE client sends its POSTs one at a time,
    # so holding this one for a slow tool would hold back its pings and other calls.
    # Not a daemon: gunicorn's worker waits only for open connections, so a worker leaving on
    # SIGTERM would drop a call still waiting upstream, audit row and all. The interpreter joins
    # non-daemon threads before its atexit hooks flush the audit queue; the graceful timeout bounds it.
    _slots.acquire()
    threading.Thread(target=_process, args=(rt, principal, record, message), daemon=False,
                     name="janus-sse-call").start()
    return Response("Accepted", status=202, mimetype="text/plain")


def _process(rt: HttpRuntime, principal: Principal, record: SessionRecord, message: object) -> None:
    try:
        session = Session(protocol_version=record.protocol_version, client_info=record.client_info,
                          client_capabilities=record.client_capabilities, initialized=record.initialized)
        response = rt.server.handle(message, session=session, caller=principal)
        method = message.get("method") if isinstance(message, dict) else None
        if method == "initialize" and session.protocol_version:
            record = rt.sessions.update(record, protocol_version=session.protocol_version,
                                        client_info=session.client_info, client_capabilities=session.client_capabilities)
        elif method == "notifications/initialized" and not record.initialized:
            record = rt.sessions.update(record, initialized=True)
        if response is not None and not rt.bus.publish(record.owner_node, record.id, wire_text(jsonrpc.dumps(response))):
            log.info("sse session %s is gone; dropping its response", record.id[:8])
            rt.sessions.end(record.id)
    except Exception:
        log.exception("processing a message for sse session %s failed", record.id[:8])
    finally:
        _slots.release()
