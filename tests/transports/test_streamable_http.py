"""Streamable HTTP at /mcp on a real gunicorn+gevent gateway: both eras, auth, origin, sessions, streams."""

from __future__ import annotations

import base64
import json
import weakref

import anyio
import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.catalog import add_endpoint
from tests.support.http_gateway import (
    BILLING,
    DISABLED,
    EXPIRED,
    METRICS_AUTH,
    WEATHER,
    SseReader,
    audit_rows_for,
    initialize,
    mcp_headers,
    start_http_gateway,
    stateless_meta,
    stop_http_gateway,
)
from tests.support.http_streams import wait_listed_everywhere
from tests.support.upstream import echo
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("streamable"))
    yield gateway
    stop_http_gateway(gateway)


def _post(gw, body, token=WEATHER, **headers):
    return requests.post(gw.url + "/mcp", headers=mcp_headers(token, **headers), data=json.dumps(body), timeout=15)


def _call(gw, session_id, name, arguments, id=2, token=WEATHER, version="2025-11-25"):
    return _post(
        gw,
        {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}},
        token,
        **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": version},
    )


# -- authentication ----------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "unknown_token_000000000000000001", DISABLED, EXPIRED])
def test_requests_without_a_valid_token_get_401_pointing_at_resource_metadata(gw, token):
    response = _post(gw, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, token)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="{gw.url}/.well-known/oauth-protected-resource"'
    )
    assert "token" in response.json()["message"]


def test_a_token_in_the_query_string_is_never_accepted(gw):
    response = requests.post(
        gw.url + f"/mcp?access_token={WEATHER}",
        headers=mcp_headers(None),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=10,
    )
    assert response.status_code == 401


def test_protected_resource_metadata_is_served(gw):
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        doc = requests.get(gw.url + path, timeout=10).json()
        assert doc["resource"] == gw.url + "/mcp"
        assert doc["bearer_methods_supported"] == ["header"]


# -- transport hygiene -------------------------------------------------------------


def test_a_foreign_origin_is_refused_and_allowed_ones_pass(gw):
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    assert _post(gw, body, Origin="https://evil.example").status_code == 403
    assert _post(gw, body, Origin="null").status_code == 403
    assert _post(gw, body, Origin="https://portal.example").status_code == 200
    assert _post(gw, body, Origin=gw.url).status_code == 200


def test_a_foreign_host_on_a_loopback_binding_is_refused(gw):
    response = _post(gw, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, Host="attacker.example")
    assert response.status_code == 421


def test_accept_must_list_json_and_event_stream(gw):
    response = requests.post(
        gw.url + "/mcp",
        headers={**mcp_headers(), "Accept": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        timeout=10,
    )
    assert response.status_code == 406


def test_bodies_over_the_limit_get_413_and_wrong_content_types_415(gw):
    huge = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "x" * 70_000}}
    assert _post(gw, huge).status_code == 413
    response = requests.post(
        gw.url + "/mcp", headers={**mcp_headers(), "Content-Type": "text/plain"}, data="{}", timeout=10
    )
    assert response.status_code == 415


def test_a_chunked_body_over_the_limit_gets_413(gw):
    def chunks():
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"pad": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}}'

    # No Content-Length: the limit is enforced on what actually arrives.
    response = requests.post(gw.url + "/mcp", headers=mcp_headers(), data=chunks(), timeout=10)
    assert response.status_code == 413 and "65536" in response.json()["message"]


def test_other_methods_get_405_with_allow_and_options_lists_them(gw):
    response = requests.put(gw.url + "/mcp", headers=mcp_headers(), data="{}", timeout=10)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, POST, DELETE"
    assert response.json()["error"] == "method_not_allowed"
    response = requests.options(gw.url + "/mcp", timeout=10)
    assert response.status_code == 204 and response.headers["Allow"] == "GET, POST, DELETE"


def test_refused_requests_are_counted_in_metrics(gw):
    def refused() -> float:
        text = requests.get(gw.url + "/metrics", headers=METRICS_AUTH, timeout=10).text
        prefix = 'mcp_http_rejected_requests_total{method="POST",status="401",transport="streamable_http"} '
        return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))

    before = refused()
    for _ in range(3):
        assert _post(gw, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, None).status_code == 401
    assert refused() == before + 3


def test_malformed_json_is_a_parse_error_with_400(gw):
    response = requests.post(gw.url + "/mcp", headers=mcp_headers(), data="{oops", timeout=10)
    assert response.status_code == 400 and response.json()["error"]["code"] == -32700


# -- handshake era -------------------------------------------------------------------


def test_handshake_session_lifecycle(gw):
    session_id = initialize(gw.url)
    assert len(session_id) >= 32 and all(0x21 <= ord(c) <= 0x7E for c in session_id)
    listed = _post(
        gw,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"},
    )
    assert [t["name"] for t in listed.json()["result"]["tools"]] == [
        "weather_get_forecast",
        "weather_get_station",
        "weather_slow_report",
    ]
    called = _call(gw, session_id, "weather_get_station", {"id": "../x"})
    assert called.json()["result"]["structuredContent"]["path"] == "/stations/../x"
    assert gw.upstream.seen[-1].path == "/stations/..%2Fx"
    notification = _post(
        gw,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"},
    )
    assert notification.status_code == 202 and notification.content == b""
    ended = requests.delete(gw.url + "/mcp", headers=mcp_headers(**{"Mcp-Session-Id": session_id}), timeout=10)
    assert ended.status_code == 204

    # At once on the worker that took the DELETE, within SESSION_CACHE_SECONDS (0.25 s) on the other;
    # after that every worker refuses it, over fresh connections (either worker may take them).
    def refused_everywhere():
        return all(
            requests.post(
                gw.url + "/mcp",
                timeout=10,
                data=json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
                headers=mcp_headers(**{"Mcp-Session-Id": session_id, "Connection": "close"}),
            ).status_code
            == 404
            for _ in range(10)
        )

    wait_for(refused_everywhere, timeout=5, interval=0.1, what="the ended session to be refused by every worker")


def test_session_rules_missing_unknown_and_foreign(gw):
    missing = _post(gw, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    assert missing.status_code == 400
    unknown = _post(gw, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, **{"Mcp-Session-Id": "no-such-session"})
    assert unknown.status_code == 404
    session_id = initialize(gw.url, WEATHER)
    foreign = _post(gw, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, BILLING, **{"Mcp-Session-Id": session_id})
    assert foreign.status_code == 404
    bad_version = _post(
        gw,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "1999-01-01"},
    )
    assert bad_version.status_code == 400


def test_scopes_apply_over_http_exactly_as_over_stdio(gw):
    session_id = initialize(gw.url, WEATHER)
    denied = _call(gw, session_id, "billing_get_invoice", {"id": "1"})
    unknown = _call(gw, session_id, "nope_nothing", {})
    assert denied.status_code == 200 and denied.json()["error"]["code"] == -32601
    assert unknown.json()["error"]["code"] == -32602


def test_a_streamed_call_sends_progress_while_the_upstream_is_slow(gw):
    session_id = initialize(gw.url)
    gw.release.clear()
    response = requests.post(
        gw.url + "/mcp",
        stream=True,
        timeout=30,
        headers=mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
        json={
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/call",
            "params": {"name": "weather_slow_report", "arguments": {}, "_meta": {"progressToken": "p-1"}},
        },
    )
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = SseReader(response)
    progress = [json.loads(reader.next()[1]) for _ in range(3)]  # start + two waits while the upstream hangs
    gw.release.set()
    events = []
    while True:
        message = json.loads(reader.next()[1])
        events.append(message)
        if "id" in message:
            break
    assert all(p["method"] == "notifications/progress" and p["params"]["progressToken"] == "p-1" for p in progress)
    values = [p["params"]["progress"] for p in progress] + [e["params"]["progress"] for e in events[:-1]]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert events[-2]["params"]["total"] == events[-2]["params"]["progress"]
    assert events[-1]["id"] == 9 and events[-1]["result"]["structuredContent"] == {"slow": "done"}


def test_the_standalone_stream_hears_list_changed_when_an_endpoint_is_added(gw):
    session_id = initialize(gw.url)
    response = requests.get(
        gw.url + "/mcp",
        stream=True,
        timeout=30,
        headers=mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
    )
    assert response.status_code == 200
    reader = SseReader(response)
    wait_for(lambda: reader.comments >= 1, what="the stream to open")
    add_endpoint(gw.app, gw.weather_connection, "get_alerts", "/alerts")
    _event, data = reader.next(timeout=10)
    assert json.loads(data) == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    wait_for(lambda: reader.comments >= 3, what="keep-alive comments")  # SSE_KEEPALIVE_SECONDS=0.5
    reader.close()


# -- stateless 2026-07-28 era --------------------------------------------------------


def _stateless(gw, method, params=None, token=WEATHER, id=1, **headers):
    body = {"jsonrpc": "2.0", "id": id, "method": method, "params": {**(params or {}), "_meta": stateless_meta()}}
    base = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
    if method == "tools/call":
        base["Mcp-Name"] = body["params"]["name"]
    base.update(headers)
    return _post(gw, body, token, **{k: v for k, v in base.items() if v is not None})


def test_stateless_requests_need_no_session(gw):
    discover = _stateless(gw, "server/discover")
    assert "2026-07-28" in discover.json()["result"]["supportedVersions"]
    listed = _stateless(gw, "tools/list")
    result = listed.json()["result"]
    assert result["cacheScope"] == "private" and result["resultType"] == "complete"
    assert "Mcp-Session-Id" not in listed.headers
    called = _stateless(gw, "tools/call", {"name": "weather_get_station", "arguments": {"id": "7"}})
    assert called.json()["result"]["structuredContent"]["path"] == "/stations/7"


def test_stateless_header_body_mismatches_are_rejected(gw):
    cases = [
        {"MCP-Protocol-Version": None},
        {"MCP-Protocol-Version": "2025-11-25"},
        {"Mcp-Method": None},
        {"Mcp-Method": "tools/list"},
        {"Mcp-Name": "weather_get_forecast"},
        {"Mcp-Name": None},
    ]
    for headers in cases:
        response = _stateless(gw, "tools/call", {"name": "weather_get_station", "arguments": {"id": "1"}}, **headers)
        assert response.status_code == 400, headers
        assert response.json()["error"]["code"] == -32020, headers
    encoded = "=?base64?" + base64.b64encode(b"weather_get_station").decode() + "?="
    ok = _stateless(
        gw, "tools/call", {"name": "weather_get_station", "arguments": {"id": "1"}}, **{"Mcp-Name": encoded}
    )
    assert ok.status_code == 200 and "result" in ok.json()


def test_stateless_unknown_methods_are_404_and_unknown_versions_400(gw):
    unknown = _stateless(gw, "prompts/list")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == -32601
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": stateless_meta("2099-01-01")}}
    bad = _post(gw, body, **{"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == -32022
    assert "2026-07-28" in bad.json()["error"]["data"]["supported"]


@pytest.mark.parametrize(
    "params",
    [{}, {"_meta": {"io.modelcontextprotocol/clientCapabilities": {}}}],
    ids=["no-meta", "meta-without-version"],
)
def test_a_2026_request_whose_meta_lacks_the_protocol_version_gets_invalid_params_400(gw, params):
    """2026-07-28 requires `_meta` with io.modelcontextprotocol/protocolVersion on every request;
    without it the params are invalid: -32602 with HTTP 400 (the conformance suite's
    sep-2575-request-meta-invalid-* checks), not a header mismatch."""
    body = {"jsonrpc": "2.0", "id": 101, "method": "server/discover", "params": params}
    response = _post(gw, body, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"})
    assert response.status_code == 400
    assert response.json()["id"] == 101 and response.json()["error"]["code"] == -32602


@pytest.mark.parametrize("method", ["initialize", "ping", "logging/setLevel", "resources/subscribe"])
def test_methods_removed_in_2026_07_28_get_404_method_not_found_in_that_era(gw, method):
    """The 2026-07-28 Streamable HTTP binding: a method the server does not implement gets
    404 Not Found and -32601; at that revision these methods no longer exist."""
    params = {"protocolVersion": "2025-11-25", "capabilities": {}} if method == "initialize" else {}
    response = _stateless(gw, method, params, id=500)
    assert response.status_code == 404
    assert response.json()["id"] == 500 and response.json()["error"]["code"] == -32601
    assert "Mcp-Session-Id" not in response.headers


def test_a_2026_notification_without_mcp_method_is_accepted(gw):
    """The revision's header rules (Mcp-Method, the mirrored _meta version) are for requests."""
    for body in (
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9, "_meta": stateless_meta()}},
    ):
        response = _post(gw, body, **{"MCP-Protocol-Version": "2026-07-28"})
        assert response.status_code == 202, (body, response.text)


# The module's gateway is shared: the tool is registered once per gateway. Keyed by the gateway, not the
# process: under xdist's worksteal a module's tests may run in one worker around another module's, and its
# module-scoped gateway is then stopped and started again, empty (a process-wide set skipped the new one).
_REGISTERED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _tenant_tool(gw):
    """An endpoint whose `tenant` parameter the admin marked as mirrored into Mcp-Param-Tenant."""
    name = "weather_tenant_report"
    if name not in _REGISTERED.setdefault(gw.server, set()):
        gw.upstream.route("/tenant-report", echo)
        schema = {
            "type": "object",
            "required": ["tenant"],
            "properties": {"tenant": {"type": "string", "x-mcp-header": "Tenant"}, "days": {"type": "integer"}},
        }
        add_endpoint(gw.app, gw.weather_connection, "tenant_report", "/tenant-report", schema=schema)
        _REGISTERED[gw.server].add(name)

        # Every worker's catalogue must have it, not just the one that answers a first listing.
        wait_listed_everywhere(gw.url, WEATHER, lambda names: name in names, what="the tenant tool on every worker")
    return name


def test_a_parameter_marked_x_mcp_header_is_listed_with_its_mark(gw):
    name = _tenant_tool(gw)
    tools = _stateless(gw, "tools/list").json()["result"]["tools"]
    tool = next(t for t in tools if t["name"] == name)
    assert tool["inputSchema"]["properties"]["tenant"]["x-mcp-header"] == "Tenant"


def test_mcp_param_headers_must_match_the_arguments_they_mirror(gw):
    """SEP-2243: the header is required when the argument is present, and must equal it
    (literally or as =?base64?...?=); otherwise 400 with -32020 and the upstream never sees it."""
    name = _tenant_tool(gw)
    call = {"name": name, "arguments": {"tenant": "acme", "days": 3}}
    seen_before = len(gw.upstream.seen)
    refused = [
        _stateless(gw, "tools/call", call),  # header missing
        _stateless(gw, "tools/call", call, **{"Mcp-Param-Tenant": "globex"}),
        _stateless(gw, "tools/call", call, **{"Mcp-Param-Tenant": "=?base64?YWNtZQ?="}),  # bad padding
        _stateless(gw, "tools/call", {"name": name, "arguments": {"days": 3}}, **{"Mcp-Param-Tenant": "acme"}),
    ]
    for response in refused:
        assert response.status_code == 400 and response.json()["error"]["code"] == -32020, response.text
    assert len(gw.upstream.seen) == seen_before
    for header in ("acme", "acme \t", "=?base64?" + base64.b64encode(b"acme").decode() + "?="):
        ok = _stateless(gw, "tools/call", call, **{"Mcp-Param-Tenant": header})
        assert ok.status_code == 200 and "result" in ok.json(), (header, ok.text)
        assert ok.json()["result"]["structuredContent"]["path"] == "/tenant-report"


def test_mcp_param_headers_are_not_checked_in_the_handshake_era_or_for_unmarked_tools(gw):
    name = _tenant_tool(gw)
    session_id = initialize(gw.url)
    old = _call(gw, session_id, name, {"tenant": "acme"})
    assert old.status_code == 200 and "result" in old.json()
    plain = _stateless(
        gw, "tools/call", {"name": "weather_get_station", "arguments": {"id": "7"}}, **{"Mcp-Param-Tenant": "whatever"}
    )
    assert plain.status_code == 200 and "result" in plain.json()


def test_stateless_clients_get_405_for_get_and_delete(gw):
    for method in ("get", "delete"):
        response = requests.request(
            method, gw.url + "/mcp", timeout=10, headers=mcp_headers(**{"MCP-Protocol-Version": "2026-07-28"})
        )
        assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_subscriptions_listen_carries_list_changed(gw):
    body = {
        "jsonrpc": "2.0",
        "id": "sub-1",
        "method": "subscriptions/listen",
        "params": {"notifications": {"toolsListChanged": True, "promptsListChanged": True}, "_meta": stateless_meta()},
    }
    response = requests.post(
        gw.url + "/mcp",
        stream=True,
        timeout=30,
        data=json.dumps(body),
        headers=mcp_headers(**{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "subscriptions/listen"}),
    )
    reader = SseReader(response)
    ack = json.loads(reader.next()[1])
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["notifications"] == {"toolsListChanged": True}  # no prompts here
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
    add_endpoint(gw.app, gw.weather_connection, "get_radar", "/radar")
    note = json.loads(reader.next(timeout=10)[1])
    assert note["method"] == "notifications/tools/list_changed"
    assert note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub-1"
    reader.close()


# -- the official SDK client -----------------------------------------------------------


def _sdk(gw, mode, token, body):
    async def main():
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(gw.url + "/mcp", http_client=http), mode=mode) as client,
        ):
            return await body(client)

    return anyio.run(main)


@pytest.mark.parametrize("mode, version", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_the_sdk_client_lists_and_calls_over_streamable_http(gw, mode, version):
    async def body(client):
        listed = await client.list_tools()
        result = await client.call_tool("weather_get_forecast", {"latitude": 1.5, "longitude": 2})
        return client.protocol_version, listed, result

    negotiated, listed, result = _sdk(gw, mode, WEATHER, body)
    assert negotiated == version
    names = [t.name for t in listed.tools]
    assert "weather_get_forecast" in names and not any(n.startswith("billing_") for n in names)
    assert result.structured_content["args"] == {"latitude": ["1.5"], "longitude": ["2"]}


def test_the_sdk_client_without_a_token_fails_and_out_of_scope_calls_are_errors(gw):
    async def list_only(client):
        return await client.list_tools()

    with pytest.raises(Exception) as no_token:
        _sdk(gw, "legacy", None, list_only)
    # The SDK reports an HTTP error status this way (the 401 itself is asserted on raw requests above).
    assert "Server returned an error response" in repr(no_token.value), repr(no_token.value)

    async def call_billing(client):
        return await client.call_tool("billing_get_invoice", {"id": "1"})

    with pytest.raises(Exception) as excinfo:
        _sdk(gw, "legacy", WEATHER, call_billing)
    assert "-32601" in repr(excinfo.value) or "not available" in str(excinfo.value)


def test_a_hanging_upstream_ties_up_only_its_own_greenlet(tmp_path):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    single = start_http_gateway(tmp_path, WEB_CONCURRENCY="1")
    try:
        session_id = initialize(single.url)
        single.release.clear()
        slow = threading.Thread(target=_call, args=(single, session_id, "weather_slow_report", {}), daemon=True)
        slow.start()
        wait_for(lambda: any(s.path == "/slow" for s in single.upstream.seen), what="the slow call to hang upstream")
        with ThreadPoolExecutor(8) as pool:
            results = list(
                pool.map(
                    lambda i: _call(single, session_id, "weather_get_station", {"id": str(i)}, id=i + 10), range(40)
                )
            )
        assert all(r.json()["result"]["structuredContent"]["path"] == f"/stations/{i}" for i, r in enumerate(results))
        assert slow.is_alive()  # still waiting upstream while 40 others were served by the same worker
        metrics = requests.get(single.url + "/metrics", headers=METRICS_AUTH, timeout=10)
        assert metrics.status_code == 200 and "mcp_tool_execution_count_total" in metrics.text
    finally:
        single.release.set()
        stop_http_gateway(single)


def test_clients_carry_on_across_a_gateway_restart(tmp_path):
    from tests.support.server import GatewayServer

    gateway = start_http_gateway(tmp_path)
    try:
        session_id = initialize(gateway.url)
        before = _call(gateway, session_id, "weather_get_station", {"id": "a"})
        assert before.status_code == 200
        gateway.server.stop()
        restarted = GatewayServer(
            gateway.server.env["DATABASE_PATH"],
            PORT=str(gateway.server.port),
            **{
                k: v
                for k, v in gateway.server.env.items()
                if k in ("WEB_CONCURRENCY", "SSE_KEEPALIVE_SECONDS", "CATALOG_REFRESH_SECONDS")
            },
        ).start()
        gateway.server = restarted
        # Sessions live in the database: the old one still works, and a new client negotiates a new one.
        assert _call(gateway, session_id, "weather_get_station", {"id": "b"}).json()["result"]["isError"] is False

        async def body(client):
            return await client.call_tool("weather_get_station", {"id": "c"})

        result = _sdk(gateway, "legacy", WEATHER, body)
        assert result.structured_content["path"] == "/stations/c"
    finally:
        stop_http_gateway(gateway)


# -- input that has no UTF-8 form (issue 10, item 9) ----------------------------------------------


def test_a_lone_surrogate_in_a_tool_name_or_arguments_gets_invalid_params_and_an_audit_row(gw):
    session_id = initialize(gw.url)
    seen_before = len(gw.upstream.seen)
    bad_arguments = _call(gw, session_id, "weather_get_station", {"id": "\ud800"}, id=41)
    bad_name = _call(gw, session_id, "weather_get_\udc00", {}, id=42)
    bad_id = _post(
        gw,
        {"jsonrpc": "2.0", "id": "\ud83d", "method": "ping"},
        WEATHER,
        **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"},
    )

    assert bad_arguments.status_code == 200 and bad_arguments.json()["id"] == 41
    assert bad_arguments.json()["error"]["code"] == -32602 and "surrogate" in bad_arguments.json()["error"]["message"]
    assert bad_name.status_code == 200 and bad_name.json()["error"]["code"] == -32602
    # Even an id with no UTF-8 form is answered: with its JSON escape, as it was sent.
    assert bad_id.status_code == 200 and b'"id":"\\ud83d"' in bad_id.content and bad_id.json()["result"] == {}
    # The stateless era answers the same refusal with HTTP 400.
    stateless = _stateless(gw, "tools/call", {"name": "weather_get_station", "arguments": {"id": "x\udbff"}}, id=43)
    assert stateless.status_code == 400 and stateless.json()["error"]["code"] == -32602
    assert len(gw.upstream.seen) == seen_before  # nothing went upstream
    rows = audit_rows_for(gw, "streamable_http", "surrogate", 3)
    # Sorted: each gunicorn worker writes its own audit batches, so row order is not request order.
    assert sorted((r.tool_name, r.status, r.token_name) for r in rows) == [
        ("weather_get_station", "failure", "Weather Team Token"),
        ("weather_get_station", "failure", "Weather Team Token"),
        ("weather_get_\ufffd", "failure", "Weather Team Token"),
    ]
    assert "Traceback" not in gw.server.log


def test_a_tools_call_refused_by_the_transport_before_the_core_is_still_audited(gw):
    """Every tool-call attempt is audited: a header mismatch, a missing or unknown session and an
    unsupported version are refused before the core runs, and each still leaves a failure row."""
    seen_before = len(gw.upstream.seen)
    name = "weather_refusal_probe"  # this test's own rows: the module's gateway is shared
    call = {"name": name, "arguments": {"id": "KSFO"}}
    mismatch = _stateless(gw, "tools/call", call, id=51, **{"Mcp-Name": "weather_other_tool"})
    no_session = _post(
        gw,
        {"jsonrpc": "2.0", "id": 52, "method": "tools/call", "params": call},
        WEATHER,
        **{"MCP-Protocol-Version": "2025-11-25"},
    )
    unknown_session = _post(
        gw,
        {"jsonrpc": "2.0", "id": 53, "method": "tools/call", "params": call},
        WEATHER,
        **{"Mcp-Session-Id": "no-such-session", "MCP-Protocol-Version": "2025-11-25"},
    )
    bad_version = _post(
        gw,
        {"jsonrpc": "2.0", "id": 54, "method": "tools/call", "params": call},
        WEATHER,
        **{"Mcp-Session-Id": initialize(gw.url), "MCP-Protocol-Version": "1999-01-01"},
    )

    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == -32020
    assert (no_session.status_code, unknown_session.status_code, bad_version.status_code) == (400, 404, 400)
    assert len(gw.upstream.seen) == seen_before

    def ours():
        rows = [r for r in audit_rows_for(gw, "streamable_http", "refused by the transport", 0) if r.tool_name == name]
        return rows if len(rows) >= 4 else None

    rows = wait_for(ours, what="4 audit rows of refused calls")
    assert sorted(r.error_message for r in rows) == [
        "refused by the transport (HTTP 400)",
        "refused by the transport (HTTP 400)",
        "refused by the transport (HTTP 400)",
        "refused by the transport (HTTP 404)",
    ]
    assert {(r.status, r.token_name) for r in rows} == {("failure", "Weather Team Token")}


def test_after_a_delete_answers_no_worker_serves_the_session_any_more(gw):
    """Each worker caches a live session briefly (SESSION_CACHE_SECONDS); a request right after the
    DELETE's 204 that lands on another worker must still find the session ended (404), as the
    conformance scenario server-session-lifecycle checks."""
    headers = {"MCP-Protocol-Version": "2025-11-25"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    for _round in range(4):
        session_id = initialize(gw.url)
        for _ in range(6):  # fresh connections: both workers read (and cache) the live session
            assert _post(gw, ping, WEATHER, **headers, **{"Mcp-Session-Id": session_id}).status_code == 200
        deleted = requests.delete(
            gw.url + "/mcp", timeout=15, headers=mcp_headers(WEATHER, **headers, **{"Mcp-Session-Id": session_id})
        )
        assert deleted.status_code == 204
        after = [_post(gw, ping, WEATHER, **headers, **{"Mcp-Session-Id": session_id}).status_code for _ in range(6)]
        assert after == [404] * 6
