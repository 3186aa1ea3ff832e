"""What both HTTP transports share: bearer auth, Origin/Host checks, SSE framing.

Wire constants live here, at the top, so the rules are easy to audit.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, request

from janus.gateway.catalog import Principal, hash_token
from janus.mcp import jsonrpc

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

    response: Response


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = jsonrpc.dumps(body) if isinstance(body, (dict, list)) and _is_jsonrpc(body) else json.dumps(body)
    return Response(text, status=status, mimetype=JSON_MIMETYPE, headers=headers)


def _is_jsonrpc(body: Any) -> bool:
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0"


def rpc_error(status: int, code: int, message: str, request_id: Any = None, headers: dict | None = None) -> Response:
    return json_response(jsonrpc.error_response(request_id, code, message), status, headers)


def sse_event(data: Any, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else jsonrpc.dumps(data)
    head = f"event: {event}\n" if event else ""
    # One data line per payload line keeps multi-line payloads intact.
    return head + "".join(f"data: {line}\n" for line in payload.split("\n")) + "\n"


SSE_KEEPALIVE = ": keep-alive\n\n"


def base_url() -> str:
    configured = current_app.config.get("PUBLIC_URL")
    return (configured or request.host_url).rstrip("/")


def unauthorized(message: str) -> Response:
    metadata = base_url() + PROTECTED_RESOURCE_PATH
    return json_response(
        {"error": "unauthorized", "message": message}, 401,
        {WWW_AUTHENTICATE: f'Bearer resource_metadata="{metadata}"'},
    )


def authenticate(catalog, transport: str) -> Principal:
    """The caller's principal from `Authorization: Bearer …` (never from the query string)."""
    header = request.headers.get(AUTHORIZATION, "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Denied(unauthorized("A client token is required: send 'Authorization: Bearer <token>'."))
    principal = Principal(token_hash=hash_token(token), transport=transport)
    record = catalog.current().token(principal)
    if record is None or not record.is_active():
        # One message for unknown, disabled and expired: no oracle for token guessing.
        raise Denied(unauthorized("The client token is not valid (unknown, disabled or expired)."))
    return principal


def check_origin_and_host() -> None:
    """DNS-rebinding defences: a foreign Origin gets 403; on loopback, a foreign Host gets 421."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        allowed = set(current_app.config["ALLOWED_ORIGINS"])
        own = request.host_url.rstrip("/")
        if origin.rstrip("/") != own and origin.rstrip("/") not in allowed:
            raise Denied(json_response({"error": "forbidden", "message": f"Origin {origin!r} is not allowed."}, 403))
    elif origin == "null":
        raise Denied(json_response({"error": "forbidden", "message": "Opaque origins are not allowed."}, 403))
    if str(current_app.config["HOST"]).strip("[]") in LOOPBACK_HOSTS:
        host = urlsplit("//" + (request.host or "")).hostname or ""
        if host not in LOOPBACK_HOSTS:
            raise Denied(json_response(
                {"error": "misdirected_request", "message": f"Host {request.host!r} is not served here."}, 421))


def protect(bp) -> None:
    """Every MCP-facing blueprint: Origin/Host checks first, Denied answered as its prepared response."""
    bp.before_request(check_origin_and_host)
    bp.register_error_handler(Denied, lambda exc: exc.response)


def accepts(mimetype: str) -> bool:
    return any(part.split(";")[0].strip() in (mimetype, "*/*") for part in request.headers.get("Accept", "").split(","))
