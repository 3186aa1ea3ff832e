"""Tool call → one upstream HTTP request → MCP CallToolResult.

The per-call path stays lean: templates are parsed once (templating caches
them), one keep-alive connection pool is built per connection and reused,
and nothing here compiles regexes or schemas per call.

The HTTP client is urllib3, the transport underneath requests, used directly:
requests' session machinery (environment merging, cookie jars, hooks,
adapters) cost ~550 µs of CPU per call here against ~165 µs for urllib3,
and a gateway needs none of it — it must not keep cookies or follow
redirects anyway.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3 import exceptions as u3

from janus.gateway import dlp
from janus.gateway.bounded_response import (
    DeadlinePassed,
    HeadersCut,
    MalformedHeaders,
    bounded_pool_classes,
    deadline_reset,
    deadline_set,
)
from janus.gateway.cancel_scope import (
    CallCancelled,
    Signal,
    cancellable,
    cancelled_here,
    proxy_pool_classes,
    unbind_socket,
)
from janus.gateway.circuit import CircuitOpen, Circuits
from janus.gateway.content import UpstreamResponse, call_result, excerpt, reason_phrase
from janus.gateway.egress import EgressPolicy, EgressRefused
from janus.gateway.errors import UpstreamError, exception_chain
from janus.gateway.metrics import circuit_changed as circuit_listener
from janus.gateway.oauth import TokenClient
from janus.gateway.outbound import proxy_for, tls_options
from janus.gateway.redaction import NOTHING, READ_MARGIN, Redactor
from janus.gateway.retries import IDEMPOTENT, RETRY_KINDS, RETRY_STATUSES, TOO_MANY_REQUESTS, backoff, retry_after
from janus.gateway.shaping import redactions
from janus.gateway.specs import ConnectionSpec, ToolSpec
from janus.gateway.templating import ArgumentError, fixed_query_names, render_body, render_path
from janus.gateway.tracing import CallTrace, upstream_request, vault_read
from janus.gateway.upstream_auth import OAUTH2_CLIENT_CREDENTIALS, SecretError, authenticate

logger = logging.getLogger(__name__)

ACCEPT = "application/json, */*;q=0.5"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CONNECT_TIMEOUT_CAP = 10.0  # a host that has not answered SYN in 10 s will not
POOL_MAXSIZE = 32  # keep-alive sockets kept per upstream; beyond this, extra calls use throwaway sockets
READ_CHUNK = 65536
MIN_ATTEMPT_SECONDS = 0.05  # a retry is not started with less time than this left before the deadline
PAUSE_SLICE = 0.05  # a backoff wait checks for the client's cancellation this often


@dataclass
class Outcome:
    result: dict[str, Any]
    status: str  # "success" | "failure"
    http_status: int | None
    error: str | None  # short, for the audit log: never a body or a secret
    attempts: int = 1  # requests sent, retries included (upstream resilience, issue 15 item 4)
    redactions: str | None = None  # what DLP masked, by class and count ("email:2"): never a value


@dataclass(frozen=True)
class Probe:
    """A connection test: OK (any answer below 500), its status, and the start of its body."""

    ok: bool
    http_status: int | None
    reason: str
    content_type: str | None
    excerpt: str
    rtt_ms: float
    error: str | None
    kind: str | None = None  # why there was no answer: an UpstreamError kind, or "secret"
    truncated: bool = False


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _scalar_query_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # JSON spelling: true/false, 3, 2.5, {"a":1}, so upstreams see what the client sent.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _query_pairs(arguments: Mapping[str, Any], used: frozenset[str], fixed: frozenset[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in arguments.items():
        # fixed: the template's own query names; the backend refuses them, this keeps them out regardless.
        if name in used or value is None or name.casefold() in fixed:
            continue
        if isinstance(value, (list, tuple)):
            pairs.extend((name, _scalar_query_text(item)) for item in value if item is not None)
        else:
            pairs.append((name, _scalar_query_text(value)))
    return pairs


def _json_bytes(body: object) -> bytes:
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ArgumentError("arguments contain a non-finite number, which JSON cannot carry") from None
    return text.encode("utf-8")


def _join(base_url: str, path: str) -> str:
    if path and not path.startswith(("/", "?")):
        path = "/" + path
    return base_url.rstrip("/") + path


def _classify(conn: ConnectionSpec, exc: BaseException, connect_timeout: float) -> UpstreamError:
    chain = list(exception_chain(exc))
    name = conn.name

    def error(message: str, kind: str) -> UpstreamError:
        return UpstreamError(message, connection=name, kind=kind)

    def found(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    refused = found(EgressRefused)
    if isinstance(refused, EgressRefused):  # first: the policy refused before any connection was made
        return error(f"Upstream '{name}' is refused by the egress policy: {refused}", "egress")
    if found(ConnectionRefusedError):
        return error(f"Upstream '{name}' is unreachable: connection refused", "refused")
    if found(socket.gaierror, u3.NameResolutionError):
        host = urlsplit(conn.base_url).hostname or "?"
        return error(f"Upstream '{name}' is unreachable: DNS lookup failed for host '{host}'", "dns")
    tls = found(ssl.SSLError)
    if tls is not None or found(u3.SSLError):
        detail = getattr(tls, "reason", None) or "handshake failed"
        return error(f"Upstream '{name}' is unreachable: TLS error ({detail})", "tls")
    if found(u3.ConnectTimeoutError):
        return error(f"Upstream '{name}' timed out connecting after {connect_timeout:g}s", "timeout")
    if found(u3.ReadTimeoutError, TimeoutError):
        return error(f"Upstream '{name}' timed out after {conn.timeout_seconds:g}s", "timeout")
    if found(u3.LocationValueError, u3.URLSchemeUnknown, ValueError):
        return error(f"Upstream '{name}' has an invalid base URL", "unreachable")
    if found(HeadersCut):
        return error(f"Upstream '{name}' closed the connection before completing its response headers", "protocol")
    if found(http.client.BadStatusLine, http.client.UnknownProtocol):
        return error(f"Upstream '{name}' answered with a malformed HTTP status line", "protocol")
    if found(http.client.LineTooLong):
        return error(f"Upstream '{name}' sent a response header line that is too long", "protocol")
    if found(MalformedHeaders):
        return error(f"Upstream '{name}' sent a response header line that cannot be parsed", "protocol")
    if found(ConnectionResetError):
        return error(f"Upstream '{name}' reset the connection mid-response", "protocol")
    if found(u3.IncompleteRead, http.client.IncompleteRead):
        return error(f"Upstream '{name}' closed the connection before sending the whole response body", "protocol")
    if found(u3.ProtocolError):
        return error(f"Upstream '{name}' closed the connection mid-response", "protocol")
    if any(type(e).__name__ == "DecodeError" for e in chain):
        return error(f"Upstream '{name}' sent a body that could not be decoded", "protocol")
    return error(f"Upstream '{name}' is unreachable: {type(exc).__name__}", "unreachable")


class PlannedRequest(NamedTuple):
    """What a tool call sends upstream, before credentials: the method, the path (with the query) relative
    to the connection's base URL, the JSON body, if any, and the endpoint's header parameters."""

    method: str
    path: str
    body: bytes | None
    headers: tuple[tuple[str, str], ...] = ()  # (name, value): fixed ones and the arguments sent as headers

    def url(self, base_url: str) -> str:
        return _join(base_url, self.path)


def plan_request(tool: ToolSpec, arguments: Mapping[str, Any]) -> PlannedRequest:
    """The request for these arguments: the one `Executor.execute` sends, and the portal's "try it" previews.

    Raises ArgumentError when the arguments do not fit the path or body template, or a header parameter's
    value cannot be a header.
    """
    method = tool.method.upper()
    header_pairs: tuple[tuple[str, str], ...] = ()
    if tool.header_params is not None:
        header_pairs = tuple(tool.header_params.render(arguments))
        # Sent as headers only: never also in the query or the body.
        names = tool.header_params.names
        arguments = {k: v for k, v in arguments.items() if k not in names}
    path, used = render_path(tool.path_template, arguments)
    data: bytes | None = None
    if method in BODY_METHODS:
        if tool.body_template:
            # The admin chose the body's shape; other arguments are dropped.
            body, _ = render_body(tool.body_template, arguments)
            data = _json_bytes(body)
        else:
            rest = {k: v for k, v in arguments.items() if k not in used}
            data = _json_bytes(rest) if rest else None
    else:
        pairs = _query_pairs(arguments, used, fixed_query_names(tool.path_template))
        if pairs:
            path += ("&" if "?" in path else "?") + urlencode(pairs)
    return PlannedRequest(method, path, data, header_pairs)


@functools.lru_cache(maxsize=256)
def _timeout(connect: float, read: float) -> urllib3.Timeout:
    return urllib3.Timeout(connect=connect, read=read)  # immutable once built: safe to share


@dataclass(frozen=True)
class _Target:
    """Where one connection's requests go: a pool plus the base URL's path."""

    pool: urllib3.HTTPConnectionPool | urllib3.ProxyManager
    base_path: str
    absolute_prefix: str | None  # through a proxy, requests carry the full URL

    def url(self, path: str) -> str:
        return (self.absolute_prefix or "") + self.base_path + path

    def close(self) -> None:
        # A pool closes; a proxy manager clears its pools.
        (self.pool.clear if isinstance(self.pool, urllib3.PoolManager) else self.pool.close)()


class Executor:
    """Runs tool calls against upstreams, one keep-alive pool per connection."""

    def __init__(
        self,
        *,
        get_secret: Callable[[str], str] | None = None,
        max_response_bytes: int = 1_048_576,
        user_agent: str = "Janus",
        tokens: TokenClient | None = None,
        egress: EgressPolicy | None = None,
        redaction: bool = False,
    ) -> None:
        self._get_secret = get_secret
        self._redaction = redaction  # REDACTION_ENABLED: DLP for connections that do not say otherwise
        # Without a policy given: metadata and link-local addresses are still refused.
        self._egress = egress if egress is not None else EgressPolicy()
        self._tokens = tokens if tokens is not None else TokenClient(user_agent=user_agent, egress=self._egress)
        self._max_bytes = max_response_bytes
        self._base_headers = {"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        self._targets: dict[tuple[str, str], _Target] = {}
        # Built once: pools whose responses end at the call's deadline and refuse cut-off headers.
        self._pool_classes = bounded_pool_classes(self._egress.pool_classes)
        self._lock = threading.Lock()
        # One circuit breaker per connection, in this process (janus/gateway/circuit.py).
        self.circuits = Circuits(circuit_listener)

    # -- pools -------------------------------------------------------------

    def _new_target(self, base_url: str) -> _Target:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base URL must be an absolute http(s) URL")
        tls: dict[str, Any] = tls_options() if parts.scheme == "https" else {}
        proxy = proxy_for(parts.scheme, parts.hostname)  # read once per pool, not on every call
        base_path = parts.path.rstrip("/")
        if proxy:
            self._egress.check_proxied(parts.hostname)  # the proxy resolves the name: judge it here
            manager = urllib3.ProxyManager(proxy, num_pools=1, maxsize=POOL_MAXSIZE, block=False, **tls)
            # So a cancellation can cut its sockets, and its responses end at the call's deadline.
            manager.pool_classes_by_scheme = bounded_pool_classes(proxy_pool_classes())
            return _Target(manager, base_path, f"{parts.scheme}://{parts.netloc}")
        # Its connections resolve, check every address against the egress policy, then connect to them.
        pool_class = self._pool_classes[parts.scheme]
        # An explicit port: without one http.client splits an IPv6 literal's last group off as the port.
        port = parts.port or (443 if parts.scheme == "https" else 80)
        pool = pool_class(parts.hostname, port, maxsize=POOL_MAXSIZE, block=False, retries=False, **tls)
        return _Target(pool, base_path, None)

    def _target(self, conn: ConnectionSpec) -> _Target:
        key = (conn.id, conn.base_url)
        target = self._targets.get(key)  # lock-free hit: the common case
        if target is not None:
            return target
        with self._lock:
            target = self._targets.get(key)
            if target is None:
                # A changed base URL leaves the old pool unused; close it now.
                for stale in [k for k in self._targets if k[0] == conn.id]:
                    self._targets.pop(stale).close()
                target = self._new_target(conn.base_url)
                self._targets[key] = target
        return target

    def close(self) -> None:
        with self._lock:
            targets = list(self._targets.values())
            self._targets.clear()
        for target in targets:
            target.close()
        self._tokens.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------

    def execute(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        *,
        protocol_version: str = "2025-11-25",
        cancel: Signal | None = None,
        trace: CallTrace | None = None,
    ) -> Outcome:
        """Call the upstream for this tool.

        Raises ArgumentError (bad arguments), SecretError (credentials) and
        UpstreamError (unreachable, timeout, TLS); any HTTP status is an Outcome.
        Raises CallCancelled once `cancel` is set: before sending, nothing is sent; while waiting,
        the upstream connection is shut down (the upstream sees it closed) and the wait ends at once.
        `trace` (janus/gateway/tracing.py): spans for the vault read and the request, `traceparent` upstream.
        """
        conn = tool.connection
        if tool.timeout_seconds is not None and tool.timeout_seconds != conn.timeout_seconds:
            conn = replace(conn, timeout_seconds=tool.timeout_seconds)  # the endpoint's own deadline
        method, path, data, header_pairs = plan_request(tool, arguments)
        headers = dict(self._base_headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        if header_pairs:
            headers.update(header_pairs)  # names checked when saved: none of the headers set above
        deadline = time.monotonic() + conn.timeout_seconds  # the whole call's, retries and their waits included
        breaker = self.circuits.get(conn.id, conn.name, conn.breaker_threshold, conn.breaker_cooldown_seconds)
        try:
            breaker.admit()
        except CircuitOpen as exc:
            refused = UpstreamError(str(exc), connection=conn.name, kind="circuit_open")
            refused.attempts = 0  # nothing was sent
            raise refused from None
        try:
            # trace None (the common case): a shared do-nothing block
            with vault_read(trace, conn.name, conn.auth_type):
                auth, redactor = self._authenticate(conn, True)
            if header_pairs and auth:
                _yield_to_credentials(headers, header_pairs, auth, tool.name)
            response, body, truncated, redactor, attempts = self._attempts(
                conn, method, path, data, headers, auth, redactor, cancel, deadline, trace
            )
        except UpstreamError as exc:
            (breaker.released if exc.kind == "egress" else breaker.failed)()  # a refusal of ours says nothing
            raise
        except BaseException:
            breaker.released()  # cancelled, a secret missing: nothing learnt about the upstream
            raise
        (breaker.failed if response.status in RETRY_STATUSES else breaker.succeeded)()

        status = response.status
        # Any status, any content type: an upstream that echoes the request (debug pages,
        # "whoami", some 401s) must not hand our credentials to the client. to_call_result
        # redacts every piece of upstream text (body, reason, Location) after decoding it.
        upstream = UpstreamResponse(
            status=status,
            reason=reason_phrase(status, response.reason),
            content_type=response.headers.get("Content-Type"),
            body=body,
            truncated=truncated,
            limit=self._max_bytes,
            location=response.headers.get("Location"),
            redactor=redactor,
            shaping=tool.shaping,
            redact=dlp.enabled(self._redaction, conn.redaction),
        )
        result, problem = call_result(upstream, protocol_version)
        logger.debug("%s %s on %s -> %s", method, tool.name, conn.name, status)
        return Outcome(
            result=result,
            status="failure" if result["isError"] else "success",
            http_status=status,
            error=problem,
            attempts=attempts,
            redactions=redactions(result) if "_meta" in result else None,
        )

    def _attempts(
        self,
        conn: ConnectionSpec,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        auth: dict[str, str],
        redactor: Redactor,
        cancel: Signal | None,
        deadline: float,
        trace: CallTrace | None,
    ) -> tuple[urllib3.BaseHTTPResponse, bytes, bool, Redactor, int]:
        """The request, sent again as janus/gateway/retries.py allows: the last answer and how many were sent."""
        retries = conn.retries if method in IDEMPOTENT else 0
        attempt = 1
        while True:
            try:
                response, body, truncated, auth, redactor = self._attempt(
                    conn, method, path, data, headers, auth, redactor, cancel, deadline, trace
                )
            except UpstreamError as exc:
                exc.attempts = attempt
                if (
                    attempt > retries
                    or exc.kind not in RETRY_KINDS
                    or not self._pause(conn, method, attempt, None, deadline, cancel)
                ):
                    raise
            else:
                status = response.status
                if attempt > retries or not (status in RETRY_STATUSES or status == TOO_MANY_REQUESTS):
                    return response, body, truncated, redactor, attempt
                wait = retry_after(response.headers.get("Retry-After"))
                if (status == TOO_MANY_REQUESTS and wait is None) or not self._pause(
                    conn, method, attempt, wait, deadline, cancel
                ):
                    return response, body, truncated, redactor, attempt
            attempt += 1

    def _pause(
        self,
        conn: ConnectionSpec,
        method: str,
        attempt: int,
        wait: float | None,
        deadline: float,
        cancel: Signal | None,
    ) -> bool:
        """Wait before retry number `attempt`: False (no retry) when the wait would not leave the retry any
        time before the deadline. Raises CallCancelled when the client cancels during the wait."""
        delay = backoff(attempt) if wait is None else wait
        if time.monotonic() + delay + MIN_ATTEMPT_SECONDS > deadline:
            return False
        logger.info("retrying %s to upstream %r in %.3fs (attempt %d)", method, conn.name, delay, attempt + 1)
        end = time.monotonic() + delay
        while True:  # in slices, so that a cancellation ends the wait promptly
            if cancel is not None and cancel.is_set():
                raise CallCancelled()
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, PAUSE_SLICE))

    def _attempt(
        self,
        conn: ConnectionSpec,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        auth: dict[str, str],
        redactor: Redactor,
        cancel: Signal | None,
        deadline: float,
        trace: CallTrace | None,
    ) -> tuple[urllib3.BaseHTTPResponse, bytes, bool, dict[str, str], Redactor]:
        """One attempt: one upstream span (when traced), and a second request if a fresh OAuth token is needed."""
        with upstream_request(trace, conn.name, method, headers) as upstream:  # sets traceparent in headers
            response, body, truncated = self._send_cancellable(
                conn, method, path, data, {**headers, **auth}, cancel, deadline
            )
            if response.status == 401 and conn.auth_type == OAUTH2_CLIENT_CREDENTIALS:
                # Revoked or expired before its expires_in: one new token, one retry. The upstream
                # refused the credentials, so it did not act on the request and repeating it is safe.
                logger.info("upstream %r refused the OAuth token; retrying once with a new one", conn.name)
                self._tokens.invalidate(conn, auth["Authorization"].removeprefix("Bearer "))
                auth, redactor = self._authenticate(conn, True)
                response, body, truncated = self._send_cancellable(
                    conn, method, path, data, {**headers, **auth}, cancel, deadline
                )
            upstream.answered(response.status)
        return response, body, truncated, auth, redactor

    def probe(self, conn: ConnectionSpec, *, credentials: bool = True, excerpt_bytes: int = 2048) -> Probe:
        """GET the connection's base URL as a tool call would: same pool, TLS and proxy.

        With credentials (the portal's "test connection") it proves the network path and the secret
        at once; without (the dashboard's health table, mcp-cli verify) it reads no secret. Any answer
        below 500 is OK, as in the reference: a 401 or 404 on a bare base URL still proves the path.
        Never raises for the upstream's sake; the excerpt has the injected credentials redacted.
        """
        started = time.perf_counter()
        try:
            auth, redactor = self._authenticate(conn, credentials)
            deadline = time.monotonic() + conn.timeout_seconds
            response, body, truncated = self._send(conn, "GET", "", None, {**self._base_headers, **auth}, deadline)
        except (UpstreamError, SecretError) as exc:  # both carry a message fit for an admin
            return Probe(
                ok=False,
                http_status=None,
                reason="",
                content_type=None,
                excerpt="",
                rtt_ms=_ms_since(started),
                error=str(exc),
                kind=exc.kind if isinstance(exc, UpstreamError) else "secret",
            )
        answer = UpstreamResponse(
            status=response.status,
            reason=reason_phrase(response.status, response.reason),
            content_type=response.headers.get("Content-Type"),
            body=body,
            truncated=truncated,
            limit=self._max_bytes,
            redactor=redactor,
        )
        # Decoded by its charset, redacted, then cut: never the first half of a credential.
        text, cut = excerpt(answer, excerpt_bytes) if excerpt_bytes > 0 else ("", bool(body))
        if text is None:
            text = f"<{len(body)} bytes of {redactor.text(answer.content_type or '') or 'binary data'}>"
        return Probe(
            ok=response.status < 500,
            http_status=response.status,
            reason=redactor.text(answer.reason),
            content_type=redactor.text(answer.content_type or "") or None,
            excerpt=text,
            rtt_ms=_ms_since(started),
            error=None,
            truncated=truncated or cut,
        )

    def _authenticate(self, conn: ConnectionSpec, credentials: bool) -> tuple[dict[str, str], Redactor]:
        if not credentials or conn.auth_type == "none":
            return {}, NOTHING
        return authenticate(conn, self._get_secret, self._tokens)

    def _send_cancellable(
        self,
        conn: ConnectionSpec,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        cancel: Signal | None,
        deadline: float,
    ) -> tuple[urllib3.BaseHTTPResponse, bytes, bool]:
        if cancel is None:
            return self._send(conn, method, path, data, headers, deadline)
        with cancellable(cancel):
            try:
                answer = self._send(conn, method, path, data, headers, deadline)
            except UpstreamError:
                if cancel.is_set():
                    # The failure is our own doing (the socket was shut down), not the upstream's.
                    logger.info("%s to upstream %r cancelled by the client", method, conn.name)
                    raise CallCancelled() from None
                raise
            if cancel.is_set():
                raise CallCancelled()  # after the last byte arrived: the client no longer wants the answer
            return answer

    def _send(
        self,
        conn: ConnectionSpec,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        deadline: float,
    ) -> tuple[urllib3.BaseHTTPResponse, bytes, bool]:
        """One request, over by `deadline` (monotonic): the response, its body (capped) and whether it was cut."""
        connect_timeout = min(conn.timeout_seconds, CONNECT_TIMEOUT_CAP)
        response = self._request(conn, method, path, data, headers, deadline, connect_timeout)
        try:
            body, truncated = self._read_capped(conn, method, response, deadline, connect_timeout)
        except BaseException:
            unbind_socket()
            _discard(response)  # the rest of its body may still be on its way: the next request must not read it
            raise
        # Unbound before the connection returns to the pool, so a late cancellation cannot cut a socket
        # another call has taken; one the cancellation did cut is closed, never reused.
        if unbind_socket() or truncated:
            _discard(response)  # cut short: unread bytes would poison the next request on this socket
        else:
            response.release_conn()
        return response, body, truncated

    def _request(
        self,
        conn: ConnectionSpec,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict[str, str],
        deadline: float,
        connect_timeout: float,
    ) -> urllib3.BaseHTTPResponse:
        """Send the request and read the status line and headers, all by the deadline."""
        if time.monotonic() >= deadline:  # a retry after a slow first attempt: nothing is sent
            raise self._failed(conn, method, DeadlinePassed(), connect_timeout)
        token = deadline_set(deadline)  # read by the response as it starts (bounded_response.py)
        try:
            target = self._target(conn)
            return target.pool.urlopen(
                method,
                target.url(_join("", path)),
                body=data,
                headers=headers,
                timeout=_timeout(connect_timeout, conn.timeout_seconds),
                redirect=False,  # a redirect could carry our credentials to another host
                retries=False,  # raise the real error; a tool call is not ours to repeat
                preload_content=False,  # the body is read below under a size cap
                decode_content=True,
                assert_same_host=False,
            )
        except Exception as exc:  # noqa: BLE001 - urllib3's own hierarchy, turned into an UpstreamError
            unbind_socket()  # urllib3 closed that connection; it never goes back to the pool
            # from None: urllib3's messages quote the full URL with its query.
            raise self._failed(conn, method, exc, connect_timeout) from None
        finally:
            deadline_reset(token)

    def _read_capped(
        self,
        conn: ConnectionSpec,
        method: str,
        response: urllib3.BaseHTTPResponse,
        deadline: float,
        connect_timeout: float,
    ) -> tuple[bytes, bool]:
        """At most max_response_bytes + READ_MARGIN (+ one chunk) in memory, within the deadline.

        The margin past the cap lets redaction see a credential that straddles it whole;
        content.py cuts to max_response_bytes after redacting.

        Each socket read ends by the deadline (bounded_response.py); the check between chunks
        also catches a body that keeps arriving, so the call ends as soon as its time is up.
        read1 returns whatever has arrived; with decode_content it also caps gzip output per read.
        """
        read = getattr(response, "read1", response.read)
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = read(READ_CHUNK, decode_content=True)
            except Exception as exc:  # noqa: BLE001 - urllib3's own hierarchy
                raise self._failed(conn, method, exc, connect_timeout) from None
            if not chunk:
                return b"".join(chunks), size > self._max_bytes
            chunks.append(chunk)
            size += len(chunk)
            if size > self._max_bytes + READ_MARGIN:
                return b"".join(chunks), True
            if time.monotonic() > deadline:
                logger.warning(
                    "upstream %r exceeded its %gs budget while sending the body", conn.name, conn.timeout_seconds
                )
                raise UpstreamError(
                    f"Upstream '{conn.name}' timed out after {conn.timeout_seconds:g}s",
                    connection=conn.name,
                    kind="timeout",
                )

    @staticmethod
    def _failed(conn: ConnectionSpec, method: str, exc: BaseException, connect_timeout: float) -> UpstreamError:
        error = _classify(conn, exc, connect_timeout)
        if cancelled_here():
            logger.debug("%s to upstream %r ended by the client's cancellation: %s", method, conn.name, error)
        else:
            logger.warning("%s to upstream %r failed: %s", method, conn.name, error)
        return error


def _yield_to_credentials(
    headers: dict[str, str], header_pairs: tuple[tuple[str, str], ...], auth: Mapping[str, str], tool: str
) -> None:
    """The connection's auth headers win over header parameters, in any letter case: a caller never replaces
    a credential, and no header goes out twice. (Saving refuses such names; this holds when the connection's
    custom headers changed since.)"""
    taken = {name.casefold() for name in auth}
    for name, _ in header_pairs:
        if name.casefold() in taken and name in headers and name not in auth:
            del headers[name]
            logger.warning("tool %s: header parameter %r is not sent: the connection's credentials set it", tool, name)


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close the response's connection, then hand the (closed) connection object back: the pool keeps its
    slot and opens a new socket for the next request, never one with another response's bytes on it."""
    response.close()
    response.release_conn()
