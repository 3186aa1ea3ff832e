"""The real `mcp` SDK client talks to the core over an in-memory JSON-RPC pipe, in both eras."""

from __future__ import annotations

import functools
import json
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp.client.client import Client
from mcp.shared.memory import create_client_server_memory_streams
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import jsonrpc_message_adapter

from janus.mcp import McpServer, Session

pytestmark = pytest.mark.timeout(30)


class CorePipe:
    """A client transport whose far end is `McpServer.handle_raw`: requests each on a worker
    thread, notifications in arrival order (as the stdio transport does). Records what the client sent."""

    def __init__(self, server: McpServer) -> None:
        self.server = server
        self.session = Session()
        self.sent: list[dict] = []

    @asynccontextmanager
    async def __call__(self):
        async with create_client_server_memory_streams() as (client_streams, server_streams):
            server_read, server_write = server_streams

            async def answer(item: SessionMessage) -> None:
                raw = item.message.model_dump_json(by_alias=True, exclude_none=True)
                self.sent.append(json.loads(raw))
                handle = functools.partial(self.server.handle_raw, raw, session=self.session, caller="sdk-user")
                out = await anyio.to_thread.run_sync(handle)
                if out is not None:
                    await server_write.send(SessionMessage(jsonrpc_message_adapter.validate_json(out)))

            async def pump() -> None:
                async with anyio.create_task_group() as tg:
                    async for item in server_read:
                        if not isinstance(item, SessionMessage):
                            continue
                        if getattr(item.message, "id", None) is None:
                            await answer(item)  # in order: `initialized` must land before what follows
                        else:
                            tg.start_soon(answer, item)

            async with anyio.create_task_group() as tg:
                tg.start_soon(pump)
                yield client_streams
                tg.cancel_scope.cancel()


def run(pipe: CorePipe, mode: str, exercise):
    async def main():
        async with Client(pipe(), mode=mode, cache=None) as client:
            return await exercise(client)

    return anyio.run(main)


async def list_and_call(client):
    listed = await client.list_tools()
    called = await client.call_tool("alpha", {"q": "hello"})
    return client.protocol_version, [t.name for t in listed.tools], called


def test_sdk_client_probes_server_discover_first_and_goes_stateless(server):
    pipe = CorePipe(server)
    version, names, called = run(pipe, "auto", list_and_call)
    assert version == "2026-07-28"
    assert names == ["alpha", "beta", "gamma"]
    assert json.loads(called.content[0].text)["arguments"] == {"q": "hello"}
    first = pipe.sent[0]
    assert first["method"] == "server/discover"
    assert first["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    assert "io.modelcontextprotocol/clientCapabilities" in first["params"]["_meta"]
    assert not any(m.get("method") == "initialize" for m in pipe.sent)
    tools_list = next(m for m in pipe.sent if m.get("method") == "tools/list")
    assert tools_list["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"


def test_sdk_client_in_legacy_mode_initializes_and_is_served_in_the_handshake_era(server):
    pipe = CorePipe(server)
    version, names, _ = run(pipe, "legacy", list_and_call)
    assert version == "2025-11-25"
    assert names == ["alpha", "beta", "gamma"]
    assert [m.get("method") for m in pipe.sent[:2]] == ["initialize", "notifications/initialized"]
    assert pipe.session.protocol_version == "2025-11-25"
    assert pipe.session.initialized is True


def test_sdk_client_reads_every_page_through_next_cursor(make_server, backend):
    backend.set_tools([f"tool_{i}" for i in range(5)])
    pipe = CorePipe(make_server(page_size=2))

    async def all_names(client):
        names, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor)
            names += [t.name for t in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                return names

    assert run(pipe, "auto", all_names) == [f"tool_{i}" for i in range(5)]
