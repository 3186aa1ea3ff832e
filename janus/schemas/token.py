"""A client token: the credential an MCP client presents, its role and the tools its scopes allow.

The value is stored hashed (janus.services.token_key) and answered once, at creation; reads carry a hint.
A token may be bound to a client certificate (mutual TLS, docs/security.md): by the certificate's SHA-256
fingerprint, its subject distinguished name, or both. A bound token is refused without that certificate,
and a client presenting it is that token without a bearer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, ValidationInfo

from janus.gateway.catalog import parse_scopes
from janus.schemas.base import WHEN, Resource, View, update_model
from janus.schemas.fields import Choice, Count, Flag, Rules, Text, refuse

ROLES = ("admin", "developer")
MIN_TOKEN_LENGTH = 24
MAX_SCOPES = 100
MAX_SCOPE_LENGTH = 128
MAX_RATE = 1_000_000  # requests a second (and burst) a token may be given; 0: no limit for this token
SCOPES_HINT = "scopes must be comma-separated globs, e.g. 'weather_*,billing_get_*'"
SCOPE_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]+$")
TOKEN_RE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: it travels in an HTTP header
_SET_RE = re.compile(r"\[!?[^\[\]]+\]")
EXAMPLE_WHEN = "2027-01-31T00:00:00Z"
MAX_SUBJECT_LENGTH = 512  # a unique index on PostgreSQL holds at most ~2700 bytes: 512 characters of UTF-8 fit
# Letter case spelled out rather than a flag: the pattern is also the JSON Schema's, which has no flags.
FINGERPRINT_RE = re.compile(r"^(?:[Ss][Hh][Aa]256:)?(?:[0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$")
_DN_SEPARATOR = re.compile(r"(?:\s*(?<!\\)([,+])\s*|^)([A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)\s*=\s*")
FINGERPRINT_HINT = (
    "cert_fingerprint must be the certificate's SHA-256 fingerprint: 64 hexadecimal digits, colons allowed "
    "(openssl x509 -noout -fingerprint -sha256 -in client.pem)"
)


TOO_SHORT = (
    f"a token value must be at least {MIN_TOKEN_LENGTH} characters (leave it out to have a secure one generated)"
)


def check_value(raw: str) -> str:
    if not TOKEN_RE.fullmatch(raw):
        raise refuse("a token value must be visible ASCII characters without spaces")
    return raw


def check_scopes(raw: Any) -> tuple[str, ...]:
    """Tool-name globs, comma-separated or a list; duplicates dropped, order kept."""
    if isinstance(raw, (list, tuple)):
        if not all(isinstance(s, str) for s in raw):
            raise refuse(SCOPES_HINT)
        raw = ",".join(raw)
    if not isinstance(raw, str):
        raise refuse(SCOPES_HINT)
    scopes = tuple(dict.fromkeys(parse_scopes(raw)))  # duplicates say nothing more
    if len(scopes) > MAX_SCOPES:
        raise refuse(f"at most {MAX_SCOPES} scopes; use wider globs")
    for scope in scopes:
        if len(scope) > MAX_SCOPE_LENGTH:
            raise refuse(f"a scope is at most {MAX_SCOPE_LENGTH} characters")
        if not SCOPE_RE.fullmatch(scope):
            raise refuse(f"scope {scope!r} is not a valid glob: use tool-name characters with * ? [ ]")
        if re.search(r"[\[\]]", _SET_RE.sub("", scope)):
            # Every '[' opens a non-empty set that closes: fnmatch would read '[abc' as a literal, a typo here.
            raise refuse(f"scope {scope!r} has a '[' without a closing ']' or an empty set '[]'")
    return scopes


def check_expiry(raw: Any) -> datetime | None:
    """An ISO 8601 date-time in the future (UTC when no offset is given); null or "" never expires."""
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise refuse(f"expires_at must be an ISO 8601 date-time, e.g. {EXAMPLE_WHEN}")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise refuse(f"expires_at {raw!r} is not an ISO 8601 date-time, e.g. {EXAMPLE_WHEN}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is past year 9999 in UTC
        raise refuse(f"expires_at {raw!r} is out of range") from None
    if value <= datetime.now(UTC):
        raise refuse("expires_at must be in the future")
    return value


def check_fingerprint(raw: str) -> str:
    """64 lower-case hex digits: the form the gateway computes from a presented certificate."""
    if not FINGERPRINT_RE.fullmatch(raw):
        raise refuse(FINGERPRINT_HINT)
    return raw.lower().removeprefix("sha256:").replace(":", "")


def check_subject(raw: str) -> str:
    """An RFC 4514 distinguished name in its canonical spelling (what the gateway reads from a certificate),
    so `CN=alice, O=Example` and `CN=alice,O=Example` bind the same certificates."""
    from cryptography import x509

    # OpenSSL prints "CN = alice, O = Example": spaces around separators are layout, not part of a value.
    spaced = _DN_SEPARATOR.sub(lambda m: (m.group(1) or "") + m.group(2) + "=", raw.strip())
    try:
        name = x509.Name.from_rfc4514_string(spaced)
    except ValueError:
        raise refuse(
            f"cert_subject {raw!r} is not a distinguished name; write it as RFC 4514 does, e.g. "
            "'CN=billing-agent,O=Example Corp' (openssl x509 -noout -subject -nameopt RFC2253 -in client.pem)"
        ) from None
    if not len(name):
        raise refuse("cert_subject must name at least one attribute, e.g. 'CN=billing-agent'")
    canonical = name.rfc4514_string()
    if len(canonical) > MAX_SUBJECT_LENGTH:
        raise refuse(f"cert_subject must be at most {MAX_SUBJECT_LENGTH} characters")
    return canonical


def _scopes(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    return check_scopes(value)


def _expiry(value: Any, info: ValidationInfo) -> datetime | None:
    return check_expiry(value)


# No maxItems or maxLength for the whole: repeats are dropped before the count of distinct scopes is judged,
# which JSON Schema cannot say.
_SCOPES_SCHEMA = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "string", "maxLength": MAX_SCOPE_LENGTH}},
    ]
}


class TokenCreate(Resource):
    """A client token for MCP clients: its name, role, scopes and expiry."""

    name: Annotated[str, Text(200, min_len=1)]
    token: Annotated[
        str | None,
        Text(
            512,
            min_len=MIN_TOKEN_LENGTH,
            too_short=TOO_SHORT,
            nullable=True,
            blank_is_null=True,
            pattern=TOKEN_RE,
            check=check_value,
            description=f"Your own value (visible ASCII, at least {MIN_TOKEN_LENGTH} characters); left out, "
            "a secure mcp_… value is generated.",
        ),
    ] = None
    role: Annotated[str, Choice(ROLES)] = "developer"
    scopes: Annotated[
        tuple[str, ...],
        Rules(
            _scopes,
            _SCOPES_SCHEMA,
            f"Tool-name globs, comma-separated or a list, e.g. weather_*,billing_get_*; at most {MAX_SCOPES} "
            f"distinct ones of at most {MAX_SCOPE_LENGTH} characters; empty means no tools.",
        ),
    ] = ()
    expires_at: Annotated[
        datetime | None,
        Rules(_expiry, {"type": ["string", "null"], "format": "date-time"}, "In the future; null: never expires."),
    ] = None
    enabled: Annotated[bool, Flag()] = True
    cert_fingerprint: Annotated[
        str | None,
        Text(
            102,
            nullable=True,
            blank_is_null=True,
            pattern=FINGERPRINT_RE,
            check=check_fingerprint,
            description="Bind the token to one client certificate by its SHA-256 fingerprint (hex, colons "
            "allowed; stored as 64 lower-case digits). Needs mutual TLS (CLIENT_CA_PATH). null: not bound.",
        ),
    ] = None
    cert_subject: Annotated[
        str | None,
        Text(
            MAX_SUBJECT_LENGTH,
            nullable=True,
            blank_is_null=True,
            check=check_subject,
            description="Bind the token to client certificates with this subject (an RFC 4514 distinguished "
            "name, e.g. CN=billing-agent,O=Example Corp). Needs mutual TLS (CLIENT_CA_PATH). null: not bound.",
        ),
    ] = None
    rate_per_second: Annotated[
        int | None,
        Count(
            0,
            MAX_RATE,
            nullable=True,
            description="This token's rate limit in requests a second; null: the gateway's MCP_RATE_PER_CLIENT; "
            "0: no limit.",
        ),
    ] = None
    rate_burst: Annotated[
        int | None,
        Count(
            1,
            MAX_RATE,
            nullable=True,
            description="How many requests this token may send at once; null: the gateway's MCP_BURST_PER_CLIENT "
            "(at least the token's rate).",
        ),
    ] = None


TokenUpdate = update_model(
    TokenCreate, "TokenUpdate", "A change to a client token: the fields sent.", exclude=("token",)
)


class Token(View):
    """A client token as stored: never its value or hash, only a hint to tell tokens apart."""

    id: str
    name: str
    role: Annotated[str, Choice(ROLES)]
    scopes: list[str]
    token_hint: str = Field(description="The first characters of the value, to tell tokens apart.")
    enabled: bool
    expires_at: WHEN | None
    rate_per_second: int | None = Field(description="Requests a second; null: the gateway's default.")
    rate_burst: int | None = Field(description="Requests at once; null: the gateway's default.")
    last_used_at: WHEN | None
    created_at: WHEN
    cert_fingerprint: str | None = Field(description="The bound certificate's SHA-256 fingerprint, or null.")
    cert_subject: str | None = Field(description="The bound certificates' subject (RFC 4514), or null.")


class NewToken(Token):
    """A client token just created, with its value: shown only this once."""

    token: str = Field(description="The value: shown only this once.")
