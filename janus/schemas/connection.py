"""A connection: a downstream REST API, the prefix its tools share and how Janus authenticates to it."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field

from janus.gateway.catalog import RESERVED_PREFIX, is_reserved_name
from janus.gateway.retries import MAX_RETRIES
from janus.gateway.specs import AUTH_TYPES
from janus.schemas import shaping
from janus.schemas.base import WHEN, Resource, read_model, update_model
from janus.schemas.fields import Choice, Count, Flag, Number, Text, refuse

PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]*_$")


def check_base_url(url: str) -> str:
    """An absolute http(s) URL with a host and nothing a tool call must not inherit (credentials, query)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed here so a bad port fails now, not at the first tool call
    except ValueError:  # e.g. "http://[::1" or "http://host:99999"
        raise refuse(f"base_url {url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refuse(f"base_url must be an absolute http:// or https:// URL with a host, got {url!r}")
    if parts.username or parts.password:
        raise refuse("base_url must not contain credentials; use auth_type and a vault secret reference")
    if parts.query or parts.fragment:
        raise refuse("base_url must not contain a query string or fragment")
    return url.rstrip("/")


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.fullmatch(prefix):
        raise refuse(
            f"prefix {prefix!r} is invalid: use lower-case letters, digits and '_', start with a letter "
            "and end with '_' (e.g. 'billing_')"
        )
    if is_reserved_name(prefix):  # 'admin_x_' too: its tools would still be named admin_…
        raise refuse(
            f"prefix {prefix!r} is reserved for Janus's built-in admin tools (no prefix may start with {RESERVED_PREFIX!r})"
        )
    return prefix


class ConnectionCreate(Resource):
    """A downstream REST API: where it is, the prefix its tools share, how Janus authenticates to it."""

    name: Annotated[str, Text(200, min_len=1)]
    base_url: Annotated[
        str,
        Text(
            2048,
            min_len=1,
            check=check_base_url,
            format="uri",
            description="Absolute http:// or https:// URL, no credentials.",
        ),
    ]
    prefix: Annotated[
        str | None,
        Text(
            64,
            nullable=True,
            blank_is_null=True,
            pattern=PREFIX_RE,
            check=check_prefix,
            description="Start of every tool name of this connection, e.g. billing_; no prefix may start with "
            f"{RESERVED_PREFIX!r} (any letter case): that namespace is the built-in admin tools'. "
            "Default: from the name.",
        ),
    ] = None
    description: Annotated[str, Text(4000, nullable=True, null_value="")] = ""
    auth_type: Annotated[str, Choice(AUTH_TYPES)] = "none"
    auth_secret_ref: Annotated[
        str | None,
        Text(
            512,
            nullable=True,
            blank_is_null=True,
            description="Vault key holding the credentials; required unless auth_type is none.",
        ),
    ] = None
    enabled: Annotated[bool, Flag()] = True
    timeout_seconds: Annotated[float, Number(0.1, 600, description="Seconds to wait for the upstream's answer.")] = 30.0
    # upstream resilience (issue 15, item 4): janus/gateway/retries.py, janus/gateway/circuit.py
    retries: Annotated[
        int,
        Count(
            0,
            MAX_RETRIES,
            description="Extra attempts for idempotent calls (GET, HEAD, PUT, DELETE) that got no answer, a "
            "reset, or 502/503/504, with jittered exponential backoff, all within the call's timeout. "
            "POST and PATCH are never retried. Default 0: an upstream's idempotency is the admin's to vouch for.",
        ),
    ] = 0
    breaker_threshold: Annotated[
        int,
        Count(
            0,
            1000,
            description="Consecutive failed calls (no answer, timeout, 502/503/504) that open the circuit: "
            "calls are then refused at once until the cool-down ends. 0: no circuit breaker.",
        ),
    ] = 5
    breaker_cooldown_seconds: Annotated[
        float,
        Number(1, 3600, description="Seconds an open circuit refuses calls before one probe call is let through."),
    ] = 30.0
    # Data-loss prevention (janus/gateway/dlp.py, janus/schemas/shaping.py).
    redaction: Annotated[bool | None, shaping.REDACTION] = None


ConnectionUpdate = update_model(ConnectionCreate, "ConnectionUpdate", "A change to a connection: the fields sent.")

Connection = read_model(
    ConnectionCreate,
    "Connection",
    "A connection as stored, with how many endpoints (tools) it has.",
    endpoint_count=(int, Field(..., ge=0)),
    created_at=(WHEN, ...),
    updated_at=(WHEN, ...),
)
