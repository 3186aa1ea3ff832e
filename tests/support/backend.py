"""A GatewayBackend over a fixed catalogue and the context of one anonymous tools/call: what the
gateway tests need to drive the real call path (validation, executor, audit rows) without an app."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from janus.gateway.catalog import Catalog, CatalogSnapshot, Principal
from janus.gateway.specs import ToolSpec
from janus.gateway.tool_backend import GatewayBackend
from janus.mcp.server import RequestContext


def backend_over(tools: Iterable[ToolSpec], make_executor: Callable, record: Callable) -> GatewayBackend:
    snapshot = CatalogSnapshot(version=1, tools=tuple(tools), tokens={})
    return GatewayBackend(Catalog(lambda: snapshot, lambda: 1), make_executor, record)


def call_context(era: str = "stateless", protocol_version: str = "2025-06-18") -> RequestContext:
    return RequestContext(
        caller=Principal(token_hash=None),
        session=None,
        protocol_version=protocol_version,
        era=era,
        client_info=None,
        request_id=1,
        meta={},
    )
