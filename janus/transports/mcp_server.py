"""The one McpServer configuration every transport serves."""
from __future__ import annotations

from janus.mcp.server import McpServer
from janus.version import __version__

INSTRUCTIONS = (
    "Janus exposes registered REST APIs as tools. Tool names start with their API's prefix; "
    "call tools/list to see the tools this client may use."
)


def build_server(backend, page_size: int, *, stateless_list_changed: bool = False) -> McpServer:
    return McpServer(
        backend, name="janus", version=__version__, title="Janus MCP Gateway", instructions=INSTRUCTIONS,
        page_size=page_size, stateless_list_changed=stateless_list_changed,
    )
