"""/mcp as mounted beside Flask: the rest of the app is untouched and failures never leak a traceback."""

from __future__ import annotations

import logging

from janus.transports import streamable_http
from tests.support.catalog import add_token

TOKEN = "mount_token_0123456789abcdef0123"


def _headers(**extra):
    return {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        **extra,
    }


def test_mcp_is_served_by_the_mount_and_other_paths_by_flask(sqlite_app):
    add_token(sqlite_app, "mount", TOKEN, "*")
    client = sqlite_app.test_client()
    reply = client.post(
        "/mcp",
        headers=_headers(),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )
    assert reply.status_code == 200 and reply.headers["Mcp-Session-Id"]
    assert reply.json["result"]["protocolVersion"] == "2025-11-25"
    assert client.get("/healthz").json["status"] == "ok"
    assert client.get("/mcp/extra").status_code == 404  # only the exact path is mounted


def test_an_unexpected_error_is_a_json_rpc_500_without_a_traceback(sqlite_app, monkeypatch, caplog):
    add_token(sqlite_app, "mount", TOKEN, "*")

    def explode(rt, req):
        raise RuntimeError("secret-ish internal detail")

    monkeypatch.setattr(streamable_http, "post", explode)
    with caplog.at_level(logging.ERROR, logger="janus.transports.streamable_http"):
        reply = sqlite_app.test_client().post(
            "/mcp", headers=_headers(), json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        )
    assert reply.status_code == 500
    assert reply.json["error"]["code"] == -32603 and "internal detail" not in reply.get_data(as_text=True)
    assert "Traceback" not in reply.get_data(as_text=True)
    assert any("unhandled error on POST /mcp" in r.getMessage() for r in caplog.records)  # the log has it


def test_every_mcp_response_carries_the_baseline_security_headers(sqlite_app):
    """As every response Flask serves does (the README's promise): answers, refusals and preflights alike."""
    from janus.auth.response_headers import BASELINE_HEADERS

    add_token(sqlite_app, "mount", TOKEN, "*")
    client = sqlite_app.test_client()
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    replies = [
        client.post("/mcp", headers=_headers(), json=initialize),  # answered
        client.post("/mcp", headers={"Accept": "application/json, text/event-stream"}, json=ping),  # 401
        client.open("/mcp", method="OPTIONS"),  # preflight
        client.put("/mcp", headers=_headers(), json=ping),  # 405
    ]
    for reply in replies:
        assert {name: reply.headers.get(name) for name, _ in BASELINE_HEADERS} == dict(BASELINE_HEADERS), (
            reply.status_code
        )
    assert [r.status_code for r in replies] == [200, 401, 204, 405]
