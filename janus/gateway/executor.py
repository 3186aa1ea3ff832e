"""Tool call → one upstream HTTP request → MCP CallToolResult.

The per-call path stays lean: templates are parsed once (templating caches
them), sessions are built once per connection and reused, and nothing here
compiles regexes or schemas per call.
"""
from __future__ import annotations

import http.cookiejar
import json
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from janus.gateway.content import UpstreamResponse, reason_phrase, to_call_result
from janus.gateway.errors import UpstreamError
from janus.gateway.specs import ConnectionSpec, ToolSpec
from janus.gateway.templating import ArgumentError, render_body, render_path
from janus.gateway.upstream_auth import auth_headers

logger = logging.getLogger(__name__)

ACCEPT = "application/json, */*;q=0.5"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CONNECT_TIMEOUT_CAP = 10.0  # a host that has not answered SYN in 10 s will not
POOL_MAXSIZE = 32  # concurrent calls per connection before urllib3 opens throwaway sockets
READ_CHUNK = 65536


@dataclass
class Outcome:
    result: dict[str, Any]
    status: str  # "success" | "failure"
    http_status: int | None
    error: str | None  # short, for the audit log: never a body or a secret


def _scalar_query_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # JSON spelling: true/false, 3, 2.5, {"a":1}, so upstreams see what the client sent.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _query_pairs(arguments: Mapping[str, Any], used: frozenset[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in arguments.items():
        if name in used or value is None:
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


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """exc and everything it wraps: requests and urllib3 nest the socket error
    in __cause__, __context__, .reason or args."""
    stack: list[Any] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend((current.__cause__, current.__context__, getattr(current, "reason", None)))
        stack.extend(current.args)


def _classify(conn: ConnectionSpec, exc: BaseException, connect_timeout: float) -> UpstreamError:
    chain = list(_causes(exc))
    name = conn.name

    def error(message: str, kind: str) -> UpstreamError:
        return UpstreamError(message, connection=name, kind=kind)

    def found(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    if found(requests.exceptions.ConnectTimeout):
        return error(f"Upstream '{name}' timed out connecting after {connect_timeout:g}s", "timeout")
    if found(requests.exceptions.ReadTimeout, TimeoutError):
        return error(f"Upstream '{name}' timed out after {conn.timeout_seconds:g}s", "timeout")
    tls = found(ssl.SSLError)
    if tls is not None or found(requests.exceptions.SSLError):
        detail = getattr(tls, "reason", None) or "handshake failed"
        return error(f"Upstream '{name}' is unreachable: TLS error ({detail})", "tls")
    if found(ConnectionRefusedError):
        return error(f"Upstream '{name}' is unreachable: connection refused", "refused")
    if found(socket.gaierror):
        host = urlsplit(conn.base_url).hostname or "?"
        return error(f"Upstream '{name}' is unreachable: DNS lookup failed for host '{host}'", "dns")
    if found(requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
             requests.exceptions.InvalidSchema):
        return error(f"Upstream '{name}' has an invalid base URL", "unreachable")
    if found(ConnectionResetError, requests.exceptions.ChunkedEncodingError):
        return error(f"Upstream '{name}' closed the connection mid-response", "protocol")
    if any(type(e).__name__ == "DecodeError" for e in chain):
        return error(f"Upstream '{name}' sent a body that could not be decoded", "protocol")
    return error(f"Upstream '{name}' is unreachable: {type(exc).__name__}", "unreachable")


class Executor:
    """Runs tool calls against upstreams, one pooled session per connection."""

    def __init__(
        self,
        *,
        get_secret: Callable[[str], str] | None = None,
        max_response_bytes: int = 1_048_576,
        user_agent: str = "Janus",
    ) -> None:
        self._get_secret = get_secret
        self._max_bytes = max_response_bytes
        self._user_agent = user_agent
        self._sessions: dict[tuple[str, str], requests.Session] = {}
        self._lock = threading.Lock()

    # -- sessions ----------------------------------------------------------

    def _new_session(self, base_url: str) -> requests.Session:
        session = requests.Session()
        # trust_env would re-read proxy variables and ~/.netrc on every call;
        # netrc could even attach credentials nobody configured. Read the
        # environment once here instead.
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(base_url)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        # One session serves every MCP caller of this connection: a cookie one
        # caller's upstream sets must never ride along on another's call.
        session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        session.headers.clear()
        session.headers.update(
            {"User-Agent": self._user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        )
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_MAXSIZE, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _session(self, conn: ConnectionSpec) -> requests.Session:
        key = (conn.id, conn.base_url)
        session = self._sessions.get(key)  # lock-free hit: the common case
        if session is not None:
            return session
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                # A changed base URL leaves the old session unused; close it now.
                for stale in [k for k in self._sessions if k[0] == conn.id]:
                    self._sessions.pop(stale).close()
                session = self._new_session(conn.base_url)
                self._sessions[key] = session
        return session

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()

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
    ) -> Outcome:
        """Call the upstream for this tool.

        Raises ArgumentError (bad arguments), SecretError (credentials) and
        UpstreamError (unreachable, timeout, TLS); any HTTP status is an Outcome.
        """
        conn = tool.connection
        method = tool.method.upper()
        path, used = render_path(tool.path_template, arguments)
        headers: dict[str, str] = {}
        params: list[tuple[str, str]] | None = None
        data: bytes | None = None
        if method in BODY_METHODS:
            if tool.body_template:
                # The admin chose the body's shape; other arguments are dropped.
                body, _ = render_body(tool.body_template, arguments)
                data = _json_bytes(body)
            else:
                rest = {k: v for k, v in arguments.items() if k not in used}
                data = _json_bytes(rest) if rest else None
            if data is not None:
                headers["Content-Type"] = "application/json"
        else:
            params = _query_pairs(arguments, used) or None
        if conn.auth_type != "none":
            headers.update(auth_headers(conn, self._get_secret))

        timeout = conn.timeout_seconds
        connect_timeout = min(timeout, CONNECT_TIMEOUT_CAP)
        session = self._session(conn)
        deadline = time.monotonic() + timeout
        try:
            response = session.request(
                method,
                _join(conn.base_url, path),
                params=params,
                data=data,
                headers=headers,
                timeout=(connect_timeout, timeout),
                allow_redirects=False,  # a redirect could carry our credentials to another host
                stream=True,  # the body is read below under a size cap
            )
        except requests.RequestException as exc:
            # from None: requests' messages quote the full URL with its query.
            raise self._failed(conn, method, exc, connect_timeout) from None
        try:
            body, truncated = self._read_capped(conn, method, response, deadline, connect_timeout)
        finally:
            # Fully read: the connection goes back to the pool. Cut short: it
            # is closed, since unread bytes would poison the next request.
            response.close()

        status = response.status_code
        upstream = UpstreamResponse(
            status=status,
            reason=reason_phrase(status, response.reason),
            content_type=response.headers.get("Content-Type"),
            body=body,
            truncated=truncated,
            limit=self._max_bytes,
            location=response.headers.get("Location"),
        )
        result = to_call_result(upstream, protocol_version)
        ok = 200 <= status < 300
        logger.debug("%s %s on %s -> %s", method, tool.name, conn.name, status)
        return Outcome(
            result=result,
            status="success" if ok else "failure",
            http_status=status,
            error=None if ok else f"HTTP {status}",
        )

    def _read_capped(
        self,
        conn: ConnectionSpec,
        method: str,
        response: requests.Response,
        deadline: float,
        connect_timeout: float,
    ) -> tuple[bytes, bool]:
        """At most max_response_bytes (+ one chunk) in memory, within the deadline.

        read1 returns whatever has arrived, so a server dripping a byte at a
        time still meets the overall deadline instead of resetting the per-read
        timeout forever; with decode_content it also caps gzip output per read.
        """
        raw = response.raw
        read = getattr(raw, "read1", raw.read)
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = read(READ_CHUNK, decode_content=True)
            except Exception as exc:  # urllib3's own hierarchy; requests wraps it only in iter_content
                raise self._failed(conn, method, exc, connect_timeout) from None
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
            size += len(chunk)
            if size > self._max_bytes:
                return b"".join(chunks)[: self._max_bytes], True
            if time.monotonic() > deadline:
                logger.warning("upstream %r exceeded its %gs budget while sending the body",
                               conn.name, conn.timeout_seconds)
                raise UpstreamError(
                    f"Upstream '{conn.name}' timed out after {conn.timeout_seconds:g}s",
                    connection=conn.name,
                    kind="timeout",
                )

    @staticmethod
    def _failed(
        conn: ConnectionSpec, method: str, exc: BaseException, connect_timeout: float
    ) -> UpstreamError:
        error = _classify(conn, exc, connect_timeout)
        logger.warning("%s to upstream %r failed: %s", method, conn.name, error)
        return error
