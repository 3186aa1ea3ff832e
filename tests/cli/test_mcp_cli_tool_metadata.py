"""`mcp-cli endpoint add|modify` tool metadata options against a real gunicorn+gevent gateway: what the admin
sets is what tools/list serves; a hint changes only itself; bad values are clear CLI errors."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import PROTOCOL, Cli, _rpc
from tests.support.http_gateway import initialize
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream

OUT = '{"type":"object","properties":{"id":{"type":"integer"}}}'


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp-cli-toolmeta")
    upstream = Upstream().start()
    gateway = GatewayServer(
        str(root / "gateway.db"), WEB_CONCURRENCY="1", CATALOG_REFRESH_SECONDS="0", LOGIN_RATE_PER_IP="1000"
    ).start()
    admin = Cli(root / "admin-home")
    admin.login(gateway.url)
    token = admin.ok("token", "add", "--name", "Everything", "--scopes", "*").stdout.splitlines()[1]
    conn = admin.ok("connection", "add", "--name", "Things", "--url", upstream.url, "--prefix", "t_").stdout.strip()
    try:
        yield gateway, admin, token, conn
    finally:
        gateway.stop()
        upstream.stop()


def _listed(gateway, token, name):
    session = initialize(gateway.url, token, PROTOCOL)
    tools = _rpc(gateway.url, token, session, "tools/list", None, 2)["result"]["tools"]
    return next(t for t in tools if t["name"] == name)


def test_add_and_modify_set_what_tools_list_serves(site):
    gateway, admin, token, conn = site
    ep = admin.json(
        "endpoint",
        "add",
        "--conn-id",
        conn,
        "--name",
        "remove",
        "--path",
        "/r",
        "--method",
        "DELETE",
        "--title",
        "Remove a thing",
        "--open-world",
        "false",
        "--output-schema",
        OUT,
        "--output-validation",
        "strict",
    )
    assert (ep["title"], ep["annotations"], ep["output_validation"]) == (
        "Remove a thing",
        {"openWorldHint": False},
        "strict",
    )
    tool = _listed(gateway, token, "t_remove")
    assert tool["title"] == "Remove a thing" and tool["outputSchema"] == json.loads(OUT)
    assert tool["annotations"] == {
        "readOnlyHint": False,
        "destructiveHint": True,
        "idempotentHint": True,
        "openWorldHint": False,
    }
    version = tool["_meta"]["io.janus/definition-version"]

    # One hint changes, the other stays; "derived" hands a hint back to the method.
    ep = admin.json("endpoint", "modify", "--id", ep["id"], "--destructive", "false")
    assert ep["annotations"] == {"openWorldHint": False, "destructiveHint": False}
    ep = admin.json("endpoint", "modify", "--id", ep["id"], "--open-world", "derived", "--output-schema", "")
    assert (ep["annotations"], ep["output_schema"]) == ({"destructiveHint": False}, None)
    assert ep["definition_version"] == version + 2
    assert "--title" in admin.run("endpoint", "modify", "--id", ep["id"]).stderr  # named among the options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--read-only", "maybe"), "'maybe' is not one of 'true', 'false', 'derived'"),
        (("--output-validation", "paranoid"), "'paranoid' is not one of 'off', 'lenient', 'strict'"),
        (("--output-schema", "{nope"), "not valid JSON"),
        (("--output-schema", '{"type":"array"}'), 'output schema must have "type": "object" at its root'),
    ],
)
def test_bad_values_are_clear_cli_errors(site, args, message):
    _, admin, _, conn = site
    result = admin.run("endpoint", "add", "--conn-id", conn, "--name", "bad", "--path", "/b", *args)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
