"""Streamable HTTP at /mcp, for both protocol eras.

- Handshake era (2024-11-05 … 2025-11-25): `initialize` mints an
  Mcp-Session-Id stored in the database (any worker or replica serves the
  next request); GET opens the standalone stream for list_changed; DELETE ends.
- Stateless 2026-07-28: a request carrying the `_meta` envelope; no session,
  header/body cross-checks, `subscriptions/listen` for change notifications.

/mcp is a plain WSGI application mounted in front of Flask (`mount`), not a
blueprint: Flask's per-request machinery cost as much CPU as the rest of a
tools/call (see janus/transports/wire.py). It keeps the blueprints' rules:
Origin/Host checks first, bearer auth on every request, refusals counted in
mcp_http_rejected_requests_total, and never a traceback on the wire. The
first two and the response headers are janus/transports/edge.py's, as for /sse.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask

from janus.gateway.catalog import Principal, scopes_allow
from janus.gateway.schemas import X_MCP_HEADER  # the mark the registration check enforces
from janus.mcp import jsonrpc, versions
from janus.mcp.errors import (
    HEADER_MISMATCH,
    HTTP_STATUS_FOR_ERROR,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    McpError,
)
from janus.mcp.server import Session
from janus.services.errors import (
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE_MESSAGE,
    database_unavailable,
    unavailable_reason,
)
from janus.services.sessions import SESSION_CACHE_SECONDS
from janus.transports.disconnect import watch as watch_disconnect
from janus.transports.edge import RESPONSE_HEADERS, Denied, Edge, edge_for, token_hash_of
from janus.transports.http_common import (
    JSON_MIMETYPE,
    SSE_HEADERS,
    SSE_KEEPALIVE,
    SSE_MIMETYPE,
    accepts,
    json_response,
    parse_single,
    rpc_error,
)
from janus.transports.http_metrics import count_request
from janus.transports.http_runtime import HttpRuntime, http_runtime
from janus.transports.listen import listen_stream
from janus.transports.mcp_server import UnencodableInputGuard
from janus.transports.progress import respond_with_progress
from janus.transports.progress_ticker import progress_token
from janus.transports.rate_limits import http_status_of, throttle_message
from janus.transports.sse_loop import EventQueue, sse_loop
from janus.transports.streams import ListChangedTracker
from janus.transports.wire import BodyTooLarge, HttpResponse, WireRequest

log = logging.getLogger(__name__)

PATH = "/mcp"
MCP_SESSION_ID = "Mcp-Session-Id"
MCP_PROTOCOL_VERSION = "MCP-Protocol-Version"
MCP_METHOD = "Mcp-Method"
MCP_NAME = "Mcp-Name"
TRANSPORT = "streamable_http"
ALLOWED_METHODS = "GET, POST, DELETE"
_NAMED_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
_B64_PREFIX, _B64_SUFFIX = "=?base64?", "?="


def mount(app: Flask) -> None:
    """Serve /mcp from StreamableHttp; every other path goes on to Flask unchanged."""
    endpoint = StreamableHttp(app)
    flask_app = app.wsgi_app

    def dispatch(environ, start_response):
        if environ.get("PATH_INFO") == PATH:
            return endpoint(environ, start_response)
        return flask_app(environ, start_response)

    app.wsgi_app = dispatch  # type: ignore[method-assign]  # Flask's documented way to wrap its WSGI app


class StreamableHttp:
    """The WSGI application behind /mcp, and the edge's WSGI adapter: the Flask blueprints get the
    same decisions from `edge.guard`'s hooks."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._rt: HttpRuntime | None = None
        self._edge: Edge | None = None

    def __call__(self, environ, start_response):
        req = WireRequest(environ)
        try:
            response = self._respond(req)
        except Denied as denied:
            response = denied.response
        except Exception as exc:
            if database_unavailable(exc):
                log.warning(
                    "%s %s answered 503: the database is unavailable (%s)", req.method, PATH, unavailable_reason(exc)
                )
                response = unavailable_response()
            else:
                log.exception("unhandled error on %s %s", req.method, PATH)
                response = rpc_error(500, INTERNAL_ERROR, "Internal error; see the gateway log.")
        if response.status >= 400:
            count_request(TRANSPORT, req.method, response.status)
        response.headers.extend(RESPONSE_HEADERS)
        return response(environ, start_response)

    def _respond(self, req: WireRequest) -> HttpResponse:
        rt = self._rt
        if rt is None:
            rt = self._rt = http_runtime(self._app)
        edge = self._edge
        if edge is None:
            edge = self._edge = edge_for(self._app)
        principal = edge.admit(req.environ, rt.catalog, TRANSPORT)  # Origin/Host, then the bearer
        method = req.method
        if principal is None:
            # A CORS preflight, which carries no credentials by design: it learns only the methods.
            return HttpResponse(204, headers=[("Allow", ALLOWED_METHODS)])
        if method == "POST":
            return post(rt, req, principal)
        if method == "GET":
            return standalone_stream(rt, req, principal)
        if method == "DELETE":
            return end_session(rt, req, principal)
        return json_response(
            {"error": "method_not_allowed", "message": f"{method} is not served on {PATH}."},
            405,
            {"Allow": ALLOWED_METHODS},
        )


def unavailable_response() -> HttpResponse:
    """503 with Retry-After: the session or token lookup this request needs cannot reach the database."""
    return rpc_error(
        503,
        INTERNAL_ERROR,
        DATABASE_UNAVAILABLE_MESSAGE,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


def post(rt: HttpRuntime, req: WireRequest, principal: Principal) -> HttpResponse:
    accept = req.header("Accept")
    if not (accepts(accept, JSON_MIMETYPE) and accepts(accept, SSE_MIMETYPE)):
        return json_response(
            {"error": "not_acceptable", "message": "Accept must list both application/json and text/event-stream."}, 406
        )
    if req.mimetype != JSON_MIMETYPE:
        return json_response(
            {"error": "unsupported_media_type", "message": "Content-Type must be application/json."}, 415
        )
    try:
        body = req.read_body(rt.max_request_bytes)
    except BodyTooLarge:
        return json_response(
            {"error": "request_entity_too_large", "message": f"The request body exceeds {rt.max_request_bytes} bytes."},
            413,
        )
    try:
        message = parse_single(body)
    except McpError as error:
        return rpc_error(400, error.code, error.message)
    if rt.limits is not None:  # MCP_RATE_PER_CLIENT or the token's own limit: 429 before any work
        throttled = throttle_message(rt.limits, rt.runtime.backend, rt.runtime.audit.record, principal, message)
        if throttled is not None:
            return throttled.rpc_response(message.get("id"))
    if versions.envelope_version(message) is not None:
        return _stateless(rt, req, principal, message)
    header_version = req.header(MCP_PROTOCOL_VERSION)
    if versions.is_stateless(header_version):
        if "id" not in message:
            # A notification: 2026-07-28 defines the `_meta` envelope and its header rules for
            # requests; there is no answer to carry an error, so it is accepted (202) and ignored.
            return _stateless(rt, req, principal, message)
        # A 2026-07-28 request whose `_meta` is missing or names no protocol version. The
        # revision makes `_meta` with its protocolVersion required on every request, and a
        # malformed `_meta` is invalid params: -32602 with 400, not a header mismatch (the
        # header cannot disagree with a value that is not there).
        return _refused_call(
            rt,
            principal,
            message,
            rpc_error(
                400,
                INVALID_PARAMS,
                f"Invalid params: a {header_version} request needs params._meta with "
                f"{versions.PROTOCOL_VERSION_META_KEY!r}",
                message.get("id"),
            ),
        )
    return _handshake(rt, req, principal, message)


def _refused_call(rt: HttpRuntime, principal: Principal, message: dict, response: HttpResponse) -> HttpResponse:
    """A tools/call refused by the transport before the core saw it is still an attempt: audit it."""
    params = message.get("params")
    if message.get("method") == "tools/call" and isinstance(params, dict):
        name = params.get("name")
        arguments = params.get("arguments")
        guard = rt.server.backend
        if not isinstance(guard, UnencodableInputGuard):  # build_server puts it in front of every backend
            raise TypeError(f"the MCP server's backend is {type(guard).__name__}, not the input guard")
        guard.record_refusal(
            principal,
            name if isinstance(name, str) else "",
            arguments,
            f"refused by the transport (HTTP {response.status})",
            params.get("_meta"),
        )
    return response


# -- the stateless 2026-07-28 era ---------------------------------------------


def _stateless(rt: HttpRuntime, req: WireRequest, principal: Principal, message: dict) -> HttpResponse:
    request_id = message.get("id")
    try:
        _check_mirrored_headers(req, message, rt, principal)
    except McpError as error:
        return _refused_call(rt, principal, message, rpc_error(400, error.code, error.message, request_id))
    if message.get("method") == "subscriptions/listen" and jsonrpc.is_valid_id(request_id):
        try:
            return listen_stream(rt, principal, message)
        except McpError as error:
            return rpc_error(HTTP_STATUS_FOR_ERROR.get(error.code, 400), error.code, error.message, request_id)
    return _answer(rt, req, principal, message, session=None, stateless=True)


def _check_mirrored_headers(req: WireRequest, message: dict, rt: HttpRuntime, principal: Principal) -> None:
    """The 2026-07-28 request metadata headers must be present and agree with the body (-32020)."""
    body_version = versions.envelope_version(message)
    header_version = req.header(MCP_PROTOCOL_VERSION)
    notification = "id" not in message
    if notification and body_version is None:
        return  # the envelope and its header rules are defined for requests (see post)
    if header_version is None:
        raise McpError(HEADER_MISMATCH, f"Header mismatch: the {MCP_PROTOCOL_VERSION} header is required")
    if header_version != body_version:
        raise McpError(
            HEADER_MISMATCH,
            f"Header mismatch: {MCP_PROTOCOL_VERSION} header value {header_version!r} "
            f"does not match body value {body_version!r}",
        )
    method = message.get("method")
    if not isinstance(method, str):
        return  # the core reports the malformed message
    header_method = req.header(MCP_METHOD)
    if header_method is None:
        if notification:
            # The revision requires Mcp-Method on requests; it sets no such rule for notifications.
            return
        raise McpError(HEADER_MISMATCH, f"Header mismatch: the {MCP_METHOD} header is required")
    if header_method != method:
        raise McpError(
            HEADER_MISMATCH,
            f"Header mismatch: {MCP_METHOD} header value {header_method!r} does not match body value {method!r}",
        )
    field = _NAMED_METHODS.get(method)
    params = message.get("params")
    if not isinstance(params, dict):
        params = {}
    if field is not None and isinstance(params.get(field), str):
        raw = req.header(MCP_NAME)
        if raw is None:
            raise McpError(HEADER_MISMATCH, f"Header mismatch: the {MCP_NAME} header is required for {method}")
        name = _decode_header_value(raw, MCP_NAME)
        if name != params[field]:
            raise McpError(
                HEADER_MISMATCH,
                f"Header mismatch: {MCP_NAME} header value {name!r} does not match body value {params[field]!r}",
            )
    if method == "tools/call" and isinstance(params.get("name"), str):
        _check_param_headers(rt, req, principal, params)


def _decode_header_value(raw: str, header: str) -> str:
    raw = raw.strip(" \t")  # RFC 9110 5.5: optional whitespace around a field value is not part of it
    if raw.startswith(_B64_PREFIX) and raw.endswith(_B64_SUFFIX) and len(raw) >= len(_B64_PREFIX) + len(_B64_SUFFIX):
        try:
            return base64.b64decode(raw[len(_B64_PREFIX) : -len(_B64_SUFFIX)], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise McpError(HEADER_MISMATCH, f"Header mismatch: {header} is not valid base64 UTF-8") from None
    return raw


# -- x-mcp-header: tool parameters mirrored into Mcp-Param-* headers (SEP-2243) ------------------

MCP_PARAM_PREFIX = "Mcp-Param-"
_param_headers_cache: dict[tuple[int, str], tuple[tuple[str, str], ...]] = {}


def mirrored_params(schema: object) -> tuple[tuple[str, str], ...]:
    """(parameter, header suffix) for each top-level property an admin marked with `x-mcp-header`
    in the endpoint's input schema: clients copy its value into `Mcp-Param-<suffix>` so load
    balancers can route on it (a tenant id, a region) without reading the body."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return ()
    return tuple(
        (name, prop[X_MCP_HEADER])
        for name, prop in properties.items()
        if isinstance(prop, dict) and isinstance(prop.get(X_MCP_HEADER), str) and prop[X_MCP_HEADER]
    )


def _param_headers(rt: HttpRuntime, principal: Principal, tool_name: str) -> tuple[tuple[str, str], ...]:
    """The tool's mirrored parameters, from the in-process catalog snapshot (no database read),
    computed once per snapshot and tool. Nothing for a tool this caller cannot see: the core
    answers that one "Unknown tool", and a header error must not reveal that it exists."""
    snapshot = rt.catalog.current()
    tool = snapshot.by_name.get(tool_name)
    if tool is None or not scopes_allow(snapshot.scopes_for(principal), tool_name):
        return ()
    key = (snapshot.version, tool_name)
    found = _param_headers_cache.get(key)
    if found is None:
        if len(_param_headers_cache) > 4096:  # old snapshots' entries: dropping them all is cheap
            _param_headers_cache.clear()
        found = _param_headers_cache[key] = mirrored_params(tool.input_schema)
    return found


def _header_text(value: object) -> str | None:
    """How a primitive argument reads in its header (JSON's spelling); None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def _check_param_headers(rt: HttpRuntime, req: WireRequest, principal: Principal, params: dict) -> None:
    """SEP-2243: every `Mcp-Param-*` header a tool declares must agree with its argument in the
    body, and must be present when the argument is; a disagreement is -32020 with 400, so a
    load balancer that routed on the header never sends the call somewhere the body does not mean."""
    mirrored = _param_headers(rt, principal, params["name"])
    if not mirrored:
        return
    arguments = params.get("arguments")
    if not isinstance(arguments, dict):
        arguments = {}
    for param, suffix in mirrored:
        header = MCP_PARAM_PREFIX + suffix
        raw = req.header(header)
        body = _header_text(arguments[param]) if param in arguments else None
        if raw is None:
            if body is not None:
                raise McpError(
                    HEADER_MISMATCH, f"Header mismatch: the {header} header is required when arguments.{param} is given"
                )
            continue
        value = _decode_header_value(raw, header)
        if body is None or value != body:
            raise McpError(
                HEADER_MISMATCH,
                f"Header mismatch: {header} header value {value!r} does not match arguments.{param} {body!r}",
            )


# -- the handshake era ---------------------------------------------------------


def _handshake(rt: HttpRuntime, req: WireRequest, principal: Principal, message: dict) -> HttpResponse:
    request_id = message.get("id")
    header_version = req.header(MCP_PROTOCOL_VERSION)
    if message.get("method") == "initialize":
        session = Session()
        response = rt.server.handle(message, session=session, caller=principal)
        headers = {}
        if isinstance(response, dict) and "result" in response:
            record = rt.sessions.create(
                "streamable",
                token_hash_of(principal),
                protocol_version=session.protocol_version,
                client_info=session.client_info,
                client_capabilities=session.client_capabilities,
            )
            headers[MCP_SESSION_ID] = record.id
        return json_response(response, 200, headers) if response is not None else HttpResponse(202)

    refusal = _version_refusal(header_version, request_id)
    if refusal is not None:
        return _refused_call(rt, principal, message, refusal)
    record, problem = _session_for(rt, req, principal)
    if problem is not None:
        return _refused_call(rt, principal, message, problem)
    # A cancellation of this request (notifications/cancelled, DELETE) may reach any worker or replica.
    session = rt.calls.session(
        record.id,
        protocol_version=record.protocol_version,
        client_info=record.client_info,
        client_capabilities=record.client_capabilities,
        initialized=record.initialized,
    )
    if message.get("method") == "notifications/initialized" and not record.initialized:
        rt.sessions.update(record, initialized=True)
    return _answer(rt, req, principal, message, session=session, stateless=False)


def _version_refusal(header_version: str | None, request_id: Any = None) -> HttpResponse | None:
    """400 for an MCP-Protocol-Version this gateway does not speak (absent means 2025-03-26)."""
    if header_version is not None and not versions.is_supported(header_version):
        return rpc_error(400, INVALID_REQUEST, f"Unsupported {MCP_PROTOCOL_VERSION}: {header_version!r}", request_id)
    return None


def _session_for(rt: HttpRuntime, req: WireRequest, principal: Principal):
    session_id = req.header(MCP_SESSION_ID)
    if not session_id:
        return None, rpc_error(
            400, INVALID_REQUEST, f"Bad Request: the {MCP_SESSION_ID} header is required; send initialize first"
        )
    record = rt.sessions.get(session_id)
    # Another token's session does not exist for this caller: 404, not 403.
    if record is None or record.transport != "streamable" or record.token_hash != principal.token_hash:
        return None, rpc_error(404, INVALID_REQUEST, "Session not found")
    return record, None


# -- answering -------------------------------------------------------------------


def _answer(
    rt: HttpRuntime, req: WireRequest, principal: Principal, message: dict, *, session: Session | None, stateless: bool
) -> HttpResponse:
    token = progress_token(message)
    if token is not None:
        return respond_with_progress(rt, req.environ, principal, message, session, token)
    if stateless and message.get("method") == "tools/call" and jsonrpc.is_valid_id(message.get("id")):
        # At 2026-07-28 a client cancels by closing the connection (it MUST count as cancellation): watch
        # it while the call runs. The handshake era says the opposite for a plain response (a disconnect
        # SHOULD NOT cancel; the client sends notifications/cancelled), so there it is not watched.
        session = Session()
        stop = watch_disconnect(req.environ, lambda: session.cancel_here(message["id"]))
        try:
            response = rt.server.handle(message, session=session, caller=principal)
        finally:
            stop()
    else:
        response = rt.server.handle(message, session=session, caller=principal)
    if response is None:
        return HttpResponse(202)
    throttled = http_status_of(response)  # MCP_MAX_CONCURRENT_CALLS refused the call: 429, in both eras
    if throttled is not None:
        return json_response(response, *throttled)
    status = 200
    if stateless and isinstance(response, dict) and "error" in response:
        status = HTTP_STATUS_FOR_ERROR.get(response["error"].get("code"), 200)
    return json_response(response, status)


# -- GET (standalone stream) and DELETE ------------------------------------------


def standalone_stream(rt: HttpRuntime, req: WireRequest, principal: Principal) -> HttpResponse:
    header_version = req.header(MCP_PROTOCOL_VERSION)
    if versions.is_stateless(header_version):
        return _not_allowed()
    refusal = _version_refusal(header_version)
    if refusal is not None:
        return refusal
    if not accepts(req.header("Accept"), SSE_MIMETYPE):
        return json_response({"error": "not_acceptable", "message": "Accept must list text/event-stream."}, 406)
    record, problem = _session_for(rt, req, principal)
    if problem is not None:
        return problem
    if rt.streams.shutting_down.is_set():
        # As GET /sse: a stream opened on a leaving worker would be held until the graceful timeout cut it
        # (SDK clients reopen theirs at once when shutdown ends it). The client retries elsewhere.
        return json_response(
            {"error": "shutting_down", "message": "This server is shutting down; open the stream again."},
            503,
            {"Retry-After": "1"},
        )
    return HttpResponse(200, _notifications(rt, principal, record.id), list(SSE_HEADERS.items()), SSE_MIMETYPE)


def _notifications(rt: HttpRuntime, principal: Principal, session_id: str) -> Iterator[str]:
    events = EventQueue()
    # Bound to its session: a DELETE on any worker or replica ends it (LocalStreams checks).
    yield from sse_loop(
        rt.streams,
        (session_id, uuid.uuid4().hex),
        events.put,
        events,
        keepalive_seconds=rt.keepalive_seconds,
        list_changed=ListChangedTracker(rt.catalog, principal).notification,
        opening=SSE_KEEPALIVE,  # flushes the headers now, so the client knows the stream is open
        event="message",
        session_id=session_id,
    )


def end_session(rt: HttpRuntime, req: WireRequest, principal: Principal) -> HttpResponse:
    header_version = req.header(MCP_PROTOCOL_VERSION)
    if versions.is_stateless(header_version):
        return _not_allowed()
    refusal = _version_refusal(header_version)
    if refusal is not None:
        return refusal
    record, problem = _session_for(rt, req, principal)
    if problem is not None:
        return problem
    rt.sessions.end(record.id)
    rt.streams.end_session(record.id)
    rt.calls.cancel(record.id)  # the session's calls in flight, on every worker and replica: no answers follow
    # Other workers may hold the session as live in their cache for up to SESSION_CACHE_SECONDS after
    # reading it; answering only once that has passed means that every request the client sends after
    # this 204, on any worker or replica, finds the session ended. A DELETE is rare, and the wait is a
    # sleeping greenlet, not a busy worker.
    time.sleep(SESSION_CACHE_SECONDS)
    return HttpResponse(204)


def _not_allowed() -> HttpResponse:
    return json_response(
        {
            "error": "method_not_allowed",
            "message": "The 2026-07-28 protocol has no sessions or standalone streams: POST only.",
        },
        405,
        {"Allow": "POST"},
    )
