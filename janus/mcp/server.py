"""Method dispatch for both protocol eras, in front of a tool backend.

Synchronous and stateless apart from the Session a transport passes in, so
transports may call `handle` from several threads at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import jsonrpc, versions
from .cancellation import CancelSignal
from .errors import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, McpError
from .pagination import paginate
from .session import Session
from .versions import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HANDSHAKE,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    STATELESS,
)

__all__ = ["McpServer", "RequestContext", "Session", "ToolBackend", "ToolListing", "TOOLS_LIST_CHANGED"]

logger = logging.getLogger("janus.mcp")

TOOLS_LIST_CHANGED = "notifications/tools/list_changed"
_CACHE_SCOPES = ("public", "private")


@dataclass
class RequestContext:
    """What the backend learns about one request."""

    caller: object  # the transport's authenticated principal, passed through untouched
    session: Session | None
    protocol_version: str  # effective version of this request
    era: str  # "handshake" or "stateless"
    client_info: dict[str, Any] | None
    request_id: object
    meta: dict[str, Any]  # params._meta or {}
    client_capabilities: dict[str, Any] | None = None
    method: str = ""
    cancel_event: CancelSignal = field(default_factory=CancelSignal, repr=False, compare=False)

    def is_cancelled(self) -> bool:
        """True once the client cancelled this request; its response will be dropped anyway."""
        return self.cancel_event.is_set()


@dataclass
class ToolListing:
    tools: list[dict[str, Any]]  # MCP Tool objects (name, description, inputSchema, ...) in final order
    fingerprint: str  # changes whenever the listing changes (used in cursors)
    cache_scope: str = "private"  # "private" when filtered per caller
    ttl_ms: int | None = None


class ToolBackend(Protocol):
    def list_tools(self, ctx: RequestContext) -> ToolListing: ...

    def call_tool(self, ctx: RequestContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A CallToolResult dict; raise McpError for client-visible protocol errors."""
        ...


Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]


class McpServer:
    def __init__(
        self,
        backend: ToolBackend,
        *,
        name: str,
        version: str,
        instructions: str | None = None,
        page_size: int = 100,
        title: str | None = None,
        discover_ttl_ms: int = 0,
        stateless_list_changed: bool = False,
    ) -> None:
        """`stateless_list_changed`: advertise `tools.listChanged` to 2026-07-28 clients.

        In that era change notifications only travel on a `subscriptions/listen`
        stream, which the core cannot hold open; leave it False unless the
        transport serves that method itself.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if discover_ttl_ms < 0:
            raise ValueError("discover_ttl_ms must not be negative")
        self.backend = backend
        self.name = name
        self.version = version
        self.title = title
        self.instructions = instructions
        self.page_size = page_size
        self.discover_ttl_ms = discover_ttl_ms
        self.stateless_list_changed = stateless_list_changed
        self._handlers: dict[str, Handler] = {
            "initialize": self._initialize,
            "ping": self._ping,
            "server/discover": self._discover,
            "tools/list": self._tools_list,
            "tools/call": self._tools_call,
        }

    # -- entry points -------------------------------------------------------

    def handle(
        self, message: object, *, session: Session | None, caller: object
    ) -> dict[str, Any] | list[dict[str, Any]] | None:
        """Answer one already-parsed message or batch; None when nothing is to be sent back."""
        if isinstance(message, list):
            if not message:
                return jsonrpc.error_response(None, INVALID_REQUEST, "Invalid Request: empty batch")
            answers = [self._handle_one(item, session, caller) for item in message]
            return [answer for answer in answers if answer is not None] or None
        return self._handle_one(message, session, caller)

    def handle_raw(self, raw: str | bytes, *, session: Session | None, caller: object) -> str | None:
        """Parse, handle and serialise one wire message."""
        try:
            message = jsonrpc.parse(raw)
        except McpError as error:
            return jsonrpc.dumps(jsonrpc.error_response(None, error.code, error.message))
        response = self.handle(message, session=session, caller=caller)
        return None if response is None else jsonrpc.dumps(response)

    # -- envelope -----------------------------------------------------------

    def _handle_one(self, message: object, session: Session | None, caller: object) -> dict[str, Any] | None:
        try:
            incoming = jsonrpc.classify(message)
        except jsonrpc.InvalidMessage as error:
            return jsonrpc.error_response(error.reply_id, error.code, error.message)
        if incoming.kind == "response":
            return None
        if incoming.kind == "notification":
            self._notify(incoming, session)
            return None
        return self._request(incoming, session, caller)

    def _notify(self, incoming: jsonrpc.Incoming, session: Session | None) -> None:
        try:
            if incoming.method == "notifications/initialized":
                if session is not None:
                    session.mark_initialized()
            elif incoming.method == "notifications/cancelled":
                request_id = (incoming.params or {}).get("requestId")
                if session is not None and jsonrpc.is_valid_id(request_id):
                    session.cancel(request_id)
            else:
                logger.debug("ignored notification %s", incoming.method)
        except Exception:
            # A notification has nobody to report to; never let it take the transport down.
            logger.exception("notification %s failed", incoming.method)

    def _request(self, incoming: jsonrpc.Incoming, session: Session | None, caller: object) -> dict[str, Any] | None:
        cancelled = CancelSignal()
        if session is not None:
            session.track(incoming.id, cancelled)
        try:
            ctx = self._context(incoming, session, caller, cancelled)
            handler = self._handlers.get(incoming.method)
            if handler is None:
                raise McpError(METHOD_NOT_FOUND, "Method not found", {"method": incoming.method})
            response = jsonrpc.result_response(incoming.id, self._finish(ctx, handler(ctx, incoming.params or {})))
        except McpError as error:
            response = jsonrpc.error_response(incoming.id, error.code, error.message, error.data)
        except Exception:
            # The text may hold upstream secrets: it goes to the log, never to the client.
            logger.exception("%s failed (request id %r)", incoming.method, incoming.id)
            response = jsonrpc.error_response(incoming.id, INTERNAL_ERROR, "Internal error")
        finally:
            if session is not None:
                session.untrack(incoming.id, cancelled)
        if cancelled.is_set():
            # The client said it will not use the answer; the spec asks us not to send one.
            logger.debug("dropped the response to cancelled request %r", incoming.id)
            return None
        return response

    def _context(
        self, incoming: jsonrpc.Incoming, session: Session | None, caller: object, cancelled: CancelSignal
    ) -> RequestContext:
        """Decide the era and version of one request from its `_meta` and the session."""
        params = incoming.params or {}
        meta = params.get("_meta")
        if meta is None:
            meta = {}
        elif not isinstance(meta, dict):
            raise McpError(INVALID_PARAMS, "params._meta must be an object")
        if "progressToken" in meta and not jsonrpc.is_valid_id(meta["progressToken"]):
            # The schema's ProgressToken is string | integer; anything else could not be echoed back.
            raise McpError(INVALID_PARAMS, "params._meta.progressToken must be a string or an integer")
        version, client_info, capabilities = session.snapshot() if session is not None else (None, None, None)
        common: dict[str, Any] = {
            "caller": caller,
            "session": session,
            "request_id": incoming.id,
            "meta": meta,
            "method": incoming.method,
            "cancel_event": cancelled,
        }
        # Without a `_meta` version a request belongs to the handshake era, initialized or not;
        # so does `initialize`, unless its `_meta` names a 2026-07-28 version (removed there: below).
        if PROTOCOL_VERSION_META_KEY not in meta or (
            incoming.method == "initialize" and not versions.is_stateless(meta[PROTOCOL_VERSION_META_KEY])
        ):
            return RequestContext(
                protocol_version=version or versions.DEFAULT_VERSION,
                era=HANDSHAKE,
                client_info=client_info,
                client_capabilities=capabilities,
                **common,
            )
        requested = meta[PROTOCOL_VERSION_META_KEY]
        if not isinstance(requested, str):
            raise McpError(INVALID_PARAMS, f"params._meta[{PROTOCOL_VERSION_META_KEY!r}] must be a string")
        meta_info = meta.get(CLIENT_INFO_META_KEY)
        meta_capabilities = meta.get(CLIENT_CAPABILITIES_META_KEY)
        if versions.is_stateless(requested):
            # Checked after the version: a version we do not know may define other required keys.
            if not isinstance(meta_capabilities, dict):
                raise McpError(
                    INVALID_PARAMS, f"params._meta is missing the required {CLIENT_CAPABILITIES_META_KEY!r} object"
                )
            if incoming.method in versions.REMOVED_IN_STATELESS:
                # Not served at this revision even though the handshake era still has it.
                raise McpError(METHOD_NOT_FOUND, "Method not found", {"method": incoming.method})
            return RequestContext(
                protocol_version=requested,
                era=STATELESS,
                client_info=meta_info if isinstance(meta_info, dict) else None,
                client_capabilities=meta_capabilities,
                **common,
            )
        if versions.is_handshake(requested):
            # Lenient: a handshake-era version named per request is served at that version.
            return RequestContext(
                protocol_version=requested,
                era=HANDSHAKE,
                client_info=meta_info if isinstance(meta_info, dict) else client_info,
                client_capabilities=meta_capabilities if isinstance(meta_capabilities, dict) else capabilities,
                **common,
            )
        raise versions.unsupported_version_error(requested)

    def _finish(self, ctx: RequestContext, result: dict[str, Any]) -> dict[str, Any]:
        """Stamp what the 2026-07-28 era requires on every result; handshake results pass as they are."""
        if ctx.era != STATELESS:
            return result
        result = dict(result)  # never write into an object the backend may keep
        result.setdefault("resultType", "complete")
        meta = result.get("_meta")
        if meta is None:
            result["_meta"] = {SERVER_INFO_META_KEY: self._server_info(ctx.protocol_version)}
        elif isinstance(meta, dict) and SERVER_INFO_META_KEY not in meta:
            result["_meta"] = {**meta, SERVER_INFO_META_KEY: self._server_info(ctx.protocol_version)}
        return result

    # -- shared shapes ------------------------------------------------------

    def _server_info(self, protocol_version: str) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "version": self.version}
        # `title` exists on Implementation from 2025-06-18; older clients may validate strictly.
        if self.title and versions.at_least(protocol_version, "2025-06-18"):
            info["title"] = self.title
        return info

    def _capabilities(self, era: str) -> dict[str, Any]:
        if era == STATELESS and not self.stateless_list_changed:
            return {"tools": {}}
        return {"tools": {"listChanged": True}}

    # -- methods ------------------------------------------------------------

    def _initialize(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise McpError(INVALID_PARAMS, "initialize needs params.protocolVersion (a string)")
        capabilities = params.get("capabilities")
        client_info = params.get("clientInfo")
        if capabilities is not None and not isinstance(capabilities, dict):
            raise McpError(INVALID_PARAMS, "params.capabilities must be an object")
        if client_info is not None and not isinstance(client_info, dict):
            raise McpError(INVALID_PARAMS, "params.clientInfo must be an object")
        negotiated = versions.negotiate(requested)
        if ctx.session is not None:
            ctx.session.record_initialize(negotiated, client_info, capabilities)
        result: dict[str, Any] = {
            "protocolVersion": negotiated,
            "capabilities": self._capabilities(HANDSHAKE),
            "serverInfo": self._server_info(negotiated),
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def _ping(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # Handshake era only: `_context` refuses it at 2026-07-28, which removed it (-32601).
        return {}

    def _discover(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        # Always in the 2026-07-28 shape, even when probed without a `_meta` version.
        result: dict[str, Any] = {
            "supportedVersions": list(versions.SUPPORTED_VERSIONS),
            "capabilities": self._capabilities(STATELESS),
            "ttlMs": self.discover_ttl_ms,
            "cacheScope": "public",  # the same for every caller
            "resultType": "complete",
            "_meta": {SERVER_INFO_META_KEY: self._server_info(versions.LATEST)},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def _tools_list(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        cursor = params.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise McpError(INVALID_PARAMS, "params.cursor must be a string")
        listing = self.backend.list_tools(ctx)
        if not isinstance(listing, ToolListing):
            raise TypeError(f"list_tools returned {type(listing).__name__}, not ToolListing")
        page, next_cursor = paginate(list(listing.tools), listing.fingerprint, cursor, self.page_size)
        result: dict[str, Any] = {"tools": page}
        if next_cursor is not None:
            result["nextCursor"] = next_cursor
        if ctx.era == STATELESS:
            result["ttlMs"] = max(0, int(listing.ttl_ms or 0))
            # Anything but an explicit "public" stays private: sharing a filtered list leaks it.
            result["cacheScope"] = listing.cache_scope if listing.cache_scope in _CACHE_SCOPES else "private"
        return result

    def _tools_call(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        if not isinstance(name, str) or not name:
            raise McpError(INVALID_PARAMS, "tools/call needs params.name (a non-empty string)")
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        elif not isinstance(arguments, dict):
            raise McpError(INVALID_PARAMS, "params.arguments must be an object")
        result = self.backend.call_tool(ctx, name, arguments)
        if not isinstance(result, dict):
            raise TypeError(f"call_tool returned {type(result).__name__}, not dict")
        return result
