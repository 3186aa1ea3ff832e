"""The one HTTP edge of the MCP transports: what every request meets before any MCP processing.

Three decisions, made here and nowhere else (issue 12, item 4):

- **Origin and Host** (`EdgePolicy`): the DNS-rebinding defence, judged on the request as sent.
- **The bearer** (`Edge.principal`): a client token becomes a `Principal`, or the request gets the
  401 with RFC 9728 `WWW-Authenticate`.
- **The response headers** (`RESPONSE_HEADERS`): what every transport response carries.

Both kinds of endpoint call the same functions on the WSGI environ, each through a small adapter:
`/mcp`, a WSGI app beside Flask (docs/adr/0001-serve-mcp-outside-flask.md), in
`StreamableHttp.__call__`; the Flask blueprints (`/sse`, `/messages`, `/api/tools`, the RFC 9728
document) through one before/after-request pair that `guard` registers. Wire constants live at the
top, so the rules are easy to audit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request

from janus.auth.oauth_tokens import IssuerUnavailable, ResourceServer, TokenRefused
from janus.auth.response_headers import BASELINE_HEADERS
from janus.config import HOST_PATTERN
from janus.gateway.catalog import Principal
from janus.transports import client_cert
from janus.transports.http_common import json_response
from janus.transports.http_metrics import count_request
from janus.transports.http_runtime import http_runtime
from janus.transports.rate_limits import RateLimits, rate_limits_for
from janus.transports.wire import HttpResponse

AUTHORIZATION = "Authorization"
WWW_AUTHENTICATE = "WWW-Authenticate"
PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Every transport response, refusals and streams included: the portal's baseline (one definition,
# janus/auth/response_headers.py), so a page and an MCP answer cannot drift apart.
RESPONSE_HEADERS: tuple[tuple[str, str], ...] = BASELINE_HEADERS
_DEFAULT_PORTS = {"http": 80, "https": 443}
_DEFAULT_PORT_SUFFIX = {"http": ":80", "https": ":443"}


@dataclass(frozen=True)
class Denied(Exception):
    """A request refused before any MCP processing, already shaped as an HTTP response."""

    response: HttpResponse


# -- Origin and Host -------------------------------------------------------------------------------


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
        """A foreign Origin gets 403, a malformed Host 400 and a Host not served here 421; else None.

        `host` is the Host header as sent (`request_host`), never a framework's rewrite of it.
        """
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
    """(name, port) of a Host header value; (None, None) when it is not one (e.g. holds userinfo or a
    path, or a port outside 1-65535 or written with a leading zero: "080" would be another text for 80)."""
    if not host or not HOST_PATTERN.fullmatch(host):
        return None, None
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] or None
    else:
        name, _, port_text = host.partition(":")
        port = port_text or None
    if port is not None and (port[0] == "0" or int(port) > 65535):
        return None, None
    return _host_name(name), port


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


def request_host(environ: dict[str, Any]) -> str:
    """The Host a request names, as sent; from the server's address only when a HTTP/1.0 client sent none."""
    host = environ.get("HTTP_HOST")
    if host:
        return host
    name, port = environ.get("SERVER_NAME", ""), environ.get("SERVER_PORT", "")
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 address, written as a Host header writes it
    scheme = environ.get("wsgi.url_scheme", "http")
    return name if port in ("", str(_DEFAULT_PORTS.get(scheme, ""))) else f"{name}:{port}"


# -- the edge of one app -----------------------------------------------------------------------------


class Edge:
    """One app's edge: its policy and its public URL, read from the configuration once (`edge_for`).

    Every method takes the WSGI environ, which both kinds of endpoint have: the decisions cannot depend
    on which framework served the request.
    """

    __slots__ = ("policy", "_public_base", "oauth", "limits")

    def __init__(
        self,
        policy: EdgePolicy,
        public_url: str | None,
        oauth: ResourceServer | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self.policy = policy
        self._public_base = public_url.rstrip("/") if public_url else None
        self.oauth = oauth  # OAuth access tokens besides client tokens (OAUTH_ISSUERS), or None
        self.limits = limits  # the per-address limit before authentication (janus/transports/rate_limits.py)

    @classmethod
    def from_config(cls, config) -> Edge:
        return cls(EdgePolicy.from_config(config), config.get("PUBLIC_URL") or None, ResourceServer.from_config(config))

    def refusal(self, environ: dict[str, Any]) -> HttpResponse | None:
        """The Origin/Host refusal of this request, or None; first, before a Host could be reflected anywhere."""
        return self.policy.refusal(environ.get("HTTP_ORIGIN"), request_host(environ))

    def admit(self, environ: dict[str, Any], catalog, transport: str) -> Principal | None:
        """Origin/Host first, then the bearer on every request but a CORS preflight (which carries no
        credentials by design, and gets None). Denied with the prepared answer otherwise; 429 for an
        address over RATE_LIMIT_PER_IP, before anything else is read."""
        limits = self.limits
        throttled = limits.address_refusal(environ) if limits is not None else None
        if throttled is not None:
            raise Denied(throttled.json_response())
        refusal = self.refusal(environ)
        if refusal is not None:
            raise Denied(refusal)
        if environ["REQUEST_METHOD"] == "OPTIONS":
            return None
        try:
            principal = self.principal(catalog, transport, environ)
        except Denied:
            throttled = limits.failed_authentication(environ, transport) if limits is not None else None
            if throttled is not None:
                raise Denied(throttled.json_response()) from None
            raise
        traceparent = environ.get("HTTP_TRACEPARENT")  # W3C trace context; the gateway validates it if it uses it
        return principal if traceparent is None else replace(principal, traceparent=traceparent)

    def principal(self, catalog, transport: str, environ: dict[str, Any]) -> Principal:
        """The caller's principal from `Authorization: Bearer …` (never from the query string);
        Denied (401) otherwise."""
        scheme, _, token = (environ.get("HTTP_AUTHORIZATION") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            # Mutual TLS: a client certificate bound to a token stands for its bearer (client_cert).
            bound = client_cert.token_without_bearer(catalog, environ)
            if bound is not None:
                return Principal(token_hash=bound, transport=transport)
            raise Denied(
                self.unauthorized("A client token is required: send 'Authorization: Bearer <token>'.", environ)
            )
        principal = Principal(token_hash=catalog.hash_token(token), transport=transport)
        record = catalog.current().token(principal)
        if record is None or not record.is_active():
            record = catalog.after_miss().token(principal)  # issued or enabled a moment ago on another worker
        if record is None and self.oauth is not None and self.oauth.looks_like_jwt(token):
            return self._oauth_principal(token, catalog, transport, environ)
        if record is None or not record.is_active():
            # One message for unknown, disabled and expired: no oracle for token guessing.
            raise Denied(self.unauthorized("The client token is not valid (unknown, disabled or expired).", environ))
        if not client_cert.binding_holds(record, environ):
            raise Denied(
                self.unauthorized(
                    "This client token is bound to a client certificate this connection did not present.", environ
                )
            )
        return principal

    def _oauth_principal(self, token: str, catalog, transport: str, environ: dict[str, Any]) -> Principal:
        """An OAuth access token's principal (janus/auth/oauth_tokens.py); 401 when refused, 503 when its
        issuer's keys cannot be had (a 401 would send the client through a new authorization for nothing)."""
        assert self.oauth is not None
        try:
            return self.oauth.principal(token, transport, catalog.hash_identity)
        except IssuerUnavailable:
            body = {"error": "temporarily_unavailable", "message": "The access token's issuer cannot be reached."}
            raise Denied(json_response(body, 503, {"Retry-After": "5"})) from None
        except TokenRefused as refused:
            raise Denied(self.unauthorized(str(refused), environ)) from None

    def unauthorized(self, message: str, environ: dict[str, Any]) -> HttpResponse:
        """401 pointing to the RFC 9728 document, at the URL that document names itself by."""
        return json_response(
            {"error": "unauthorized", "message": message},
            401,
            {WWW_AUTHENTICATE: f'Bearer resource_metadata="{self.base_url(environ)}{PROTECTED_RESOURCE_PATH}"'},
        )

    def base_url(self, environ: dict[str, Any]) -> str:
        """The gateway's own base URL: PUBLIC_URL when set (behind a proxy), else scheme and Host
        without a default port (`localhost:80` is `http://localhost`), so every endpoint and the
        RFC 9728 document spell the resource alike. Only for an admitted request: it holds the Host."""
        if self._public_base is not None:
            return self._public_base
        scheme = environ.get("wsgi.url_scheme", "http")
        host = request_host(environ)
        suffix = _DEFAULT_PORT_SUFFIX.get(scheme)
        if suffix is not None:
            host = host.removesuffix(suffix)
        return f"{scheme}://{host}"


def edge_for(app: Flask) -> Edge:
    """The app's Edge, built once from its configuration (not per request)."""
    edge = app.extensions.get("janus.edge")
    if edge is None:
        edge = Edge.from_config(app.config)
        edge.limits = rate_limits_for(app)
        app.extensions["janus.edge"] = edge
    return edge


def token_hash_of(principal: Principal) -> str:
    """An HTTP caller's token hash: the edge makes no principal without one."""
    if principal.token_hash is None:
        raise ValueError(f"a {principal.transport} caller without a client token")
    return principal.token_hash


# -- the Flask adapter --------------------------------------------------------------------------------

_PRINCIPAL = "janus_principal"


def guard(bp, transport: str | None = None, *, count_refusals: bool = False) -> None:
    """Put a Flask blueprint behind the edge: one before/after-request pair for all its routes.

    Before: Origin/Host, then (when `transport` is given) the bearer, whose principal the views read
    with `caller()`. After: the response headers and, with `count_refusals`, the refusal counter of
    mcp_http_rejected_requests_total (for the endpoints left out of Flask's own metrics).
    """

    def before():
        edge = edge_for(current_app)
        if transport is None:
            return edge.refusal(request.environ)  # None lets the request through
        try:
            setattr(g, _PRINCIPAL, edge.admit(request.environ, http_runtime().catalog, transport))
        except Denied as denied:
            return denied.response
        return None

    def after(response):
        headers = response.headers
        for name, value in RESPONSE_HEADERS:
            headers.setdefault(name, value)
        if count_refusals:
            count_request(transport or bp.name, request.method, response.status_code)
        return response

    bp.before_request(before)
    bp.after_request(after)


def caller() -> Principal:
    """The principal `guard` authenticated for the current request."""
    principal = g.get(_PRINCIPAL)
    if principal is None:
        raise RuntimeError("caller() outside a request that a guard(bp, transport) blueprint authenticated")
    return principal


def refusal() -> HttpResponse | None:
    """Edge.refusal for the current Flask request (a view that guards itself, such as /metrics)."""
    return edge_for(current_app).refusal(request.environ)


def base_url() -> str:
    """Edge.base_url for the current Flask request."""
    return edge_for(current_app).base_url(request.environ)
