"""A change made through one worker is usable at once on the others, even between their periodic checks.

Each gunicorn worker keeps its catalogue fresh from a greenlet of its own every CATALOG_REFRESH_SECONDS
(janus/gateway/catalog.py, start_refresher); a token or tool the worker does not know yet is looked up again
at once (Catalog.after_miss). Here the period is 30 s, so only that second look can explain a success."""

from __future__ import annotations

import pytest
import requests

from tests.support.http_gateway import initialize, mcp_headers, start_http_gateway, stop_http_gateway

PASSWORD = "catalog freshness test password 42"
ATTEMPTS = 8  # fresh connections: gunicorn hands each to either worker


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gw = start_http_gateway(
        tmp_path_factory.mktemp("freshness"),
        WEB_CONCURRENCY="2",
        CATALOG_REFRESH_SECONDS="30",
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=PASSWORD,
    )
    login = requests.post(gw.url + "/api/v1/login", json={"username": "admin", "password": PASSWORD}, timeout=30)
    gw.admin = {"Authorization": "Bearer " + login.json()["token"]}
    for _ in range(ATTEMPTS):  # every worker loads its catalogue now, before the changes under test
        initialize(gw.url)
    yield gw
    stop_http_gateway(gw)


def test_a_token_issued_a_moment_ago_is_accepted_by_every_worker(gateway):
    issued = requests.post(
        gateway.url + "/api/v1/tokens", headers=gateway.admin, json={"name": "fresh", "scopes": "weather_*"}, timeout=30
    )
    assert issued.status_code == 201, issued.text
    value = issued.json()["token"]
    for _ in range(ATTEMPTS):
        initialize(gateway.url, value)  # raises on anything but a 200 with a session


def test_a_tool_saved_a_moment_ago_is_callable_on_every_worker(gateway):
    created = requests.post(
        gateway.url + "/api/v1/endpoints",
        headers=gateway.admin,
        json={
            "connection_id": gateway.weather_connection,
            "tool_name": "get_fresh_station",
            "method": "GET",
            "path_template": "/stations/{{id}}",
            "input_schema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    for _ in range(ATTEMPTS):
        session_id = initialize(gateway.url)
        reply = requests.post(
            gateway.url + "/mcp",
            headers=mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "weather_get_fresh_station", "arguments": {"id": "7"}},
            },
            timeout=30,
        )
        assert reply.status_code == 200 and reply.json()["result"]["isError"] is False, reply.text
