"""OAuth 2.0 client credentials (RFC 6749 §4.4): a connection's secret → a cached access token.

The connection's secret is a JSON object::

    {"token_url": "https://auth.example.com/oauth/token", "client_id": "…", "client_secret": "…",
     "scope": "read write", "audience": "https://api.example.com",
     "token_endpoint_auth_method": "client_secret_basic"}

scope (a string, or a list joined with spaces), audience and
token_endpoint_auth_method are optional; client authentication defaults to
HTTP Basic (client_secret_basic, RFC 6749 §2.3.1: id and secret are
percent-encoded, then base64), client_secret_post puts them in the form.

Tokens are cached per connection and secret fingerprint (a hash of the whole
secret, so a rotated client secret or token URL gets a new token), renewed
REFRESH_MARGIN before expires_in runs out (at most 60 s, at most 10 % of the
lifetime), kept DEFAULT_LIFETIME when the server gives no expires_in. Calls
that find no usable token queue on one lock per connection, so one token
request serves them all; when it fails, the callers that were waiting for it
get its error instead of each asking again.

Every failure is a SecretError naming the connection, its secret reference
and the token endpoint's host, never the client secret or a token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3
from urllib3 import exceptions as u3

from janus.gateway.egress import EgressPolicy, EgressRefused
from janus.gateway.errors import exception_chain
from janus.gateway.outbound import proxy_for, tls_options
from janus.gateway.redaction import redactor_for
from janus.gateway.specs import ConnectionSpec
from janus.gateway.upstream_auth import _HEADER_VALUE, SecretError, _where

logger = logging.getLogger(__name__)

AUTH_METHODS = ("client_secret_basic", "client_secret_post")
FIELDS = frozenset({"token_url", "client_id", "client_secret", "scope", "audience", "token_endpoint_auth_method"})
CONNECT_TIMEOUT = 5.0  # token endpoints are small and close; a slow one should fail the call fast
READ_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 65_536  # a token response is a few hundred bytes
DEFAULT_LIFETIME = 300.0  # no expires_in: reuse the token for 5 minutes, then ask again
REFRESH_MARGIN = 60.0  # renew this long before expiry …
REFRESH_FRACTION = 0.1  # … or this share of the lifetime, whichever is shorter
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})  # plain http allowed only here (tests, sidecars)

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")  # RFC 6749 §5.2 error codes are short ASCII
_FIELD_NAME = re.compile(r"[A-Za-z_]{1,40}")


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    audience: str | None = None
    auth_method: str = "client_secret_basic"

    @property
    def host(self) -> str:
        return urlsplit(self.token_url).hostname or "?"

    def __repr__(self) -> str:  # the client secret stays out of tracebacks and debuggers' reprs
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r}, client_secret=***)"


def parse_credentials(conn: ConnectionSpec, secret: str) -> ClientCredentials:
    """The secret's JSON, validated; SecretError names the problem, never a value."""

    def bad(problem: str) -> SecretError:
        return SecretError(f"Secret for {_where(conn)} {problem}")

    try:
        parsed = json.loads(secret)
    except ValueError:
        # from None: the decode error's context holds the secret text.
        raise bad("must be a JSON object with token_url, client_id and client_secret; it is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise bad(f"must be a JSON object with token_url, client_id and client_secret, not {type(parsed).__name__}")
    unknown = sorted(k for k in parsed if k not in FIELDS)
    if unknown:
        named = ", ".join(f"'{k}'" if _FIELD_NAME.fullmatch(k) else "(unprintable)" for k in unknown)
        raise bad(f"has unknown fields {named}; expected {', '.join(sorted(FIELDS))}")
    for name in ("token_url", "client_id", "client_secret"):
        if not isinstance(parsed.get(name), str) or not parsed[name].strip():
            raise bad(f"needs '{name}' as a non-empty string")
    token_url = parsed["token_url"].strip()
    try:
        parts = urlsplit(token_url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        # from None: urllib.parse quotes the offending text, which may be a pasted password.
        raise bad("needs 'token_url' as an absolute https URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise bad("needs 'token_url' as an absolute https URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise bad(f"has an http 'token_url' for host '{parts.hostname}'; the client secret travels only over https")
    if parts.username is not None or parts.password is not None:
        raise bad("has credentials inside 'token_url'; put them in client_id and client_secret")
    scope = parsed.get("scope")
    if isinstance(scope, list) and all(isinstance(s, str) for s in scope):
        scope = " ".join(s.strip() for s in scope if s.strip())
    if scope is not None and not isinstance(scope, str):
        raise bad("needs 'scope' as a string or a list of strings")
    audience = parsed.get("audience")
    if audience is not None and not isinstance(audience, str):
        raise bad("needs 'audience' as a string")
    method = parsed.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise bad(f"has an unsupported 'token_endpoint_auth_method'; expected one of {', '.join(AUTH_METHODS)}")
    return ClientCredentials(
        token_url, parsed["client_id"], parsed["client_secret"], scope or None, audience or None, method
    )


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def refresh_after(lifetime: float | None) -> float:
    """Seconds a freshly issued token is used before a new one is requested."""
    if lifetime is None:
        return DEFAULT_LIFETIME
    return max(0.0, lifetime - min(REFRESH_MARGIN, lifetime * REFRESH_FRACTION))


def _lifetime(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())  # some servers send "3600"
        except ValueError:
            return None
    if isinstance(value, (int, float)) and value == value and value != float("inf"):
        return max(0.0, float(value))
    return None


def _network_problem(exc: BaseException) -> str:
    chain = list(exception_chain(exc))

    def found(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    refused = next((e for e in chain if isinstance(e, EgressRefused)), None)
    if refused is not None:
        return f"refused by the egress policy: {refused}"
    if found(ConnectionRefusedError):
        return "connection refused"
    if found(socket.gaierror, u3.NameResolutionError):
        return "DNS lookup failed"
    if found(ssl.SSLError, u3.SSLError):
        return "TLS error"
    if found(u3.ConnectTimeoutError):
        return f"timed out connecting after {CONNECT_TIMEOUT:g}s"
    if found(u3.ReadTimeoutError, TimeoutError):
        return f"timed out after {READ_TIMEOUT:g}s"
    if found(ConnectionResetError, u3.ProtocolError):
        return "connection closed mid-response"
    return type(exc).__name__


@dataclass(frozen=True)
class _Token:
    fingerprint: str
    value: str
    renew_at: float


class _State:
    """Per connection: the lock token requests queue on, and the last failure."""

    __slots__ = ("lock", "attempts", "failure", "failure_fingerprint", "queued")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts = 0
        self.queued = 0  # calls waiting for the lock (observability, tests)
        self.failure: str | None = None
        self.failure_fingerprint: str | None = None


class TokenClient:
    """Obtains, caches and renews client-credentials tokens; one per executor."""

    def __init__(
        self,
        *,
        user_agent: str = "Janus",
        clock: Callable[[], float] = time.monotonic,
        egress: EgressPolicy | None = None,
    ) -> None:
        self._user_agent = user_agent
        # The token URL comes from the vault, not from registration: it gets the same guard at connect time.
        self._egress = egress if egress is not None else EgressPolicy()
        self._clock = clock
        self._tokens: dict[str, _Token] = {}  # connection id -> its current token
        self._states: dict[str, _State] = {}
        self._managers: dict[str, urllib3.PoolManager] = {}  # proxy URL ("" = direct) -> pools
        self._lock = threading.Lock()

    def access_token(self, conn: ConnectionSpec, secret: str) -> str:
        fingerprint = _fingerprint(secret)
        token = self._tokens.get(conn.id)  # lock-free hit: the common case
        if token is not None and token.fingerprint == fingerprint and self._clock() < token.renew_at:
            return token.value
        creds = parse_credentials(conn, secret)
        with self._lock:
            state = self._states.setdefault(conn.id, _State())
            seen = state.attempts
            state.queued += 1
        try:
            state.lock.acquire()
        finally:
            with self._lock:
                state.queued -= 1
        try:
            return self._locked_token(conn, creds, fingerprint, state, seen)
        finally:
            state.lock.release()

    def _locked_token(
        self, conn: ConnectionSpec, creds: ClientCredentials, fingerprint: str, state: _State, seen: int
    ) -> str:
        token = self._tokens.get(conn.id)
        if token is not None and token.fingerprint == fingerprint and self._clock() < token.renew_at:
            return token.value  # fetched while this call waited
        if state.attempts != seen and state.failure is not None and state.failure_fingerprint == fingerprint:
            raise SecretError(state.failure)  # the request this call waited for failed
        started = self._clock()
        try:
            value, lifetime = self._request(conn, creds)
        except SecretError as exc:
            state.failure, state.failure_fingerprint = str(exc), fingerprint
            with self._lock:
                self._tokens.pop(conn.id, None)
            raise
        finally:
            state.attempts += 1  # counted when done: callers queued during this request share its outcome
        state.failure = state.failure_fingerprint = None
        with self._lock:
            self._tokens[conn.id] = _Token(fingerprint, value, started + refresh_after(lifetime))
        logger.debug(
            "obtained a token for connection %r from %s (expires_in %s)",
            conn.name,
            creds.host,
            "unset" if lifetime is None else f"{lifetime:g}s",
        )
        return value

    def invalidate(self, conn: ConnectionSpec, rejected: str) -> None:
        """The upstream refused this token: the next call requests a new one.

        Only if it is still the current token, so a burst of 401s for one
        expired token causes one new request, not one each.
        """
        with self._lock:
            token = self._tokens.get(conn.id)
            if token is not None and token.value == rejected:
                del self._tokens[conn.id]

    def forget(self, connection_id: str) -> None:
        with self._lock:
            self._tokens.pop(connection_id, None)

    def close(self) -> None:
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
            self._tokens.clear()
        for manager in managers:
            manager.clear()

    # -- the token request ------------------------------------------------------

    def _manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        proxy = proxy_for(parts.scheme, parts.hostname)
        key = proxy or ""
        manager = self._managers.get(key)
        if manager is None:
            with self._lock:
                manager = self._managers.get(key)
                if manager is None:
                    tls = tls_options()  # a PoolManager applies it to its HTTPS pools only
                    manager = (
                        urllib3.ProxyManager(proxy, num_pools=8, **tls)
                        if proxy
                        else urllib3.PoolManager(num_pools=8, **tls)
                    )
                    if not proxy:
                        manager.pool_classes_by_scheme = self._egress.pool_classes
                    self._managers[key] = manager
        return manager

    def _request(self, conn: ConnectionSpec, creds: ClientCredentials) -> tuple[str, float | None]:
        where = f"{_where(conn)} at '{creds.host}'"
        fields = {"grant_type": "client_credentials"}
        if creds.scope:
            fields["scope"] = creds.scope
        if creds.audience:
            fields["audience"] = creds.audience
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }
        if creds.auth_method == "client_secret_basic":
            pair = f"{quote(creds.client_id, safe='')}:{quote(creds.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
        else:
            fields.update(client_id=creds.client_id, client_secret=creds.client_secret)
        timeout = min(conn.timeout_seconds, READ_TIMEOUT)
        try:
            manager = self._manager(creds.token_url)
            if isinstance(manager, urllib3.ProxyManager):
                self._egress.check_proxied(creds.host)  # the proxy resolves the name: judge it here
            response = manager.urlopen(
                "POST",
                creds.token_url,
                body=urlencode(fields).encode("ascii"),
                headers=headers,
                timeout=urllib3.Timeout(connect=min(timeout, CONNECT_TIMEOUT), read=timeout),
                redirect=False,
                retries=False,
                preload_content=False,
            )
        except Exception as exc:  # noqa: BLE001 - any network failure becomes a token error
            # from None: urllib3's messages and the chained frames must not reach logs with the request.
            raise self._failed(f"Token request for {where} failed: {_network_problem(exc)}") from None
        try:
            try:
                body = response.read(MAX_RESPONSE_BYTES + 1, decode_content=True)
            except Exception as exc:  # noqa: BLE001 - any network failure becomes a token error
                raise self._failed(f"Token request for {where} failed: {_network_problem(exc)}") from None
            if len(body) > MAX_RESPONSE_BYTES:
                response.close()  # unread bytes would poison the next request on this socket
                raise self._failed(f"Token endpoint for {where} sent more than {MAX_RESPONSE_BYTES} bytes")
            response.drain_conn()
        finally:
            response.release_conn()
        # The error code and token type are quoted in messages: never if they echo the client credentials.
        echoed = redactor_for((creds.client_secret, headers.get("Authorization", ""))).found_in
        return self._token_from(where, response.status, body, echoed)

    def _token_from(
        self, where: str, status: int, body: bytes, echoed: Callable[[str], bool] = lambda text: False
    ) -> tuple[str, float | None]:
        try:
            parsed = json.loads(body.decode("utf-8"))
        except ValueError:
            parsed = None
        if status != 200:
            code = parsed.get("error") if isinstance(parsed, dict) else None
            detail = f" ({code})" if isinstance(code, str) and _ERROR_CODE.fullmatch(code) and not echoed(code) else ""
            raise self._failed(f"Token endpoint for {where} answered HTTP {status}{detail}")
        if not isinstance(parsed, dict):
            raise self._failed(f"Token endpoint for {where} did not answer with a JSON object")
        token = parsed.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise self._failed(f"Token endpoint for {where} answered without an access_token")
        token_type = parsed.get("token_type")
        if isinstance(token_type, str) and token_type.strip().lower() != "bearer":
            kind = token_type if _ERROR_CODE.fullmatch(token_type) and not echoed(token_type) else "(unprintable)"
            raise self._failed(f"Token endpoint for {where} issued a '{kind}' token; only Bearer tokens can be sent")
        token = token.strip()
        if not _HEADER_VALUE.fullmatch(token):
            raise self._failed(f"Token endpoint for {where} issued an access_token that cannot be sent in a header")
        return token, _lifetime(parsed.get("expires_in"))

    @staticmethod
    def _failed(message: str) -> SecretError:
        logger.warning("%s", message)
        return SecretError(message)
