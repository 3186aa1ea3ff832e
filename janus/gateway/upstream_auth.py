"""Credentials for the upstream: a connection's secret → request headers.

Every failure raises SecretError whose message names the connection and the
secret reference, never the secret value: these messages reach logs, the
audit trail and sometimes the MCP client. Values are validated here, before
they reach requests, because requests' own header errors quote the value.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Protocol

from janus.gateway.redaction import Redactor, oauth_client_secret, redactor_for
from janus.gateway.specs import ConnectionSpec

logger = logging.getLogger(__name__)

# RFC 9110 token characters: anything else in a name could split the header.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Visible latin-1 plus space and tab; CR, LF, NUL and other controls would
# let a value start a new header, and http.client can only send latin-1.
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# Framing headers belong to the HTTP client; a secret that set them could
# desynchronise the pooled connection shared with other callers.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials"


class SecretError(Exception):
    """The connection's credentials are missing, unreadable or malformed."""


class TokenSource(Protocol):
    """Turns a connection's secret into an access token (janus.gateway.oauth.TokenClient)."""

    def access_token(self, conn: ConnectionSpec, secret: str) -> str: ...


def _where(conn: ConnectionSpec) -> str:
    return f"connection '{conn.name}' (secret '{conn.auth_secret_ref}')"


def _checked_value(conn: ConnectionSpec, header: str, value: str) -> str:
    if not _HEADER_VALUE.fullmatch(value) or value[:1] in (" ", "\t"):
        raise SecretError(
            f"Secret for {_where(conn)} cannot be sent in header '{header}': "
            "it contains control characters, line breaks, leading whitespace "
            "or characters outside latin-1"
        )
    return value


def _bearer(conn: ConnectionSpec, secret: str) -> dict[str, str]:
    token = secret.strip()
    if not token:
        raise SecretError(f"Secret for {_where(conn)} is empty")
    # Admins often paste the whole header value; accept it rather than send "Bearer Bearer …".
    value = token if token[:7].lower() == "bearer " else f"Bearer {token}"
    return {"Authorization": _checked_value(conn, "Authorization", value)}


def _basic(conn: ConnectionSpec, secret: str) -> dict[str, str]:
    # Strip only the line break a file-based secret usually ends with; spaces may be the password.
    pair = secret.rstrip("\r\n")
    if ":" not in pair:
        raise SecretError(f"Secret for {_where(conn)} must have the form 'user:password'")
    encoded = base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return {"Authorization": f"Basic {encoded}"}


def _custom_headers(conn: ConnectionSpec, secret: str) -> dict[str, str]:
    try:
        parsed = json.loads(secret)
    except ValueError:
        # from None: the decode error's context holds the secret text.
        raise SecretError(
            f"Secret for {_where(conn)} must be a JSON object of header names to values; it is not valid JSON"
        ) from None
    if not isinstance(parsed, dict):
        raise SecretError(
            f"Secret for {_where(conn)} must be a JSON object of header names to values, not {type(parsed).__name__}"
        )
    headers: dict[str, str] = {}
    for name, value in parsed.items():
        if not _HEADER_NAME.fullmatch(name):
            raise SecretError(
                f"Secret for {_where(conn)} has an invalid header name (only RFC 9110 token characters are allowed)"
            )
        if name.lower() in _RESERVED_HEADERS:
            raise SecretError(f"Secret for {_where(conn)} may not set the header '{name}'")
        if not isinstance(value, str):
            raise SecretError(f"Secret for {_where(conn)}: the value of header '{name}' must be a string")
        headers[name] = _checked_value(conn, name, value)
    return headers


def _oauth_bearer(tokens: TokenSource, conn: ConnectionSpec, secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.access_token(conn, secret)}"}


_BUILDERS: dict[str, Callable[[ConnectionSpec, str], dict[str, str]]] = {
    "bearer": _bearer,
    "basic": _basic,
    "custom_headers": _custom_headers,
}


def auth_headers(
    conn: ConnectionSpec,
    get_secret: Callable[[str], str] | None,
    tokens: TokenSource | None = None,
) -> dict[str, str]:
    """The headers that authenticate a request to this connection's upstream."""
    return authenticate(conn, get_secret, tokens)[0]


def authenticate(
    conn: ConnectionSpec,
    get_secret: Callable[[str], str] | None,
    tokens: TokenSource | None = None,
) -> tuple[dict[str, str], Redactor]:
    """The headers that authenticate a request to this connection's upstream, and the
    Redactor for everything secret in them (cached per value: no per-call compiling).

    For oauth2_client_credentials the secret holds the client credentials and
    `tokens` exchanges them for the access token that is sent as a Bearer token;
    the client secret is redacted too, in case the upstream is also the token server.
    """
    if conn.auth_type == "none":
        return {}, redactor_for(())
    if conn.auth_type == OAUTH2_CLIENT_CREDENTIALS:
        if tokens is None:
            raise SecretError(f"No OAuth token client is configured for connection '{conn.name}'")
        builder: Callable[[ConnectionSpec, str], dict[str, str]] = functools.partial(_oauth_bearer, tokens)
    else:
        known = _BUILDERS.get(conn.auth_type)
        if known is None:
            raise SecretError(f"Connection '{conn.name}' has unknown auth type '{conn.auth_type}'")
        builder = known
    if not conn.auth_secret_ref:
        raise SecretError(f"Connection '{conn.name}' uses auth type '{conn.auth_type}' but has no secret reference")
    if get_secret is None:
        raise SecretError(f"No secret store is configured to read the secret for {_where(conn)}")
    try:
        secret = get_secret(conn.auth_secret_ref)
    except Exception as exc:
        # The type name helps an operator; str(exc) is left out in case a
        # vault client quotes what it read.
        logger.warning("reading the secret for %s failed: %s", _where(conn), type(exc).__name__)
        raise SecretError(f"Could not read the secret for {_where(conn)}: {type(exc).__name__}") from exc
    if not isinstance(secret, str):
        raise SecretError(f"Secret for {_where(conn)} is not text")
    headers = builder(conn, secret)
    values = tuple(headers.values())
    if conn.auth_type == OAUTH2_CLIENT_CREDENTIALS:
        client_secret = oauth_client_secret(secret)
        values += (client_secret,) if client_secret else ()
    return headers, redactor_for(values)
