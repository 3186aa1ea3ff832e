"""What the HTTP transports share: bearer auth, the Origin/Host allow-lists, SSE framing.

Wire constants live here, at the top, so the rules are easy to audit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from flask import current_app, request

from janus.config import HOST_PATTERN
from janus.gateway.catalog import Principal
from janus.mcp import jsonrpc
from janus.mcp.errors import INVALID_REQUEST, McpError
from janus.transports.wire import HttpResponse

log = logging.getLogger(__name__)

AUTHORIZATION = "Authorization"
WWW_AUTHENTICATE = "WWW-Authenticate"
PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"
SSE_MIMETYPE = "text/event-stream"
JSON_MIMETYPE = "application/json"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # reverse proxies must not buffer the stream
}


@dataclass(frozen=True)
class Denied(Exception):
    """A request refused before any MCP processing, already shaped as an HTTP response."""

    response: HttpResponse


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status, _json_bytes(body), list((headers or {}).items()), JSON_MIMETYPE)


def _json_bytes(body: Any) -> bytes | str:
    # orjson writes the same compact JSON as jsonrpc.dumps ~10x cheaper (every tools/call answer
    # passes here). Tool results hold no NaN (upstream JSON is parsed without it); what orjson
    # cannot carry (integers beyond 64 bits) falls back to the core's serialiser and its rules.
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return wire_bytes(jsonrpc.dumps(body) if _is_jsonrpc(body) else json.dumps(body))


def wire_bytes(text: str) -> bytes:
    """UTF-8 of a JSON text. A lone surrogate (echoed from a request, say in an id) has no UTF-8
    form; it can only sit inside a JSON string, where backslashreplace writes exactly its JSON
    escape, so the client reads back what it sent instead of the server failing."""
    return text.encode("utf-8", "backslashreplace")


def wire_text(text: str) -> str:
    """`text` as it will be written (see wire_bytes), for str-based writers such as SSE streams."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return wire_bytes(text).decode("utf-8")


def _is_jsonrpc(body: Any) -> bool:
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0"


def rpc_error(
    status: int, code: int, message: str, request_id: Any = None, headers: dict | None = None
) -> HttpResponse:
    return json_response(jsonrpc.error_response(request_id, code, message), status, headers)


def sse_event(data: Any, event: str | None = None) -> str:
    payload = wire_text(data if isinstance(data, str) else jsonrpc.dumps(data))
    head = f"event: {event}\n" if event else ""
    # One data line per payload line keeps multi-line payloads intact.
    return head + "".join(f"data: {line}\n" for line in payload.split("\n")) + "\n"


SSE_KEEPALIVE = ": keep-alive\n\n"


def public_base(public_url: str | None, host_url: str) -> str:
    """The gateway's own base URL: PUBLIC_URL when set (behind a proxy), else the request's host."""
    return (public_url or host_url).rstrip("/")


def base_url() -> str:
    return public_base(current_app.config.get("PUBLIC_URL"), request.host_url)


def unauthorized(message: str, base: str) -> HttpResponse:
    return json_response(
        {"error": "unauthorized", "message": message},
        401,
        {WWW_AUTHENTICATE: f'Bearer resource_metadata="{base}{PROTECTED_RESOURCE_PATH}"'},
    )


def principal_for(catalog, transport: str, authorization: str | None, base: str) -> Principal:
    """The caller's principal from an `Authorization: Bearer …` value; Denied (401) otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Denied(unauthorized("A client token is required: send 'Authorization: Bearer <token>'.", base))
    principal = Principal(token_hash=catalog.hash_token(token), transport=transport)
    record = catalog.current().token(principal)
    if record is None or not record.is_active():
        # One message for unknown, disabled and expired: no oracle for token guessing.
        raise Denied(unauthorized("The client token is not valid (unknown, disabled or expired).", base))
    return principal


def authenticate(catalog, transport: str) -> Principal:
    """principal_for the current Flask request (never from the query string)."""
    return principal_for(catalog, transport, request.headers.get(AUTHORIZATION), base_url())


def token_hash_of(principal: Principal) -> str:
    """An HTTP caller's token hash: principal_for makes no principal without one."""
    if principal.token_hash is None:
        raise ValueError(f"a {principal.transport} caller without a client token")
    return principal.token_hash


@dataclass(frozen=True)
class EdgePolicy:
    """The DNS-rebinding defence: which Host names this gateway answers for and which browser Origins
    may call it. Both are explicit allow-lists built from the configuration; neither is ever compared
    with the request's own Host, which is exactly what a rebinding attacker controls.
    """

    hosts: frozenset[str]  # host names (lower case, no port) allowed on any port
    host_ports: frozenset[str]  # "name:port" entries allowed on that port only
    origins: frozenset[str]  # normalised "scheme://host[:port]"
    any_host: bool = False  # ALLOWED_HOSTS=*: a proxy in front already validates Host

    @classmethod
    def from_config(cls, config) -> EdgePolicy:
        hosts, host_ports, any_host = set(LOOPBACK_HOSTS), set(), False
        public = urlsplit(config.get("PUBLIC_URL") or "")
        if public.hostname:
            hosts.add(_host_name(public.hostname))
        for entry in config.get("ALLOWED_HOSTS") or ():
            if entry == "*":
                any_host = True
                continue
            name, port = _split_host(entry)
            if name and port:
                host_ports.add(f"{name}:{port}")
            elif name:
                hosts.add(name)
        origins = {_normalised_origin(value) for value in config.get("ALLOWED_ORIGINS") or ()}
        if public.hostname:
            # PUBLIC_URL may carry a path (a proxy's prefix); its origin is scheme and authority only.
            origins.add(_normalised_origin(f"{public.scheme}://{public.netloc}"))
        return cls(frozenset(hosts), frozenset(host_ports), frozenset(o for o in origins if o is not None), any_host)

    def host_allowed(self, name: str, port: str | None) -> bool:
        return self.any_host or name in self.hosts or (port is not None and f"{name}:{port}" in self.host_ports)

    def origin_allowed(self, origin: str) -> bool:
        normalised = _normalised_origin(origin)
        if normalised is None:
            return False
        if normalised in self.origins:
            return True
        parts = urlsplit(normalised)
        name = _host_name(parts.hostname or "")
        # Loopback origins on any port (a local client, the portal opened on localhost); and the names
        # an operator listed in ALLOWED_HOSTS, so a portal served under such a name may call its own API.
        # The wildcard host entry never widens the origins.
        return (
            name in LOOPBACK_HOSTS
            or name in self.hosts
            or (parts.port is not None and f"{name}:{parts.port}" in self.host_ports)
        )

    def refusal(self, origin: str | None, host: str) -> HttpResponse | None:
        """A foreign Origin gets 403, a malformed Host 400 and a Host not served here 421; else None."""
        if origin == "null":
            return json_response({"error": "forbidden", "message": "Opaque origins are not allowed."}, 403)
        if origin is not None and not self.origin_allowed(origin):
            return json_response(
                {
                    "error": "forbidden",
                    "message": f"Origin {origin!r} is not allowed; an operator can allow it with ALLOWED_ORIGINS.",
                },
                403,
            )
        name, port = _split_host(host)
        if name is None:
            return json_response({"error": "bad_request", "message": "The Host header is malformed."}, 400)
        if not self.host_allowed(name, port):
            # The Host value is not echoed: it is the attacker's text.
            return json_response(
                {
                    "error": "misdirected_request",
                    "message": "This gateway does not answer for "
                    "the Host this request names; an operator can allow it with ALLOWED_HOSTS or "
                    "PUBLIC_URL.",
                },
                421,
            )
        return None


def _host_name(name: str) -> str:
    # "localhost." is "localhost": a trailing dot does not make another name.
    return name.lower().strip("[]").rstrip(".")


def _split_host(host: str) -> tuple[str | None, str | None]:
    """(name, port) of a Host header value; (None, None) when it is not one (e.g. holds userinfo or a path)."""
    if not host or not HOST_PATTERN.fullmatch(host):
        return None, None
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return _host_name(name), rest[1:] or None
    name, _, port = host.partition(":")
    return _host_name(name), port or None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _normalised_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case without a default port, as browsers send it; None if not an origin."""
    try:
        parts = urlsplit(value.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    name = parts.hostname.lower()
    host = f"[{name}]" if ":" in name else name
    if port is not None and port != _DEFAULT_PORTS[parts.scheme.lower()]:
        host += f":{port}"
    return f"{parts.scheme.lower()}://{host}"


def edge_policy(app) -> EdgePolicy:
    """The app's EdgePolicy, built once from its configuration (not per request)."""
    policy = app.extensions.get("janus.edge")
    if policy is None:
        policy = app.extensions["janus.edge"] = EdgePolicy.from_config(app.config)
    return policy


def edge_refusal() -> HttpResponse | None:
    """EdgePolicy.refusal for the current Flask request."""
    return edge_policy(current_app).refusal(request.headers.get("Origin"), request.host or "")


def check_origin_and_host() -> None:
    refusal = edge_refusal()
    if refusal is not None:
        raise Denied(refusal)


def protect(bp) -> None:
    """Every MCP-facing blueprint: Origin/Host checks first, Denied answered as its prepared response."""
    bp.before_request(check_origin_and_host)
    bp.register_error_handler(Denied, lambda exc: exc.response)


def accepts(accept_header: str | None, mimetype: str) -> bool:
    return any(part.split(";")[0].strip() in (mimetype, "*/*") for part in (accept_header or "").split(","))


def parse_single(body: bytes) -> dict:
    """One JSON-RPC message from a POST body; McpError otherwise (-32700 undecodable, -32600 a batch).

    One policy for both HTTP transports (POST /mcp and the legacy POST /messages): batches were
    dropped from MCP in 2025-06-18, and a batch would let one POST start any number of calls.
    """
    message = jsonrpc.parse(body)
    if not isinstance(message, dict):
        raise McpError(INVALID_REQUEST, "Invalid Request: send one JSON-RPC message per POST (no batches).")
    return message
