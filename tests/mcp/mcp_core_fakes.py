"""An in-memory tool backend and message builders for the protocol core tests."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

from janus.mcp import INVALID_PARAMS, McpError, RequestContext, ToolListing

STATELESS = "2026-07-28"
SECRET = "sk-live-do-not-leak-4242"


def make_tool(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} tool",
        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
    }


class FakeBackend:
    """Serves a fixed, replaceable list of tools and a handful of behaviours by tool name."""

    def __init__(self, names: list[str] | None = None) -> None:
        self.tools = [make_tool(n) for n in (names or ["alpha", "beta", "gamma"])]
        self.cache_scope = "private"
        self.ttl_ms: int | None = None
        self.contexts: list[RequestContext] = []
        self.calls: list[tuple[str, dict]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.saw_cancel: list[bool] = []

    def set_tools(self, names: list[str]) -> None:
        self.tools = [make_tool(n) for n in names]

    def list_tools(self, ctx: RequestContext) -> ToolListing:
        self.contexts.append(ctx)
        fingerprint = hashlib.sha256(json.dumps(self.tools, sort_keys=True).encode()).hexdigest()
        return ToolListing(
            tools=list(self.tools), fingerprint=fingerprint, cache_scope=self.cache_scope, ttl_ms=self.ttl_ms
        )

    def call_tool(self, ctx: RequestContext, name: str, arguments: dict) -> Any:
        self.contexts.append(ctx)
        self.calls.append((name, arguments))
        if name == "boom":
            raise RuntimeError(f"upstream said no; Authorization: Bearer {SECRET}")
        if name == "missing":
            raise McpError(INVALID_PARAMS, "Unknown tool: missing", {"name": name})
        if name == "not_a_dict":
            return ["content"]
        if name == "unserialisable":
            return {"content": [{"type": "text", "text": "x"}], "structuredContent": {"when": object()}}
        if name == "block":
            self.started.set()
            released = self.release.wait(timeout=10)
            self.saw_cancel.append(ctx.is_cancelled())
            assert released, "test never released the blocking tool"
        return {"content": [{"type": "text", "text": json.dumps({"tool": name, "arguments": arguments})}]}


def req(method: str, params: dict | None = None, id: object = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def envelope(version: str = STATELESS, *, capabilities: Any = None, client_info: Any = None, **extra: Any) -> dict:
    """The per-request `_meta` a 2026-07-28 client sends."""
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {} if capabilities is None else capabilities,
        "io.modelcontextprotocol/clientInfo": client_info or {"name": "test-client", "version": "1.0"},
    }
    meta.update(extra)
    return meta
