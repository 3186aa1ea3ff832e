"""`mcp-cli` shaping and masking flags, the real console script against a real gunicorn+gevent gateway."""

from __future__ import annotations

import pytest

from tests.support.cli import Cli, call_tool
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, json_response
from tests.support.waiting import wait_for

PEOPLE = {"people": [{"id": i, "email": f"p{i}@example.com"} for i in range(4)]}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp-cli-shaping")
    upstream = Upstream()
    upstream.route("/people", lambda r: json_response(PEOPLE))
    upstream.start()
    gateway = GatewayServer(str(root / "gateway.db"), WEB_CONCURRENCY="1", CATALOG_REFRESH_SECONDS="0").start()
    admin = Cli(root / "admin-home")
    admin.login(gateway.url)
    try:
        yield gateway, upstream, admin
    finally:
        gateway.stop()
        upstream.stop()


def test_shaping_and_masking_flags_set_change_and_clear_what_a_call_returns(site):
    gateway, upstream, admin = site
    conn = admin.ok(
        "connection", "add", "--name", "HR", "--url", upstream.url, "--prefix", "hr_", "--redaction", "on"
    ).stdout.strip()
    ep = admin.ok(
        "endpoint", "add", "--conn-id", conn, "--name", "people", "--path", "/people",
        "--projection", "people", "--max-items", "2", "--table", "true",
    ).stdout.strip()  # fmt: skip
    token = admin.ok("token", "add", "--name", "agent", "--scopes", "*").stdout.splitlines()[1]

    result = call_tool(gateway.url, token, "hr_people", {})["result"]
    assert result["content"][0]["text"] == (
        "| id | email |\n|---|---|\n| 0 | [redacted:email] |\n| 1 | [redacted:email] |"
    )
    assert result["_meta"]["io.janus/shaping"]["redacted"] == {"email": 2}

    changed = admin.json("endpoint", "modify", "--id", ep, "--projection", "", "--max-items", "0", "--table", "false")
    assert (changed["response_projection"], changed["max_items"], changed["render_table"]) == (None, None, False)
    assert admin.json("connection", "modify", "--id", conn, "--redaction", "off")["redaction"] is False
    result = call_tool(gateway.url, token, "hr_people", {})["result"]
    assert result["structuredContent"] == PEOPLE and "_meta" not in result


def test_a_bad_projection_is_refused_with_the_parsers_message(site):
    _, upstream, admin = site
    conn = admin.ok("connection", "add", "--name", "Bad", "--url", upstream.url, "--prefix", "bad_").stdout.strip()
    refused = admin.run("endpoint", "add", "--conn-id", conn, "--name", "x", "--path", "/x", "--projection", "a[")
    assert refused.returncode == 1
    assert "response_projection is not a valid JMESPath expression" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_logs_finds_the_calls_dlp_masked_and_the_retried_ones(site):
    gateway, upstream, admin = site
    for name, prefix, redaction in (("Masked", "masked_", "on"), ("Clear", "clear_", "off")):
        conn = admin.ok(
            "connection", "add", "--name", name, "--url", upstream.url, "--prefix", prefix, "--redaction", redaction
        ).stdout.strip()
        admin.ok("endpoint", "add", "--conn-id", conn, "--name", "people", "--path", "/people")
    token = admin.ok("token", "add", "--name", "logs-agent", "--scopes", "*").stdout.splitlines()[1]
    call_tool(gateway.url, token, "masked_people", {})
    call_tool(gateway.url, token, "clear_people", {})

    def tools(*flags: str) -> list[str]:
        return [item["tool_name"] for item in admin.json("logs", *flags)["items"]]

    # Audit rows are written in batches off the request path: poll for both.
    wait_for(lambda: {"masked_people", "clear_people"} <= set(tools()), timeout=10, what="the audit rows")
    assert "masked_people" in tools("--redacted") and "clear_people" not in tools("--redacted")
    assert "clear_people" in tools("--not-redacted") and "masked_people" not in tools("--not-redacted")
    assert {"masked_people", "clear_people"} <= set(tools("--not-retried"))  # each answered at the first request
    assert tools("--retried") == []
    masked = next(i for i in admin.json("logs", "--redacted")["items"] if i["tool_name"] == "masked_people")
    assert (masked["redactions"], masked["attempts"]) == ("email:4", 1)
