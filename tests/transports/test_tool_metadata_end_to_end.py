"""Tool metadata on a real gunicorn+gevent gateway, seen by the official MCP SDK client: title, annotations,
outputSchema and the definition hash in tools/list; the hash moves with the definition only; strict, lenient
and off output validation against a real upstream, each audited (issue 15, item 2)."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from janus.gateway.tool_metadata import DEFINITION_HASH_META_KEY, DEFINITION_VERSION_META_KEY
from janus.services import endpoints
from tests.support.catalog import add_endpoint
from tests.support.http_gateway import (
    WEATHER,
    initialize,
    mcp_headers,
    start_http_gateway,
    stop_http_gateway,
)
from tests.support.upstream import json_response
from tests.support.waiting import wait_for

OUT = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
SECRET_VALUE = "a-value-no-log-may-hold-0815"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("toolmeta"))
    gateway.upstream.route("/good", lambda r: json_response({"id": 7}))
    gateway.upstream.route("/bad", lambda r: json_response({"id": SECRET_VALUE}))
    ids = {}
    for name, path in (("good", "/good"), ("strict_bad", "/bad"), ("lenient_bad", "/bad"), ("off_bad", "/bad")):
        ids[name] = add_endpoint(gateway.app, gateway.weather_connection, name, path)
    with gateway.app.app_context():
        endpoints.update_endpoint(
            "root",
            ids["good"],
            {
                "title": "A good thing",
                "output_schema": OUT,
                "output_validation": "strict",
                "annotations": {"openWorldHint": False},
            },
        )
        for name in ("strict", "lenient", "off"):
            endpoints.update_endpoint("root", ids[f"{name}_bad"], {"output_schema": OUT, "output_validation": name})
    gateway.ids = ids
    yield gateway
    stop_http_gateway(gateway)


def _sdk(gw, body, mode="legacy"):
    async def main():
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {WEATHER}"}, timeout=30) as http,
            Client(streamable_http_client(gw.url + "/mcp", http_client=http), mode=mode) as client,
        ):
            return await body(client)

    return anyio.run(main)


def _listed(gw, name, mode="legacy"):
    async def body(client):
        return {t.name: t for t in (await client.list_tools()).tools}

    return _sdk(gw, body, mode)[name]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_the_sdk_client_sees_title_annotations_output_schema_and_the_hash(gw, mode):
    tool = _listed(gw, "weather_good", mode)
    assert tool.title == "A good thing"
    assert tool.output_schema == OUT
    hints = tool.annotations.model_dump(by_alias=True, exclude_none=True)
    assert hints == {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}
    assert tool.meta[DEFINITION_HASH_META_KEY].startswith("sha256:")
    assert tool.meta[DEFINITION_VERSION_META_KEY] == 2  # created, then given its metadata


def test_a_client_of_2025_03_26_gets_no_fields_it_does_not_know(gw):
    session = initialize(gw.url, WEATHER, version="2025-03-26")
    response = requests.post(
        gw.url + "/mcp",
        headers=mcp_headers(WEATHER, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-03-26"}),
        data=json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        timeout=15,
    )
    [tool] = [t for t in response.json()["result"]["tools"] if t["name"] == "weather_good"]
    assert set(tool) == {"name", "description", "inputSchema", "annotations"}


def test_the_hash_changes_with_the_definition_and_not_with_an_unrelated_change(gw):
    before = _listed(gw, "weather_good").meta
    with gw.app.app_context():
        endpoints.update_endpoint("root", gw.ids["good"], {"output_validation": "lenient", "path_template": "/good?"})
        # A marker on another tool: once it is listed, the snapshot holding the change above is served.
        endpoints.update_endpoint("root", gw.ids["off_bad"], {"description": "marker"})
    wait_for(lambda: _listed(gw, "weather_off_bad").description == "marker", what="the marker")
    assert _listed(gw, "weather_good").meta == before
    with gw.app.app_context():
        endpoints.update_endpoint("root", gw.ids["good"], {"output_validation": "strict", "path_template": "/good"})
    with gw.app.app_context():
        endpoints.update_endpoint("root", gw.ids["good"], {"description": "Now described"})
    after = wait_for(lambda: (m := _listed(gw, "weather_good").meta) != before and m, what="the new definition")
    assert after[DEFINITION_VERSION_META_KEY] == before[DEFINITION_VERSION_META_KEY] + 1
    assert after[DEFINITION_HASH_META_KEY] != before[DEFINITION_HASH_META_KEY]


def _call(gw, name, mode="legacy"):
    async def body(client):
        await client.list_tools()  # the SDK checks structuredContent against the outputSchema it listed
        return await client.call_tool(name, {})

    return _sdk(gw, body, mode)


def test_strict_answers_a_tool_error_and_audits_the_mismatch(gw):
    result = _call(gw, "weather_strict_bad")
    assert result.is_error is True and result.structured_content is None
    text = result.content[0].text
    assert "output did not match outputSchema: at /id (type)" in text and SECRET_VALUE not in text
    [row] = wait_for(lambda: _audited(gw, "weather_strict_bad"), what="the audit row")
    assert (row.status, row.error_message) == ("failure", "output did not match outputSchema: at /id (type)")


def test_a_conforming_answer_passes_strict_and_the_sdk_accepts_it(gw):
    result = _call(gw, "weather_good")
    assert result.is_error is False and result.structured_content == {"id": 7}


@pytest.mark.parametrize("policy", ["lenient", "off"])
def test_lenient_and_off_pass_the_answer_as_it_came(gw, policy):
    # Raw JSON-RPC: the SDK client validates structuredContent itself and would refuse what the gateway passed.
    session = initialize(gw.url, WEATHER)
    response = requests.post(
        gw.url + "/mcp",
        headers=mcp_headers(WEATHER, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}),
        data=json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": f"weather_{policy}_bad", "arguments": {}},
            }
        ),
        timeout=15,
    )
    result = response.json()["result"]
    assert result["isError"] is False and result["structuredContent"] == {"id": SECRET_VALUE}
    rows = wait_for(lambda: _audited(gw, f"weather_{policy}_bad"), what="the audit row")
    if policy == "lenient":  # passed, and the mismatch is on the record
        assert [(r.status, r.error_message) for r in rows] == [
            ("success", "output did not match outputSchema: at /id (type)")
        ]
    else:
        assert [(r.status, r.error_message) for r in rows] == [("success", None)]


def _audited(gw, tool_name):
    from sqlalchemy import select

    from janus.extensions import db
    from janus.models import ToolCallLog

    with gw.app.app_context():
        rows = db.session.scalars(select(ToolCallLog).where(ToolCallLog.tool_name == tool_name)).all()
        db.session.expunge_all()
        db.session.remove()
    return rows or None
