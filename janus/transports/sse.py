"""The legacy HTTP+SSE transport (2024-11-05): GET /sse and POST /messages?sessionId=….

The stream lives on one worker; a POST may land on any worker (or replica).
The POST is answered 202 at once, processed where it landed, and its response
travels over the bus to the worker holding the stream, which writes it as an
`event: message`. No sticky routing, no polling by idle streams.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request, stream_with_context, url_for

from janus.gateway.catalog import Principal
from janus.gateway.tool_backend import CallRecord, arguments_digest, hidden_arguments
from janus.gateway.tracing import caller_trace_id
from janus.mcp import jsonrpc
from janus.mcp.errors import TOO_MANY_IN_FLIGHT, McpError
from janus.mcp.server import Session
from janus.services.sessions import SessionRecord, new_session_id
from janus.transports.bus import database_kind
from janus.transports.edge import caller, guard, token_hash_of
from janus.transports.http_common import (
    SSE_HEADERS,
    SSE_MIMETYPE,
    json_response,
    parse_single,
    rpc_error,
    sse_event,
    wire_text,
)
from janus.transports.http_runtime import HttpRuntime, http_runtime
from janus.transports.progress_ticker import progress_notification, progress_token
from janus.transports.rate_limits import Throttled, throttle_message
from janus.transports.sse_loop import Ended, sse_loop
from janus.transports.streams import ListChangedTracker
from janus.transports.wire import BodyTooLarge, HttpResponse, WireRequest

bp = Blueprint("sse", __name__)
log = logging.getLogger(__name__)

TRANSPORT = "sse"
MAX_CONCURRENT_CALLS = 256  # per process; beyond this POSTs wait for a slot (backpressure)
_slots = threading.BoundedSemaphore(MAX_CONCURRENT_CALLS)
STREAM_RETRY_AFTER_SECONDS = 5
SLOW_CONSUMER_GRACE_SECONDS = 5.0  # after a stream's byte cap is hit, time to write its last event
PROBE = "\x00probe"  # a marker published to check that a counted stream still exists; streams ignore it
_inflight: Counter[str] = Counter()  # messages being processed per token hash, this worker
_inflight_lock = threading.Lock()


# Origin/Host, the bearer and the response headers as on /mcp; refusals counted as /mcp counts its own.
guard(bp, TRANSPORT, count_refusals=True)


@bp.get("/sse")
def open_stream() -> Response | HttpResponse:
    rt = http_runtime()
    principal = caller()
    if rt.streams.shutting_down.is_set():
        # This worker is leaving: a stream opened now would be cut at the graceful timeout, and its
        # session row would outlive it. The client retries and lands on a worker that stays.
        return json_response(
            {"error": "shutting_down", "message": "This server is shutting down; open the stream again."},
            503,
            {"Retry-After": "1"},
        )
    bus = rt.bus
    # The mailbox exists before the session row does: a stream another worker counts (and probes, see
    # _open_streams) is always one whose mailbox answers, never one still between its row and its mailbox.
    session_id = new_session_id()
    cutoff = _SocketCutoff(request.environ.get("gunicorn.socket"), session_id)
    mailbox = bus.subscribe(session_id, max_bytes=current_app.config["SSE_MAX_QUEUED_BYTES"], on_overflow=cutoff.arm)
    token_hash = token_hash_of(principal)
    record = rt.sessions.create(TRANSPORT, token_hash, owner_node=bus.node, session_id=session_id)
    cap = current_app.config["SSE_MAX_STREAMS_PER_TOKEN"]
    if cap > 0 and _open_streams(rt, token_hash, record.id) > cap:
        rt.sessions.end(record.id)
        bus.unsubscribe(session_id)
        log.warning("sse stream refused: the token already has %d open streams (SSE_MAX_STREAMS_PER_TOKEN)", cap)
        return json_response(
            {
                "error": "too_many_streams",
                "message": f"This token already has {cap} open SSE streams, the most allowed; close one and retry.",
            },
            429,
            {"Retry-After": str(STREAM_RETRY_AFTER_SECONDS)},
        )
    endpoint = url_for("sse.post_message", sessionId=record.id)
    log.info("sse session %s opened", record.id[:8])
    return Response(
        stream_with_context(_stream(rt, principal, record, mailbox, endpoint, cutoff)),
        mimetype=SSE_MIMETYPE,
        headers=SSE_HEADERS,
    )


def _open_streams(rt: HttpRuntime, token_hash: str, own_id: str) -> int:
    """The token's open SSE streams on every worker and replica, this new one included.

    Counted from the sessions table (the one place all processes share). A row whose process died
    without ending it would count until it idles out; so, only when the count is over the cap,
    each is probed over the bus, and those whose owner answers that it is gone are ended.
    """
    sessions = rt.sessions.open_sessions(TRANSPORT, token_hash)
    if len(sessions) <= current_app.config["SSE_MAX_STREAMS_PER_TOKEN"]:
        return len(sessions)
    live = 0
    for session_id, owner in sessions:
        # The new stream has no mailbox yet: it counts without a probe.
        if session_id != own_id and owner and not _mailbox_answers(rt, owner, session_id):
            rt.sessions.end(session_id)
        else:
            live += 1
    return live


class _SocketCutoff:
    """Ends a stream whose client stopped reading: its mailbox overflowed, and the stream is stuck
    writing to a socket nobody reads. After a grace period in which the stream may still write its
    last event, the socket is shut down: the blocked write fails and the stream's cleanup runs."""

    def __init__(self, sock, session_id: str) -> None:
        self._sock = sock
        self._session_id = session_id
        self.done = threading.Event()

    def arm(self, mailbox) -> None:
        log.warning(
            "sse session %s: the client is not reading; closing its stream (SSE_MAX_QUEUED_BYTES %d)",
            self._session_id[:8],
            mailbox.max_bytes,
        )
        if self._sock is None:
            return
        timer = threading.Timer(SLOW_CONSUMER_GRACE_SECONDS, self._cut)
        timer.daemon = True
        timer.start()

    def _cut(self) -> None:
        if self.done.is_set():
            return
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _slow_consumer_event(mailbox) -> str:
    return sse_event(
        {
            "error": "slow_consumer",
            "message": f"This stream fell more than {mailbox.max_bytes} bytes behind and is closed; "
            "responses not yet sent are lost. Open a new stream.",
        },
        event="error",
    )


def _stream(
    rt: HttpRuntime, principal: Principal, record: SessionRecord, mailbox, endpoint: str, cutoff: _SocketCutoff
) -> Iterator[str]:
    bus = rt.bus
    tracker = ListChangedTracker(rt.catalog, principal)
    try:
        yield from sse_loop(
            rt.streams,
            (record.id, "sse"),
            # Markers travel through the mailbox too: it is the stream's one source of events.
            lambda event: bus.publish(bus.node, record.id, event),
            _MailboxEvents(mailbox),
            keepalive_seconds=rt.keepalive_seconds,
            list_changed=tracker.notification,
            opening=sse_event(endpoint, event="endpoint"),
            event="message",
        )
    finally:
        # The client went away (or we are shutting down): the session is over everywhere.
        bus.unsubscribe(record.id)
        mailbox.close()
        rt.sessions.end(record.id)
        if not rt.streams.shutting_down.is_set():
            # The client went away: nobody is left to answer, so the session's calls stop wherever they
            # run. Not at a graceful shutdown: calls in flight then finish (and are audited) as they would.
            rt.calls.cancel(record.id)
        cutoff.done.set()
        log.info("sse session %s closed", record.id[:8])


class _MailboxEvents:
    """The stream's bus mailbox as its event source: probes are skipped, and a closed mailbox ends the
    stream, with an error event first when it closed because the client fell too far behind."""

    def __init__(self, mailbox) -> None:
        self._mailbox = mailbox

    def get(self, timeout: float) -> str | Ended | None:
        mailbox = self._mailbox
        item = mailbox.get(timeout=timeout)
        while item == PROBE:
            item = mailbox.get(timeout=timeout)
        if item is None:
            if mailbox.overflowed:
                return Ended(_slow_consumer_event(mailbox))
            if mailbox.closed:
                return Ended()
        return item


@bp.post("/messages")
def post_message() -> Response | HttpResponse:
    rt = http_runtime()
    principal = caller()
    session_id = request.args.get("sessionId", "")
    if not session_id:
        return json_response({"error": "bad_request", "message": "The sessionId query parameter is required."}, 400)
    record = rt.sessions.get(session_id)
    if record is None or record.transport != TRANSPORT or record.token_hash != principal.token_hash:
        return Response("Session not found", status=404, mimetype="text/plain")
    if not _stream_exists(rt, record):
        # The stream is gone (its worker crashed, or was cut at the graceful timeout, or restarted)
        # but its row was never ended. A 202 here would drop the answer unseen; a 404 makes the
        # client open a new stream.
        rt.sessions.end(record.id)
        log.info("sse session %s has no stream any more; refusing its POST", record.id[:8])
        return Response("Session not found", status=404, mimetype="text/plain")
    try:
        # Read from the WSGI input with the transport's cap: Flask's reader would silently cut a
        # chunked body at MAX_CONTENT_LENGTH instead of refusing it.
        body = WireRequest(request.environ).read_body(rt.max_request_bytes)
    except BodyTooLarge:
        return json_response(
            {"error": "request_entity_too_large", "message": f"The request body exceeds {rt.max_request_bytes} bytes."},
            413,
        )
    try:
        message = parse_single(body)  # the same rule as POST /mcp: one message, no batches
    except McpError as error:
        return rpc_error(400, error.code, error.message)
    if rt.limits is not None:
        throttled = throttle_message(rt.limits, rt.runtime.backend, rt.runtime.audit.record, principal, message)
        if throttled is not None:
            return _throttled(rt, record, message, throttled)
    cap = current_app.config["MAX_INFLIGHT_CALLS_PER_TOKEN"]
    if not _begin(principal.token_hash, cap):
        return _too_many_in_flight(rt, principal, record, message, cap)
    # Answer now, work after: the SDK's SSE client sends its POSTs one at a time,
    # so holding this one for a slow tool would hold back its pings and other calls.
    # Not a daemon: gunicorn's worker waits only for open connections, so a worker leaving on
    # SIGTERM would drop a call still waiting upstream, audit row and all. The interpreter joins
    # non-daemon threads before its atexit hooks flush the audit queue; the graceful timeout bounds it.
    try:
        _slots.acquire()
    except BaseException:  # the request ended while waiting for a slot: it was never in flight
        _end(principal.token_hash)
        raise
    try:
        threading.Thread(
            target=_process, args=(rt, principal, record, message), daemon=False, name="janus-sse-call"
        ).start()
    except BaseException:
        _slots.release()
        _end(principal.token_hash)
        raise
    return Response("Accepted", status=202, mimetype="text/plain")


def _stream_exists(rt: HttpRuntime, record: SessionRecord) -> bool:
    owner = record.owner_node
    return owner is not None and owner != "" and _mailbox_answers(rt, owner, record.id)


def _mailbox_answers(rt: HttpRuntime, owner: str, session_id: str) -> bool:
    """Whether a stream's mailbox still exists, as far as the bus can tell.

    A probe on this worker is a dict lookup; to another worker on the Unix-socket bus, one local
    round trip that the owner acknowledges only while the mailbox exists. PostgreSQL's NOTIFY
    confirms nothing (and carries no NUL, which the probe marker holds): there the owner process's
    liveness stands in, one query (its listening session exists). A live owner ends the rows of the
    streams it closes itself; only a process that died leaves rows behind, and that is what this catches.
    """
    if owner != rt.bus.node and database_kind(rt.database_uri) != "sqlite":
        return rt.bus.node_alive(owner)
    return rt.bus.publish(owner, session_id, PROBE)


def _begin(token_hash: str, cap: int) -> bool:
    with _inflight_lock:
        if cap > 0 and _inflight[token_hash] >= cap:
            return False
        _inflight[token_hash] += 1
        return True


def _end(token_hash: str) -> None:
    with _inflight_lock:
        _inflight[token_hash] -= 1
        if _inflight[token_hash] <= 0:
            del _inflight[token_hash]


def _too_many_in_flight(
    rt: HttpRuntime, principal: Principal, record: SessionRecord, message: dict[str, Any], cap: int
) -> HttpResponse:
    """429 for the POST, and the JSON-RPC error where the client waits for its answer: on the stream."""
    text = f"Too many requests in flight: this token has {cap} messages being processed; retry later."
    request_id = message.get("id")
    if message.get("method") == "tools/call":
        _audit_refused_call(rt, principal, message)
    if jsonrpc.is_valid_id(request_id):
        rt.bus.publish(
            _owner(record), record.id, jsonrpc.dumps(jsonrpc.error_response(request_id, TOO_MANY_IN_FLIGHT, text))
        )
    log.warning(
        "sse session %s: refused a %s, the token has %d messages in flight (MAX_INFLIGHT_CALLS_PER_TOKEN)",
        record.id[:8],
        str(message.get("method"))[:100],
        cap,
    )
    return rpc_error(
        429, TOO_MANY_IN_FLIGHT, text, request_id if jsonrpc.is_valid_id(request_id) else None, {"Retry-After": "1"}
    )


def _throttled(rt: HttpRuntime, record: SessionRecord, message: Any, throttled: Throttled) -> HttpResponse:
    """Over the client's rate limit: 429 for the POST, and the JSON-RPC error (THROTTLED) on the stream,
    where the client waits for its answer."""
    request_id = message.get("id") if isinstance(message, dict) else None
    if jsonrpc.is_valid_id(request_id):
        error = jsonrpc.error_response(request_id, throttled.error().code, throttled.message, throttled.data)
        rt.bus.publish(_owner(record), record.id, jsonrpc.dumps(error))
    return throttled.rpc_response(request_id if jsonrpc.is_valid_id(request_id) else None)


def _audit_refused_call(rt: HttpRuntime, principal: Principal, message: dict[str, Any]) -> None:
    """Every tool-call attempt is audited, one refused before it reached the backend included."""
    params = message.get("params")
    if not isinstance(params, dict):
        params = {}
    name = params.get("name")
    if not isinstance(name, str):
        name = "<unknown>"
    arguments = params.get("arguments")
    if not isinstance(arguments, dict):
        arguments = {}
    snapshot = rt.catalog.current()
    # As the backend does: secrets (an admin tool's, a credential header's) stay out of the digest.
    hidden = hidden_arguments(rt.runtime.backend.builtins, snapshot, name)
    if hidden:
        arguments = {k: v for k, v in arguments.items() if k not in hidden}
    token = snapshot.token(principal)
    rt.runtime.audit.record(
        CallRecord(
            tool_name=name[:200],
            status="denied",
            duration_ms=0.0,
            token_id=token.id if token else None,
            token_name=token.name if token else None,
            transport=principal.transport,
            error_message="too many calls in flight for this token",
            arguments_digest=arguments_digest(arguments),
            trace_id=caller_trace_id(params.get("_meta"), principal.traceparent),
        )
    )


def _process(rt: HttpRuntime, principal: Principal, record: SessionRecord, message: object) -> None:
    try:
        # Its notifications/cancelled may come in a POST that another worker or replica serves.
        session = rt.calls.session(
            record.id,
            protocol_version=record.protocol_version,
            client_info=record.client_info,
            client_capabilities=record.client_capabilities,
            initialized=record.initialized,
        )
        token = progress_token(message) if isinstance(message, dict) else None
        if isinstance(message, dict) and token is not None:
            response = _handle_with_progress(rt, principal, record, message, session, token)
        else:
            response = rt.sse_server.handle(message, session=session, caller=principal)
        method = message.get("method") if isinstance(message, dict) else None
        if method == "initialize" and session.protocol_version:
            record = rt.sessions.update(
                record,
                protocol_version=session.protocol_version,
                client_info=session.client_info,
                client_capabilities=session.client_capabilities,
            )
        elif method == "notifications/initialized" and not record.initialized:
            record = rt.sessions.update(record, initialized=True)
        if response is not None and not rt.bus.publish(_owner(record), record.id, wire_text(jsonrpc.dumps(response))):
            log.info("sse session %s is gone; dropping its response", record.id[:8])
            rt.sessions.end(record.id)
    except Exception:
        log.exception("processing a message for sse session %s failed", record.id[:8])
    finally:
        _slots.release()
        _end(token_hash_of(principal))


def _owner(record: SessionRecord) -> str:
    """The node holding an SSE session's stream: open_stream records it with the session."""
    if record.owner_node is None:
        raise ValueError(f"sse session {record.id[:8]} has no owner node")
    return record.owner_node


def _handle_with_progress(
    rt: HttpRuntime, principal: Principal, record: SessionRecord, message: dict[str, Any], session: Session, token
) -> dict[str, Any] | list[dict[str, Any]] | None:
    """Run a tools/call while its progress goes to the session's stream, as on /mcp: when it starts,
    every PROGRESS_INTERVAL_SECONDS while the upstream works, and when it ends. Clients that reset a
    short timeout on progress then wait for a slow API. The caller publishes the result after the
    last progress notification: one publisher at a time, so the result comes last."""
    tool = (message.get("params") or {}).get("name")
    stop = threading.Event()
    steps = [0]

    def publish(progress: int, text: str, total: int | None = None) -> bool:
        note = progress_notification(token, progress, text, total)
        return rt.bus.publish(_owner(record), record.id, wire_text(jsonrpc.dumps(note)))

    def tick() -> None:
        if not publish(0, f"Calling {tool}"):
            return  # the stream is gone: nobody to tell
        while not stop.wait(rt.progress_seconds):
            steps[0] += 1
            if not publish(steps[0], f"Waiting for the upstream API ({steps[0] * rt.progress_seconds:g} s)"):
                return

    # Not a daemon, like the call's own thread; it ends as soon as the call does.
    ticker = threading.Thread(target=tick, name="janus-sse-progress", daemon=False)
    ticker.start()
    try:
        response = rt.sse_server.handle(message, session=session, caller=principal)
    finally:
        stop.set()
        ticker.join()
    ended = "Upstream answered" if isinstance(response, dict) and "result" in response else "The call failed"
    publish(steps[0] + 1, ended, total=steps[0] + 1)
    return response
