"""Protocol versions the core serves, and how a request picks one.

Two eras share the core: the handshake era (`initialize` negotiates a version
per connection) and the stateless era (2026-07-28: every request names its
version in `params._meta`). See docs/protocol-notes.md.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from .errors import UNSUPPORTED_PROTOCOL_VERSION, McpError

# Newest first: the first entry of each tuple is the one we prefer.
STATELESS_VERSIONS: tuple[str, ...] = ("2026-07-28",)
HANDSHAKE_VERSIONS: tuple[str, ...] = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
SUPPORTED_VERSIONS: tuple[str, ...] = STATELESS_VERSIONS + HANDSHAKE_VERSIONS

LATEST = STATELESS_VERSIONS[0]
LATEST_HANDSHAKE = HANDSHAKE_VERSIONS[0]
# What a request gets when it brings neither an `initialize` nor a `_meta` version
# (e.g. `echo '{"jsonrpc":"2.0","method":"tools/list","id":1}' | mcp-gateway -stdio`).
DEFAULT_VERSION = LATEST_HANDSHAKE

HANDSHAKE = "handshake"
STATELESS = "stateless"

# Reserved request `_meta` keys of the 2026-07-28 per-request envelope.
PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities"
# Reserved result `_meta` key: the server identifies itself on every stateless result.
SERVER_INFO_META_KEY = "io.modelcontextprotocol/serverInfo"

# Methods the 2026-07-28 revision removed from the wire: the handshake (`initialize`), `ping`,
# and what `subscriptions/listen` and the per-request `_meta` logLevel replaced. The revision's
# Streamable HTTP binding: "If the server does not implement the requested RPC method, it MUST
# respond with 404 Not Found and a JSON-RPC error with code -32601 (Method not found)" — and it
# does not implement these at that revision, whatever it serves to handshake-era clients.
REMOVED_IN_STATELESS: frozenset[str] = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)


# Version strings are an enumerated set, not an ordered scalar: compare by position.
_ORDER = tuple(reversed(SUPPORTED_VERSIONS))


def is_supported(version: object) -> bool:
    return isinstance(version, str) and version in SUPPORTED_VERSIONS


def is_stateless(version: object) -> TypeGuard[str]:
    return isinstance(version, str) and version in STATELESS_VERSIONS


def is_handshake(version: object) -> TypeGuard[str]:
    return isinstance(version, str) and version in HANDSHAKE_VERSIONS


def negotiate(requested: object) -> str:
    """The version to answer an `initialize` with.

    The client's version when we speak it in the handshake era, else our newest
    handshake version (the client then decides whether to disconnect). A
    stateless version asked for through `initialize` also lands on the newest
    handshake version: that era has no handshake.
    """
    return requested if is_handshake(requested) else LATEST_HANDSHAKE


def at_least(version: str, minimum: str) -> bool:
    """True when `version` is a known version no older than `minimum`; unknown → False."""
    if version not in _ORDER or minimum not in _ORDER:
        return False
    return _ORDER.index(version) >= _ORDER.index(minimum)


def unsupported_version_error(requested: object) -> McpError:
    """The -32022 error, with the data shape the 2026-07-28 schema fixes; `requested` is echoed as sent
    (None when the request named no version)."""
    return McpError(
        UNSUPPORTED_PROTOCOL_VERSION,
        "Unsupported protocol version",
        {"supported": list(SUPPORTED_VERSIONS), "requested": requested},
    )


def envelope_version(message: object) -> object | None:
    """The `_meta` protocol version a request names, or None when it names none.

    For transports that must compare it with the MCP-Protocol-Version header
    before handing the message to the core. The value is returned as sent
    (it may not be a string); the core validates it.
    """
    if not isinstance(message, dict):
        return None
    params = message.get("params")
    meta: Any = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict):
        return None
    return meta.get(PROTOCOL_VERSION_META_KEY)
