"""What most mcp-cli tests run against: one real gateway per module (one gunicorn worker, catalogue changes
seen at once) and a signed-in admin with a home of their own. A module that needs another gateway (an
upstream, more workers, other settings) defines its own `gateway` fixture, which takes precedence."""

from __future__ import annotations

import pytest

from tests.support.cli import Cli
from tests.support.server import GatewayServer


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    server = GatewayServer(str(root / "gateway.db"), WEB_CONCURRENCY="1", CATALOG_REFRESH_SECONDS="0").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def admin(gateway, tmp_path):
    user = Cli(tmp_path / "home")
    user.login(gateway.url)
    return user
