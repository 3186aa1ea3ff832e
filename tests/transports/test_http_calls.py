"""tools/call and its neighbours over HTTP on a real gunicorn+gevent gateway: content types,
client responses, progress tokens on every transport, audit rows, and the connection's timeout."""

from __future__ import annotations

import json
import time

import pytest
import requests
from sqlalchemy import func, select

from janus.extensions import db
from janus.models import ToolCallLog
from tests.support.catalog import add_connection, add_endpoint
from tests.support.http_gateway import (
    ADMIN,
    WEATHER,
    SseReader,
    initialize,
    mcp_headers,
    start_http_gateway,
    stateless_meta,
    stop_http_gateway,
)
from tests.support.http_streams import initialize_legacy, open_legacy, post_legacy, wait_listed_everywhere
from tests.support.stdio import StdioGateway, gateway_env
from tests.support.waiting import wait_for

SLUGGISH = "weather_sluggish_report"  # its connection allows 1 s; the upstream hangs until released


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("calls"))
    sluggish = add_connection(gateway.app, "Sluggish", gateway.upstream.url, "weather_sluggish_", timeout_seconds=1)
    add_endpoint(gateway.app, sluggish, "report", "/slow")
    wait_listed_everywhere(gateway.url, WEATHER, lambda tools: SLUGGISH in tools, "the sluggish tool on every worker")
    yield gateway
    stop_http_gateway(gateway)


@pytest.fixture
def hanging(gw):
    """The upstream's /slow hangs until the test ends."""
    gw.release.clear()
    yield
    gw.release.set()


def _call_body(name, arguments, id=2, meta=None) -> dict:
    params = {"name": name, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}


def _post_handshake(gw, body, token=WEATHER, session_id=None, **kwargs) -> requests.Response:
    session_id = session_id or initialize(gw.url, token)
    return requests.post(
        gw.url + "/mcp",
        data=json.dumps(body),
        timeout=30,
        headers=mcp_headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
        **kwargs,
    )


def _post_stateless(gw, body, token=WEATHER) -> requests.Response:
    params = body["params"]
    params["_meta"] = {**stateless_meta(), **params.get("_meta", {})}
    return requests.post(
        gw.url + "/mcp",
        data=json.dumps(body),
        timeout=30,
        headers=mcp_headers(
            token, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": params["name"]}
        ),
    )


ERAS = {"handshake": _post_handshake, "stateless": _post_stateless}


# -- what comes back ---------------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
def test_a_call_answered_without_progress_is_plain_json(gw, era):
    response = ERAS[era](gw, _call_body("weather_get_station", {"id": "json"}))
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0].strip() == "application/json"
    assert response.json()["result"]["structuredContent"]["path"] == "/stations/json"


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 5, "result": {}},
        {"jsonrpc": "2.0", "id": 6, "error": {"code": -32601, "message": "no sampling here"}},
    ],
    ids=["result", "error"],
)
def test_a_response_posted_by_the_client_is_accepted_with_202_and_no_body(gw, message):
    session_id = initialize(gw.url)
    response = _post_handshake(gw, message, session_id=session_id)
    assert response.status_code == 202 and response.content == b""
    # The session carries on.
    assert _post_handshake(gw, {"jsonrpc": "2.0", "id": 7, "method": "ping"}, session_id=session_id).json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "result": {},
    }


# -- progress tokens: a string or an integer, on every transport ----------------------------------

BAD_TOKENS = [{"token": "object"}, True, 1.5, None, ["list"]]


def _bad_token_answers_over_http(gw, era):
    return [
        ERAS[era](gw, _call_body("weather_get_station", {"id": "never"}, id=i + 10, meta={"progressToken": bad}))
        for i, bad in enumerate(BAD_TOKENS)
    ]


@pytest.mark.parametrize("era", ERAS)
def test_a_progress_token_that_is_not_a_string_or_integer_is_invalid_params_over_streamable_http(gw, era):
    before = sum(s.path == "/stations/never" for s in gw.upstream.seen)
    for i, response in enumerate(_bad_token_answers_over_http(gw, era)):
        assert response.headers["Content-Type"].startswith("application/json"), BAD_TOKENS[i]  # no progress stream
        answer = response.json()
        assert answer["id"] == i + 10 and answer["error"]["code"] == -32602, BAD_TOKENS[i]
        assert "progressToken" in answer["error"]["message"]
    assert sum(s.path == "/stations/never" for s in gw.upstream.seen) == before  # no upstream call
    # A string or an integer gets the progress stream.
    for good in ("p-1", 7):
        streamed = ERAS[era](gw, _call_body("weather_get_station", {"id": "ok"}, meta={"progressToken": good}))
        assert streamed.headers["Content-Type"].startswith("text/event-stream"), good


def test_a_progress_token_that_is_not_a_string_or_integer_is_invalid_params_over_legacy_sse(gw):
    stream, endpoint = open_legacy(gw.url, WEATHER)
    try:
        initialize_legacy(gw.url, endpoint, stream, WEATHER)
        for i, bad in enumerate(BAD_TOKENS):
            assert (
                post_legacy(
                    gw.url,
                    endpoint,
                    _call_body("weather_get_station", {"id": "never"}, id=i + 10, meta={"progressToken": bad}),
                    WEATHER,
                ).status_code
                == 202
            )
            answer = stream.next_json(timeout=10)
            assert answer["id"] == i + 10 and answer["error"]["code"] == -32602, bad
    finally:
        stream.close()


def test_a_progress_token_that_is_not_a_string_or_integer_is_invalid_params_over_stdio(gw):
    with StdioGateway(gateway_env(gw.server.env["DATABASE_PATH"], WEATHER)) as stdio:
        for i, bad in enumerate(BAD_TOKENS):
            stdio.send(_call_body("weather_get_station", {"id": "never"}, id=i + 10, meta={"progressToken": bad}))
            answer = stdio.recv()
            assert answer["id"] == i + 10 and answer["error"]["code"] == -32602, bad


# -- audit -------------------------------------------------------------------------------------------


def _admin_rows(gw) -> int:
    with gw.app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(ToolCallLog)
            .where(
                ToolCallLog.token_name == "Ops Admin",
                ToolCallLog.transport == "streamable_http",
                ToolCallLog.tool_name == "weather_get_station",
                ToolCallLog.status == "success",
                ToolCallLog.http_status == 200,
            )
        )


@pytest.mark.parametrize("era", ERAS)
def test_the_audit_row_of_a_call_over_streamable_http_names_the_token_and_the_transport(gw, era):
    before = _admin_rows(gw)
    response = ERAS[era](gw, _call_body("weather_get_station", {"id": "audited"}), token=ADMIN)
    assert response.json()["result"]["isError"] is False
    wait_for(lambda: _admin_rows(gw) == before + 1, what="the audit row (written in batches)")


# -- the connection's timeout ----------------------------------------------------------------------


def test_the_connections_timeout_bounds_a_call_over_http(gw, hanging):
    started = time.monotonic()
    response = _post_handshake(gw, _call_body(SLUGGISH, {}, id=31))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["error"] == {"code": -32603, "message": "Upstream 'Sluggish' timed out after 1s"}
    assert elapsed < 10  # the upstream would have answered after 30 s


@pytest.mark.parametrize(
    "tool, arguments, last_message",
    [
        ("weather_get_station", {"id": "p"}, "Upstream answered"),
        (SLUGGISH, {}, "The call failed"),
    ],
    ids=["answered", "timed out"],
)
def test_the_last_progress_message_says_whether_the_call_succeeded(gw, hanging, tool, arguments, last_message):
    response = _post_handshake(gw, _call_body(tool, arguments, id=41, meta={"progressToken": "t"}), stream=True)
    reader = SseReader(response)
    messages = []
    while not messages or "id" not in messages[-1]:
        messages.append(json.loads(reader.next(timeout=15)[1]))
    reader.close()
    *progress, final = messages
    assert all(p["method"] == "notifications/progress" for p in progress) and len(progress) >= 2
    assert progress[-1]["params"]["message"] == last_message
    assert progress[-1]["params"]["total"] == progress[-1]["params"]["progress"]
    assert final["id"] == 41 and ("result" in final) == (last_message == "Upstream answered")
    if "error" in final:
        assert "Sluggish" in final["error"]["message"] and "timed out" in final["error"]["message"]
