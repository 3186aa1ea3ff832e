"""Fixtures for the protocol core tests: a fake backend, a server in front of it, a session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from mcp_core_fakes import FakeBackend, req

from janus.mcp import McpServer, Session


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def make_server(backend: FakeBackend) -> Callable[..., McpServer]:
    def factory(**kwargs: Any) -> McpServer:
        options: dict[str, Any] = {"name": "janus", "version": "9.9.9", "instructions": "Use the tools."}
        options.update(kwargs)
        return McpServer(backend, **options)

    return factory


@pytest.fixture
def server(make_server: Callable[..., McpServer]) -> McpServer:
    return make_server()


@pytest.fixture
def session() -> Session:
    return Session()


@pytest.fixture
def rpc(server: McpServer, session: Session) -> Callable[..., Any]:
    """Send one request through `server` on `session` as caller "alice"."""

    def send(method: str, params: dict | None = None, id: object = 1) -> Any:
        return server.handle(req(method, params, id), session=session, caller="alice")

    return send
