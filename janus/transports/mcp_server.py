"""The one McpServer configuration every transport serves."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from janus.gateway import metrics
from janus.gateway.tool_backend import UNKNOWN_TOOL_LABEL, CallRecord, encodable
from janus.gateway.tracing import caller_trace_id
from janus.mcp.errors import INVALID_PARAMS, McpError
from janus.mcp.server import McpServer, RequestContext, ToolListing
from janus.transports.rate_limits import CallSlots, CallSlotsGuard
from janus.version import __version__

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Janus exposes registered REST APIs as tools. Tool names start with their API's prefix; "
    "call tools/list to see the tools this client may use."
)
# Characters no tool name holds and no database column or log line should receive from one:
# lone UTF-16 surrogates (JSON's "\ud800" escapes decode to them), NUL and the other C0 controls.
_UNSTORABLE = re.compile(r"[\ud800-\udfff\x00-\x1f\x7f]")
REPLACEMENT = "\ufffd"


def build_server(
    backend,
    page_size: int,
    *,
    record: Callable[[CallRecord], None],
    stateless_list_changed: bool = False,
    slots: CallSlots | None = None,
) -> McpServer:
    """`slots`: MCP_MAX_CONCURRENT_CALLS (janus/transports/rate_limits.py); None: no cap."""
    if slots is not None:
        backend = CallSlotsGuard(backend, slots, record)
    return McpServer(
        UnencodableInputGuard(backend, record),
        name="janus",
        version=__version__,
        title="Janus MCP Gateway",
        instructions=INSTRUCTIONS,
        page_size=page_size,
        stateless_list_changed=stateless_list_changed,
    )


class UnencodableInputGuard:
    """Refuses a tools/call whose name or arguments cannot be carried as UTF-8 (issue 10, item 9).

    JSON may spell a lone surrogate ("\\ud800"); Python decodes it into a str that no encoder,
    database driver or upstream request accepts. Such a call is answered with INVALID_PARAMS
    before it reaches the gateway backend — whose audit row, digest and upstream request would
    each fail on it — and gets its own audit row, with the unstorable characters replaced.
    Every transport serves this one backend, so /mcp, /messages, /api/tools and stdio agree.
    """

    def __init__(self, backend, record: Callable[[CallRecord], None]) -> None:
        self._backend = backend
        self._record = record

    def list_tools(self, ctx: RequestContext) -> ToolListing:
        return self._backend.list_tools(ctx)

    def call_tool(self, ctx: RequestContext, name: str, arguments: dict) -> dict:
        if _UNSTORABLE.search(name):
            self._refuse(
                ctx, name, arguments, "tool name is not valid text (lone UTF-16 surrogate or control character)"
            )
            raise McpError(
                INVALID_PARAMS,
                "Invalid params: the tool name holds a lone UTF-16 surrogate or a control "
                "character; no tool has such a name",
            )
        if not encodable(arguments):
            self._refuse(ctx, name, arguments, "arguments are not valid Unicode (lone UTF-16 surrogate)")
            raise McpError(
                INVALID_PARAMS,
                f"Invalid params: the arguments for tool '{name}' hold a lone UTF-16 "
                "surrogate, which is not valid Unicode text",
            )
        return self._backend.call_tool(ctx, name, arguments)

    def _refuse(self, ctx: RequestContext, name: str, arguments: dict, reason: str) -> None:
        self.record_refusal(ctx.caller, name, arguments, reason, ctx.meta)

    def record_refusal(self, principal, name: str, arguments: Any, reason: str, meta: object = None) -> None:
        """The audit row of a tools/call refused before the backend ran it (here or by a transport), with
        the trace id of the caller's `_meta` or header."""
        token = self._backend.catalog.current().token(principal)
        self._record(
            CallRecord(
                tool_name=storable(name)[:200],
                status="failure",
                duration_ms=0.0,
                token_id=token.id if token else None,
                token_name=token.name if token else principal.actor,
                transport=principal.transport,
                error_message=reason,
                arguments_digest=_ascii_digest(arguments),
                trace_id=caller_trace_id(meta, getattr(principal, "traceparent", None)),
            )
        )
        try:
            metrics.observe(UNKNOWN_TOOL_LABEL, "failure", 0.0)
        except Exception:
            log.warning("could not update tool metrics", exc_info=True)

    def __getattr__(self, attribute: str) -> Any:
        # Everything else (catalog, builtins, close …) is the backend's own.
        return getattr(self._backend, attribute)


def storable(text: str) -> str:
    """`text` with every unstorable character replaced by U+FFFD: safe for any column, log or answer."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _ascii_digest(arguments: Any) -> str | None:
    # Like the backend's arguments_digest, but over ASCII escapes: a surrogate has no UTF-8 form.
    try:
        return hashlib.sha256(
            json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str).encode("ascii")
        ).hexdigest()
    except (TypeError, ValueError, RecursionError):
        return None
