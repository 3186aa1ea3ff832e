"""Long-lived HTTP streams on a real gunicorn+gevent gateway with two workers: what they hear about
catalog changes, when they end with their session, and how often they say they are alive."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import update as sql_update

from janus.extensions import db
from janus.models import Connection, Endpoint, McpSession
from tests.support.catalog import add_connection, add_endpoint, delete, update
from tests.support.http_gateway import BILLING, WEATHER, initialize, mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.http_streams import RawStream, initialize_legacy, open_legacy, wait_listed_everywhere
from tests.support.waiting import wait_for

LIST_CHANGED = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
KEEPALIVE_SECONDS = 0.5  # start_http_gateway's SSE_KEEPALIVE_SECONDS
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("streams"))
    yield gateway
    stop_http_gateway(gateway)


@dataclass
class Tool:
    name: str
    connection: str
    endpoint: str


def _fresh_tool(gw, prefix: str = "weather_", token: str = WEATHER) -> Tool:
    """A tool on its own connection, served by every worker before the test goes on."""
    n = next(_numbers)
    connection = add_connection(gw.app, f"Streams {n}", gw.upstream.url, f"{prefix}s{n}_")
    endpoint = add_endpoint(gw.app, connection, "lookup", "/stations/{{id}}", description="Before")
    tool = Tool(f"{prefix}s{n}_lookup", connection, endpoint)
    wait_listed_everywhere(gw.url, token, lambda tools: tool.name in tools, f"{tool.name} on every worker")
    return tool


def _open(gw, kind: str, token: str = WEATHER, initialized: bool = True) -> RawStream:
    """An open notification stream: GET /mcp on a handshake session, or a legacy GET /sse."""
    if kind == "mcp":
        return _open_get(gw, token)[0]
    stream, endpoint = open_legacy(gw.url, token)  # registered before the endpoint event is written
    if initialized:
        initialize_legacy(gw.url, endpoint, stream, token)
    return stream


def _open_get(gw, token: str = WEATHER) -> tuple[RawStream, str]:
    session_id = initialize(gw.url, token)
    stream = RawStream(
        gw.url,
        "GET",
        "/mcp",
        mcp_headers(token, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
    )
    stream.wait_open()
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    wait_for(lambda: stream.comments >= 1, what="the stream to open")  # its first bytes come once it is registered
    return stream, session_id


# -- list_changed ----------------------------------------------------------------------------------

CHANGES = {
    "endpoint edited": lambda app, tool: update(app, Endpoint, tool.endpoint, description="After"),
    "endpoint disabled": lambda app, tool: update(app, Endpoint, tool.endpoint, enabled=False),
    "endpoint deleted": lambda app, tool: delete(app, Endpoint, tool.endpoint),
    "connection disabled": lambda app, tool: update(app, Connection, tool.connection, enabled=False),
}


@pytest.mark.parametrize("kind", ["mcp", "sse"], ids=["GET /mcp", "GET /sse"])
@pytest.mark.parametrize("change", CHANGES)
def test_list_changed_reaches_an_open_stream_when_a_visible_tool_changes(gw, kind, change):
    tool = _fresh_tool(gw)
    stream = _open(gw, kind)
    try:
        assert stream.pending() == []  # the baseline already holds the fresh tool
        CHANGES[change](gw.app, tool)
        event, data = stream.next(timeout=10)
        assert event == "message" and json.loads(data) == LIST_CHANGED
    finally:
        stream.close()


@pytest.mark.parametrize("kind", ["mcp", "sse"], ids=["GET /mcp", "GET /sse"])
def test_a_change_to_a_tool_outside_the_callers_scopes_sends_nothing(gw, kind):
    hidden = _fresh_tool(gw, prefix="billing_", token=BILLING)
    visible = _fresh_tool(gw)
    stream = _open(gw, kind)
    try:
        update(gw.app, Endpoint, hidden.endpoint, description="Changed out of sight")
        wait_listed_everywhere(
            gw.url,
            BILLING,
            lambda tools: tools[hidden.name]["description"] == "Changed out of sight",
            "the hidden change on every worker",
        )
        # Each worker's watcher looks every 0.2 s (CATALOG_REFRESH_SECONDS); two more keep-alives
        # (>= 1 s of an idle stream) leave it several looks at the change.
        seen = stream.comments
        wait_for(lambda: stream.comments >= seen + 2, timeout=10, what="two more keep-alives")
        assert stream.pending() == []
        # The same stream does hear a change it can see: it was listening all along.
        update(gw.app, Endpoint, visible.endpoint, description="Changed in sight")
        assert json.loads(stream.next(timeout=10)[1]) == LIST_CHANGED
    finally:
        stream.close()


# -- a GET stream ends with its session --------------------------------------------------------------


def _delete_over_http(gw, session_id: str) -> None:
    response = requests.delete(
        gw.url + "/mcp",
        timeout=10,
        headers=mcp_headers(
            **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25", "Connection": "close"}
        ),
    )
    assert response.status_code == 204


def _end_elsewhere(gw, session_id: str) -> None:
    # What a DELETE served by the other worker or another replica leaves behind: only the row.
    with gw.app.app_context():
        db.session.execute(sql_update(McpSession).where(McpSession.id == session_id).values(ended_at=datetime.now(UTC)))
        db.session.commit()


@pytest.mark.parametrize("end", [_delete_over_http, _end_elsewhere], ids=["DELETE /mcp", "ended on another worker"])
def test_an_open_get_stream_ends_cleanly_when_its_session_ends(gw, end):
    stream, session_id = _open_get(gw)
    try:
        assert not stream.closed.is_set()
        ended = time.monotonic()
        end(gw, session_id)
        assert stream.closed.wait(10), "the stream outlived its session"
        assert stream.clean_end  # the last chunk arrived: an end, not a cut
        assert stream.ended_at - ended < 10
    finally:
        stream.close()


def test_a_stream_of_a_live_session_stays_open_across_session_checks(gw):
    stream = _open(gw, "mcp")
    other, other_session = _open_get(gw)
    try:
        _end_elsewhere(gw, other_session)
        assert other.closed.wait(10)
        # Session checks (every keep-alive interval, on whichever worker holds each stream) leave it open.
        seen = stream.comments
        wait_for(lambda: stream.comments >= seen + 2, timeout=10, what="keep-alives after the check")
        assert not stream.closed.is_set()
    finally:
        stream.close()
        other.close()


# -- keep-alives -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sse", "mcp"], ids=["GET /sse", "GET /mcp"])
def test_keep_alives_arrive_at_the_configured_interval_on_an_idle_stream(gw, kind):
    stream = _open(gw, kind, initialized=False)
    try:
        wait_for(lambda: stream.comments >= 6, timeout=10, what="six keep-alives")  # about 3 s at 0.5 s
        times = stream.comment_times[:6]
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= KEEPALIVE_SECONDS - 0.1, gaps  # paced by the setting, not sent in a burst
        assert stream.pending() == []
    finally:
        stream.close()
