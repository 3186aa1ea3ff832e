"""Tools over REST and the built-in admin tools, on a real gunicorn+gevent gateway."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import select

from janus.extensions import db
from janus.models import AdminAuditLog, Connection, ToolCallLog
from tests.support.http_gateway import (
    ADMIN,
    ADMIN_DEV_ROLE,
    BILLING,
    WEATHER,
    audit_rows_for,
    initialize,
    mcp_headers,
    start_http_gateway,
    stop_http_gateway,
)
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("rest"))
    yield gateway
    stop_http_gateway(gateway)


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_openapi_lists_exactly_the_callers_tools(gw):
    doc = requests.get(gw.url + "/api/openapi.json", headers=_auth(WEATHER), timeout=10).json()
    assert doc["openapi"].startswith("3.")
    assert sorted(doc["paths"]) == [
        "/api/tools/weather_get_forecast",
        "/api/tools/weather_get_station",
        "/api/tools/weather_slow_report",
    ]
    op = doc["paths"]["/api/tools/weather_get_forecast"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["required"] == ["latitude", "longitude"]
    assert doc["servers"] == [{"url": gw.url}]
    assert requests.get(gw.url + "/api/openapi.json", timeout=10).status_code == 401


def test_rest_calls_share_scopes_validation_and_audit_with_mcp(gw):
    ok = requests.post(gw.url + "/api/tools/weather_get_station", json={"id": "r1"}, headers=_auth(WEATHER), timeout=10)
    assert ok.status_code == 200 and ok.json()["structuredContent"]["path"] == "/stations/r1"
    invalid = requests.post(
        gw.url + "/api/tools/weather_get_forecast", json={"latitude": "x"}, headers=_auth(WEATHER), timeout=10
    )
    assert invalid.status_code == 200 and invalid.json()["isError"] is True
    out_of_scope = requests.post(
        gw.url + "/api/tools/billing_get_invoice", json={"id": "1"}, headers=_auth(WEATHER), timeout=10
    )
    assert out_of_scope.status_code == 404
    unknown = requests.post(gw.url + "/api/tools/nope_x", json={}, headers=_auth(WEATHER), timeout=10)
    assert unknown.status_code == 404
    not_object = requests.post(
        gw.url + "/api/tools/weather_get_station", data="[1]", headers=_auth(WEATHER), timeout=10
    )
    assert not_object.status_code == 400 and not_object.json()["error"] == "bad_request"

    def audited():
        with gw.app.app_context():
            rows = db.session.scalars(select(ToolCallLog).where(ToolCallLog.transport == "rest")).all()
            db.session.remove()
        return {(r.tool_name, r.status) for r in rows} >= {
            ("weather_get_station", "success"),
            ("billing_get_invoice", "denied"),
        }

    wait_for(audited, timeout=10, what="the REST calls' audit rows")  # written in batches off the request path


def _mcp_call(gw, token, name, arguments):
    session_id = initialize(gw.url, token)
    response = requests.post(
        gw.url + "/mcp",
        timeout=15,
        headers=mcp_headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
        data=json.dumps(
            {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        ),
    )
    return response.json()


def _mcp_list(gw, token):
    session_id = initialize(gw.url, token)
    response = requests.post(
        gw.url + "/mcp",
        timeout=15,
        headers=mcp_headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
        data=json.dumps({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    return [t["name"] for t in response.json()["result"]["tools"]]


def test_admin_tools_exist_only_for_admin_role_tokens_with_admin_scopes(gw):
    admin_names = _mcp_list(gw, ADMIN)
    assert "admin_add_connection" in admin_names and "admin_list_audit_logs" in admin_names
    assert "weather_get_forecast" in admin_names and admin_names == sorted(admin_names)
    for token in (WEATHER, BILLING, ADMIN_DEV_ROLE):
        assert not any(n.startswith("admin_") for n in _mcp_list(gw, token))
        denied = _mcp_call(gw, token, "admin_list_connections", {})
        assert denied["error"]["code"] == -32601


def test_admin_tools_run_the_services_with_the_token_as_actor(gw):
    added = _mcp_call(
        gw, ADMIN, "admin_add_connection", {"name": "Dogs", "base_url": gw.upstream.url, "prefix": "dog_"}
    )
    assert added["result"]["isError"] is False
    conn_id = added["result"]["structuredContent"]["id"]
    clash = _mcp_call(
        gw, ADMIN, "admin_add_connection", {"name": "Dogs 2", "base_url": gw.upstream.url, "prefix": "dog_x_"}
    )
    assert (
        clash["result"]["isError"] is True and "clashes with connection 'Dogs'" in clash["result"]["content"][0]["text"]
    )
    ep = _mcp_call(
        gw,
        ADMIN,
        "admin_add_endpoint",
        {"connection_id": conn_id, "tool_name": "random_image", "path_template": "/breeds/image/random"},
    )
    assert ep["result"]["structuredContent"]["exposed_name"] == "dog_random_image"
    bad = _mcp_call(gw, ADMIN, "admin_add_endpoint", {"connection_id": conn_id})
    assert (
        bad["result"]["isError"] is True and "'tool_name' is a required property" in bad["result"]["content"][0]["text"]
    )
    with gw.app.app_context():
        actors = {r.actor for r in db.session.scalars(select(AdminAuditLog).where(AdminAuditLog.target_id == conn_id))}
        assert actors == {"token:Ops Admin"}
        assert db.session.get(Connection, conn_id).prefix == "dog_"


def test_a_lone_surrogate_in_the_arguments_gets_400_and_an_audit_row(gw):
    seen_before = len(gw.upstream.seen)
    response = requests.post(
        gw.url + "/api/tools/weather_get_station",
        data='{"id": "\\ud800"}',
        headers={**_auth(WEATHER), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"] == "bad_request"
    assert "surrogate" in response.json()["message"]
    assert len(gw.upstream.seen) == seen_before
    rows = audit_rows_for(gw, "rest", "surrogate", 1)
    assert [(r.tool_name, r.status, r.token_name) for r in rows] == [
        ("weather_get_station", "failure", "Weather Team Token")
    ]
    assert "Traceback" not in gw.server.log


@pytest.mark.parametrize("depth", [1_000, 30_000])  # 30 000 levels stay under MAX_REQUEST_BYTES
def test_deeply_nested_arguments_get_400_not_500(gw, depth):
    body = '{"id": ' + "[" * depth + "]" * depth + "}"
    response = requests.post(
        gw.url + "/api/tools/weather_get_station",
        data=body,
        headers={**_auth(WEATHER), "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "the body is not valid JSON (or is nested too deeply); send a JSON object of tool arguments",
    }
    assert "RecursionError" not in gw.server.log
