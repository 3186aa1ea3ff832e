"""What both HTTP transports share: bearer auth, Origin/Host checks, SSE framing.

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

from janus.gateway.catalog import Principal
from janus.mcp import jsonrpc
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
        return jsonrpc.dumps(body) if _is_jsonrpc(body) else json.dumps(body)


def _is_jsonrpc(body: Any) -> bool:
    return isinstance(body, dict) and body.get("jsonrpc") == "2.0"


def rpc_error(status: int, code: int, message: str, request_id: Any = None, headers: dict | None = None) -> HttpResponse:
    return json_response(jsonrpc.error_response(request_id, code, message), status, headers)


def sse_event(data: Any, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else jsonrpc.dumps(data)
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
        {"error": "unauthorized", "message": message}, 401,
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


def origin_and_host_refusal(origin: str | None, host: str, own_url: str, allowed_origins,
                            bind_host: str) -> HttpResponse | None:
    """DNS-rebinding defences: a foreign Origin gets 403; on loopback, a foreign Host gets 421."""
    if origin == "null":
        return json_response({"error": "forbidden", "message": "Opaque origins are not allowed."}, 403)
    if origin is not None:
        origin_base = origin.rstrip("/")
        if origin_base != own_url.rstrip("/") and origin_base not in allowed_origins:
            return json_response({"error": "forbidden", "message": f"Origin {origin!r} is not allowed."}, 403)
    if str(bind_host).strip("[]") in LOOPBACK_HOSTS:
        hostname = urlsplit("//" + host).hostname or ""
        if hostname not in LOOPBACK_HOSTS:
            return json_response(
                {"error": "misdirected_request", "message": f"Host {host!r} is not served here."}, 421)
    return None


def check_origin_and_host() -> None:
    refusal = origin_and_host_refusal(
        request.headers.get("Origin"), request.host or "", request.host_url,
        current_app.config["ALLOWED_ORIGINS"], current_app.config["HOST"],
    )
    if refusal is not None:
        raise Denied(refusal)


def protect(bp) -> None:
    """Every MCP-facing blueprint: Origin/Host checks first, Denied answered as its prepared response."""
    bp.before_request(check_origin_and_host)
    bp.register_error_handler(Denied, lambda exc: exc.response)


def accepts(accept_header: str | None, mimetype: str) -> bool:
    return any(part.split(";")[0].strip() in (mimetype, "*/*") for part in (accept_header or "").split(","))
