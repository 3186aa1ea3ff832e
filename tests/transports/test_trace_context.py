"""Traces over real HTTP: a gunicorn+gevent gateway with OTEL_EXPORTER_OTLP_ENDPOINT exports its tool-call
spans to a real OTLP/HTTP collector on 127.0.0.1, continues the caller's trace (header or _meta), passes
`traceparent` upstream, and the audit row (admin API and portal) names the trace."""

from __future__ import annotations

import json
import re

import pytest
import requests
from sqlalchemy import select

from janus.extensions import db
from janus.models import ClientToken
from janus.vault.local import LocalVault
from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint, update
from tests.support.http_gateway import WEATHER, initialize, mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.otlp_collector import Collector
from tests.support.waiting import wait_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
META_TRACE = "0af7651916cd43dd8448eb211c80319c"
META_SPAN = "b7ad6b7169203331"
SECRET = "upstream-api-key-that-never-leaves-0042"
ARGUMENT = "station-argument-value-31337"


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("traced")
    collector = Collector().start()
    # The secret the connection's bearer comes from, in the vault file the gateway will read.
    LocalVault(tmp / "secrets.json").set("weather/api-key", SECRET)
    gateway = start_http_gateway(
        tmp,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_SERVICE_NAME="janus-e2e",
        OTEL_BSP_SCHEDULE_DELAY="100",  # export within 0.1 s rather than 5 s
        SECRET_CACHE_TTL="0",  # every call reads the vault
    )
    keyed = add_connection(
        gateway.app, "Keyed", gateway.upstream.url, "keyed_", auth_type="bearer", auth_secret_ref="weather/api-key"
    )
    add_endpoint(gateway.app, keyed, "station", "/stations/{{id}}", schema=ID_SCHEMA)
    with gateway.app.app_context():
        token_id = db.session.scalars(select(ClientToken.id).where(ClientToken.name == "Weather Team Token")).one()
    update(gateway.app, ClientToken, token_id, scopes="weather_*,keyed_*")
    yield gateway, collector
    stop_http_gateway(gateway)
    collector.stop()


def _spans_of(collector, trace_id, count):
    def found():
        spans = [s for s in collector.received() if s.trace_id == trace_id]
        return spans if len(spans) >= count else None

    return wait_for(found, timeout=15, what=f"{count} spans of trace {trace_id}")


def _audit_row(gw, trace_id):
    from sqlalchemy import select

    from janus.extensions import db
    from janus.models import ToolCallLog

    def row():
        with gw.app.app_context():
            found = db.session.scalars(select(ToolCallLog).where(ToolCallLog.trace_id == trace_id)).all()
            db.session.expunge_all()
            db.session.remove()
        return found or None

    return wait_for(row, timeout=10, what=f"the audit row of trace {trace_id}")


def _call_keyed(gw, headers=None, meta=None):
    def attempt():
        session_id = initialize(gw.url)
        params = {"name": "keyed_station", "arguments": {"id": ARGUMENT}}
        if meta:
            params["_meta"] = meta
        response = requests.post(
            gw.url + "/mcp",
            timeout=15,
            headers=mcp_headers(
                WEATHER, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}, **(headers or {})
            ),
            data=json.dumps({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": params}),
        )
        answer = response.json()
        # The catalogue change (the new connection) reaches the workers within CATALOG_REFRESH_SECONDS.
        return answer if "result" in answer else None

    return wait_for(attempt, timeout=10, interval=0.2, what="keyed_station to be callable")


def test_a_call_with_a_traceparent_header_is_exported_as_a_child_of_the_callers_span(traced):
    gw, collector = traced
    answer = _call_keyed(gw, headers={"traceparent": CALLER})
    assert answer["result"]["isError"] is False
    spans = {s.name: s for s in _spans_of(collector, TRACE_ID, 3)}
    assert sorted(spans) == ["GET", "tools/call keyed_station", "vault read"]
    call = spans["tools/call keyed_station"]
    assert call.parent_span_id == CALLER_SPAN
    assert spans["vault read"].parent_span_id == call.span_id == spans["GET"].parent_span_id
    assert call.attributes["gen_ai.tool.name"] == "keyed_station"
    assert call.attributes["janus.connection"] == "Keyed"
    assert call.attributes["janus.call.status"] == "success"
    assert call.attributes["janus.upstream.status_code"] == 200
    assert call.attributes["janus.transport"] == "streamable_http"
    assert call.resource["service.name"] == "janus-e2e"
    # The upstream saw the request span's context, and the bearer from the vault.
    seen = [
        s
        for s in gw.upstream.seen
        if s.path == f"/stations/{ARGUMENT}" and TRACE_ID in s.headers.get("traceparent", "")
    ]
    assert [s.headers["traceparent"] for s in seen] == [f"00-{TRACE_ID}-{spans['GET'].span_id}-01"]
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    exported = collector.raw()
    assert SECRET.encode() not in exported and ARGUMENT.encode() not in exported
    # The audit row names the trace, over the admin API and in the portal.
    [row] = _audit_row(gw, TRACE_ID)
    assert (row.tool_name, row.status, row.http_status) == ("keyed_station", "success", 200)


def test_meta_traceparent_is_continued_and_wins_over_the_header(traced):
    gw, collector = traced
    meta = {"traceparent": f"00-{META_TRACE}-{META_SPAN}-01"}
    _call_keyed(gw, headers={"traceparent": "00-" + "9" * 32 + "-" + "8" * 16 + "-01"}, meta=meta)
    call = next(s for s in _spans_of(collector, META_TRACE, 3) if s.name.startswith("tools/call"))
    assert call.parent_span_id == META_SPAN
    assert not [s for s in collector.received() if s.trace_id == "9" * 32]
    assert _audit_row(gw, META_TRACE)[0].tool_name == "keyed_station"


def test_rest_and_legacy_transports_continue_the_header_too(traced):
    gw, collector = traced
    rest_trace = "1" * 31 + "2"
    reply = requests.post(
        gw.url + "/api/tools/weather_get_station",
        json={"id": "r1"},
        headers={"Authorization": f"Bearer {WEATHER}", "traceparent": f"00-{rest_trace}-{CALLER_SPAN}-01"},
        timeout=10,
    )
    assert reply.status_code == 200
    call = next(s for s in _spans_of(collector, rest_trace, 2) if s.name.startswith("tools/call"))
    assert call.parent_span_id == CALLER_SPAN and call.attributes["janus.transport"] == "rest"
    assert _audit_row(gw, rest_trace)[0].transport == "rest"


def test_a_call_without_trace_context_starts_its_own_trace_and_audits_it(traced):
    gw, collector = traced
    before = {s.trace_id for s in collector.received()}
    reply = requests.post(
        gw.url + "/api/tools/weather_get_station",
        json={"id": "fresh"},
        headers={"Authorization": f"Bearer {WEATHER}"},
        timeout=10,
    )
    assert reply.status_code == 200
    fresh = wait_for(
        lambda: (
            [s for s in collector.received() if s.trace_id not in before and s.name == "tools/call weather_get_station"]
            or None
        ),
        timeout=15,
        what="the new trace's call span",
    )
    assert fresh[0].parent_span_id == ""
    assert _audit_row(gw, fresh[0].trace_id)[0].tool_name == "weather_get_station"


def test_the_admin_api_and_the_portal_show_the_trace_id(traced):
    gw, _ = traced
    _call_keyed(gw, headers={"traceparent": CALLER})
    _audit_row(gw, TRACE_ID)
    with requests.Session() as api:
        login = api.post(
            gw.url + "/api/v1/login", json={"username": "admin", "password": "admin-password-for-tests"}, timeout=10
        )
        assert login.status_code == 200, login.text
        body = api.get(
            gw.url + "/api/v1/audit/tool-calls",
            params={"trace": TRACE_ID},
            headers={"Authorization": f"Bearer {login.json()['token']}"},
            timeout=10,
        ).json()
    assert body["total"] >= 1 and {i["trace_id"] for i in body["items"]} == {TRACE_ID}
    assert {i["tool_name"] for i in body["items"]} == {"keyed_station"}
    with requests.Session() as browser:
        form = browser.get(gw.url + "/login", timeout=10).text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        signed_in = browser.post(
            gw.url + "/login",
            data={"csrf_token": csrf, "username": "admin", "password": "admin-password-for-tests"},
            headers={"Origin": gw.url, "Referer": gw.url + "/login"},
            timeout=10,
        )
        assert signed_in.status_code == 200, signed_in.text[:500]
        page = browser.get(gw.url + "/audit", params={"trace": TRACE_ID}, timeout=10)
    assert page.status_code == 200
    assert f"<code>{TRACE_ID}</code>" in page.text and "keyed_station" in page.text
    assert "weather_get_station" not in page.text.split("<tbody>", 1)[1]  # only this trace's calls


def test_without_the_otel_variables_serving_a_call_loads_no_opentelemetry_module(tmp_path):
    """The whole HTTP app, as a worker builds it, serving a REST tool call with a traceparent: nothing of
    OpenTelemetry is imported (not even through redis-py, which looks for the SDK when it is imported)."""
    script = f"""
import os, sys
for name in [n for n in os.environ if n.startswith("OTEL_")]:
    del os.environ[name]
from tests.conftest import make_app
from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint, add_token
from tests.support.upstream import Upstream, echo
from janus.services.bootstrap import ensure_schema

upstream = Upstream().start()
upstream.route("/stations/", echo)
app = make_app({{"DATABASE_PATH": {str(tmp_path / "off.db")!r}}})
with app.app_context():
    ensure_schema()
conn = add_connection(app, "W", upstream.url, "w_")
add_endpoint(app, conn, "station", "/stations/{{{{id}}}}", schema=ID_SCHEMA)
add_token(app, "T", {WEATHER!r}, "w_*")
reply = app.test_client().post(
    "/api/tools/w_station", json={{"id": "1"}},
    headers={{"Authorization": "Bearer {WEATHER}", "traceparent": {CALLER!r}}},
)
assert reply.status_code == 200, reply.get_data(as_text=True)
assert upstream.seen[-1].headers["traceparent"] == {CALLER!r}
app.extensions["janus.runtime"].close()
upstream.stop()
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=".")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_legacy_messages_post_continues_its_traceparent_header(traced):
    from tests.support.http_gateway import SseReader

    gw, collector = traced
    legacy_trace = "3" * 32
    auth = {"Authorization": f"Bearer {WEATHER}"}
    stream = requests.get(gw.url + "/sse", headers=auth, stream=True, timeout=30)
    reader = SseReader(stream)
    try:
        event, endpoint = reader.next()
        assert event == "endpoint"

        def post(message, **headers):
            reply = requests.post(
                gw.url + endpoint,
                headers={**auth, "Content-Type": "application/json", **headers},
                data=json.dumps(message),
                timeout=15,
            )
            assert reply.status_code == 202

        post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
        )
        reader.next()
        post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        post(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "weather_get_station", "arguments": {"id": "s"}},
            },
            traceparent=f"00-{legacy_trace}-{CALLER_SPAN}-01",
        )
        answer = json.loads(reader.next()[1])
        assert answer["id"] == 1 and answer["result"]["isError"] is False
    finally:
        reader.close()
    call = next(s for s in _spans_of(collector, legacy_trace, 2) if s.name.startswith("tools/call"))
    assert call.parent_span_id == CALLER_SPAN and call.attributes["janus.transport"] == "sse"
    assert _audit_row(gw, legacy_trace)[0].transport == "sse"


def test_spans_still_queued_when_a_worker_stops_are_exported_at_its_exit(tmp_path):
    """A worker told to stop exports the spans still queued (gunicorn_conf's worker_exit → runtime.flush_all →
    tracing.flush, and the SDK's own exit hook), here with a batch delay of a minute."""
    exit_trace = "5" * 32
    with Collector() as collector:
        gateway = start_http_gateway(
            tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_BSP_SCHEDULE_DELAY="60000", WEB_CONCURRENCY="1"
        )
        try:
            reply = requests.post(
                gateway.url + "/api/tools/weather_get_station",
                json={"id": "bye"},
                headers={"Authorization": f"Bearer {WEATHER}", "traceparent": f"00-{exit_trace}-{CALLER_SPAN}-01"},
                timeout=10,
            )
            assert reply.status_code == 200
            assert not [s for s in collector.received() if s.trace_id == exit_trace]  # a minute's batch: not yet
        finally:
            stop_http_gateway(gateway)
        assert sorted(s.name for s in collector.received() if s.trace_id == exit_trace) == [
            "GET",
            "tools/call weather_get_station",
        ]


def test_a_call_refused_before_the_backend_keeps_the_callers_trace_id(traced):
    """No span for it (the backend never ran it), but its audit row names the caller's trace: here an argument
    with no UTF-8 form, refused by the input guard, with the trace in `_meta` and in the header."""
    gw, _ = traced
    session_id = initialize(gw.url)
    refused_meta, refused_header = "6" * 32, "7" * 32
    for meta, headers in (
        ({"traceparent": f"00-{refused_meta}-{CALLER_SPAN}-01"}, {}),
        (None, {"traceparent": f"00-{refused_header}-{CALLER_SPAN}-01"}),
    ):
        params = {"name": "weather_get_station", "arguments": {"id": "\ud800"}}
        if meta:
            params["_meta"] = meta
        reply = requests.post(
            gw.url + "/mcp",
            timeout=15,
            headers=mcp_headers(
                WEATHER, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}, **headers
            ),
            data=json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}),
        )
        assert reply.json()["error"]["code"] == -32602
    for trace in (refused_meta, refused_header):
        [row] = _audit_row(gw, trace)
        assert (row.status, row.tool_name) == ("failure", "weather_get_station") and "surrogate" in row.error_message
