"""The executor against upstreams that misbehave at the byte level (tests/support/faulty_upstream.py).

Each upstream is a raw-socket server on 127.0.0.1; what it sent, and whether the gateway hung up on it,
is recorded on its side. No timing thresholds: a call that should end at its deadline is shown to end
while the upstream was still sending (its drip would run for many times the timeout).
"""

from __future__ import annotations

import json
import ssl
import threading

import pytest

from janus.gateway.executor import Executor, UpstreamError
from tests.gateway.conftest import make_tool
from tests.support.certificates import Authority
from tests.support.faulty_upstream import (
    FaultyUpstream,
    complete,
    cut_headers,
    drip_then_finish_late,
    echo_path,
    fixed,
    reset_mid_body,
    short_body,
    slow_body,
    slow_headers,
    stall_first_body,
    wait_hung_up,
)
from tests.support.waiting import wait_for


@pytest.fixture
def executor():
    with Executor() as ex:
        yield ex


def _call(executor: Executor, upstream: FaultyUpstream, item: str = "1", timeout: float = 1.0):
    return executor.execute(make_tool(upstream.url, timeout=timeout), {"id": item})


# -- the deadline holds whatever the upstream sends ------------------------------------------------------


def test_headers_sent_a_byte_at_a_time_end_the_call_at_its_deadline(executor):
    # ~80 bytes at 0.2 s each: 16 s of headers, each byte well inside the 1 s per-read timeout.
    with FaultyUpstream(slow_headers(interval=0.2)) as upstream:
        with pytest.raises(UpstreamError) as caught:
            _call(executor, upstream, timeout=1)
        assert str(caught.value) == "Upstream 'Billing' timed out after 1s"
        assert caught.value.kind == "timeout"
        # The gateway hung up while the upstream was still sending its headers.
        wait_for(lambda: (0, "stopped") in upstream.events, what="the upstream to see the connection closed")
        assert (0, "sent it all") not in upstream.events


def test_a_body_sent_a_byte_at_a_time_ends_the_call_at_its_deadline(executor):
    with FaultyUpstream(slow_body(interval=0.2, length=1000)) as upstream:
        with pytest.raises(UpstreamError) as caught:
            _call(executor, upstream, timeout=1)
        assert str(caught.value) == "Upstream 'Billing' timed out after 1s"
        assert caught.value.kind == "timeout"
        wait_for(lambda: (0, "stopped") in upstream.events, what="the upstream to see the connection closed")


def test_a_well_behaved_upstream_keeps_one_connection_across_calls_under_the_deadline(executor):
    # Each read shortens the socket's timeout to the time left; the next request on the kept-alive socket
    # must still be sent and answered normally.
    with FaultyUpstream(echo_path) as upstream:
        answers = [_call(executor, upstream, item, timeout=1).result["structuredContent"] for item in "abc"]
    assert answers == [{"path": "/items/a"}, {"path": "/items/b"}, {"path": "/items/c"}]
    assert [r.connection for r in upstream.requests] == [0, 0, 0]


def test_a_retry_after_a_refused_oauth_token_gets_only_what_is_left_of_the_calls_budget():
    # Each API answer comes after 2 s, within a 3 s budget on its own but not twice over (1 s margins).
    def respond(exchange):
        if exchange.request.path == "/oauth/token":
            exchange.send(complete(b'{"access_token": "AT-' + str(len(upstream.requests)).encode() + b'"}'))
            return
        if exchange.pause(2.0):
            first = sum(r.path != "/oauth/token" for r in upstream.requests) == 1
            exchange.send(complete(b'{"error": "invalid_token"}', status=401) if first else complete(b"{}"))

    with FaultyUpstream(respond) as upstream:
        secret = json.dumps({"token_url": upstream.url + "/oauth/token", "client_id": "c", "client_secret": "s"})
        tool = make_tool(upstream.url, auth_type="oauth2_client_credentials", secret_ref="ref", timeout=3)
        with Executor(get_secret={"ref": secret}.__getitem__) as ex, pytest.raises(UpstreamError) as caught:
            ex.execute(tool, {"id": "1"})
        assert str(caught.value) == "Upstream 'Billing' timed out after 3s"
        paths = [r.path for r in upstream.requests]
    assert paths == ["/oauth/token", "/items/1", "/oauth/token", "/items/1"]  # the retry was sent


@pytest.fixture
def tls(tmp_path, monkeypatch) -> ssl.SSLContext:
    """A server context for an HTTPS upstream whose CA the executor trusts (REQUESTS_CA_BUNDLE)."""
    authority = Authority(tmp_path, "upstream")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*authority.server().pair)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.cert))
    return context


def test_over_tls_the_deadline_holds_and_a_sound_upstream_keeps_its_connection(executor, tls):
    with FaultyUpstream(echo_path, tls=tls) as upstream:
        answers = [_call(executor, upstream, item).result["structuredContent"] for item in "ab"]
        assert answers == [{"path": "/items/a"}, {"path": "/items/b"}]
        assert [r.connection for r in upstream.requests] == [0, 0]
    with FaultyUpstream(slow_headers(interval=0.2), tls=tls) as upstream:
        with pytest.raises(UpstreamError) as caught:
            _call(executor, upstream, timeout=1)
        assert str(caught.value) == "Upstream 'Billing' timed out after 1s"
        wait_for(lambda: (0, "stopped") in upstream.events, what="the upstream to see the connection closed")


# -- a connection that failed is never reused ------------------------------------------------------------


def test_a_body_still_arriving_at_the_deadline_does_not_poison_the_next_call(executor):
    # The first answer's body drips past the 0.5 s deadline; the upstream then finishes it only when the
    # next request arrives on that connection. Reused, the connection would hand the second call the end
    # of the first body.
    scenario = drip_then_finish_late(b'{"path": "/items/first", "pad": "', b'"}', interval=0.1)
    with FaultyUpstream(scenario) as upstream:
        with pytest.raises(UpstreamError, match=r"timed out after 0\.5s"):
            _call(executor, upstream, "first", timeout=0.5)
        wait_hung_up(upstream, 0)  # the gateway closed that connection rather than keep it
        second = _call(executor, upstream, "second", timeout=5)
    assert second.status == "success"
    assert second.result["structuredContent"] == {"path": "/items/second"}
    assert [(r.path, r.connection) for r in upstream.requests] == [("/items/first", 0), ("/items/second", 1)]


def test_a_body_that_stalls_past_the_deadline_does_not_poison_the_next_call(executor):
    with FaultyUpstream(stall_first_body(stall=30)) as upstream:
        with pytest.raises(UpstreamError, match=r"timed out after 0\.5s"):
            _call(executor, upstream, "first", timeout=0.5)
        wait_for(lambda: (0, "hung up") in upstream.events, what="the upstream to see its connection closed")
        second = _call(executor, upstream, "second", timeout=5)
    assert second.result["structuredContent"] == {"path": "/items/second"}
    assert [(r.path, r.connection) for r in upstream.requests] == [("/items/first", 0), ("/items/second", 1)]


def test_a_body_that_cannot_be_decoded_does_not_poison_the_next_call(executor):
    """A decoding failure is raised outside urllib3's own clean-up: the executor must close the connection."""
    release = threading.Event()

    def respond(exchange):
        request = exchange.request
        if request.index == 0 and request.connection == 0:
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: 40\r\n\r\n"
            )
            exchange.send(head + b"this is not gzip data!")  # 22 of 40 bytes
            release.wait(10)  # the rest only once the next request arrives (or the test ends)
            return
        if request.connection == 0:
            exchange.send(b"x" * 18)
        echo_path(exchange)

    with FaultyUpstream(respond) as upstream:
        with pytest.raises(UpstreamError, match="could not be decoded") as caught:
            _call(executor, upstream, "first", timeout=5)
        assert caught.value.kind == "protocol"
        wait_hung_up(upstream, 0)
        release.set()
        second = _call(executor, upstream, "second", timeout=5)
    assert second.result["structuredContent"] == {"path": "/items/second"}
    assert upstream.requests[-1].connection == 1


# -- a broken exchange says what happened ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"HTTP/1.1 20",
        b"HTTP/1.1 200 OK\r\nContent-Ty",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n",
    ],
    ids=["nothing", "mid-status-line", "mid-header", "after-a-header", "before-the-blank-line"],
)
def test_headers_cut_by_a_close_are_a_protocol_error_not_an_empty_success(executor, sent):
    with FaultyUpstream(cut_headers(sent)) as upstream, pytest.raises(UpstreamError) as caught:
        _call(executor, upstream)
    assert str(caught.value) == "Upstream 'Billing' closed the connection before completing its response headers"
    assert caught.value.kind == "protocol"


def test_a_status_line_that_is_not_http_is_named(executor):
    with (
        FaultyUpstream(cut_headers(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")) as upstream,
        pytest.raises(UpstreamError) as caught,
    ):
        _call(executor, upstream)
    assert str(caught.value) == "Upstream 'Billing' answered with a malformed HTTP status line"
    assert caught.value.kind == "protocol"


@pytest.mark.parametrize(
    "bad_line",
    [b"this line has no colon\r\n", b" a continuation with nothing to continue\r\n"],
    ids=["no-colon", "stray-continuation"],
)
def test_a_header_line_that_cannot_be_parsed_is_named_not_a_misleading_timeout(executor, bad_line, caplog):
    # http.client would take every line after it, Content-Length included, for the body, and wait for the
    # end of a body that never ends (the upstream keeps the connection open).
    if bad_line.startswith(b" "):
        raw = b"HTTP/1.1 200 OK\r\n" + bad_line + b"Content-Length: 2\r\n\r\nok"
    else:
        raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + bad_line + b"Content-Length: 2\r\n\r\nok"
    with FaultyUpstream(fixed(raw)) as upstream, pytest.raises(UpstreamError) as caught:
        executor.execute(make_tool(upstream.url, timeout=5), {"id": "1", "q": "private-query"})
    assert str(caught.value) == "Upstream 'Billing' sent a response header line that cannot be parsed"
    assert caught.value.kind == "protocol"
    assert "private-query" not in caplog.text  # urllib3's own warning would quote the URL with its query


def test_a_reset_mid_body_is_named(executor):
    with FaultyUpstream(reset_mid_body()) as upstream, pytest.raises(UpstreamError) as caught:
        _call(executor, upstream)
    assert str(caught.value) == "Upstream 'Billing' reset the connection mid-response"
    assert caught.value.kind == "protocol"


def test_a_body_shorter_than_its_content_length_is_named(executor):
    with (
        FaultyUpstream(short_body(declared=100, sent=b"0123456789")) as upstream,
        pytest.raises(UpstreamError) as caught,
    ):
        _call(executor, upstream)
    assert str(caught.value) == "Upstream 'Billing' closed the connection before sending the whole response body"
    assert caught.value.kind == "protocol"


def test_invalid_json_declared_as_json_is_an_error_result_with_the_text_kept(executor):
    with FaultyUpstream(fixed(complete(b'{"balance": 10, "currency": '))) as upstream:
        outcome = _call(executor, upstream)
    assert outcome.status == "failure" and outcome.http_status == 200
    assert outcome.error == "HTTP 200 with a body that is not valid JSON"
    assert outcome.result["isError"] is True
    assert "structuredContent" not in outcome.result
    assert outcome.result["content"] == [
        {
            "type": "text",
            "text": "Upstream returned HTTP 200 OK, but its body is declared application/json and is not valid "
            'JSON (Expecting value at line 1 column 29): {"balance": 10, "currency":',
        }
    ]


def test_error_texts_never_quote_the_upstream_url_or_its_query(executor):
    with FaultyUpstream(cut_headers(b"HTTP/1.1 200 OK\r\n")) as upstream:
        tool = make_tool(upstream.url + "/api?key=query-secret-value", timeout=1)
        with pytest.raises(UpstreamError) as caught:
            executor.execute(tool, {"id": "1"})
    assert "query-secret-value" not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# -- under gunicorn+gevent, through a real gateway: what the client gets and what is audited ----------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    from tests.support.catalog import add_connection, add_endpoint
    from tests.support.http_gateway import WEATHER, start_http_gateway, stop_http_gateway
    from tests.support.http_streams import wait_listed_everywhere

    upstreams = {
        "dripping": FaultyUpstream(slow_headers(interval=0.2)),
        "cut": FaultyUpstream(cut_headers(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")),
        "garbled": FaultyUpstream(fixed(complete(b'{"balance": 10, "currency": '))),
    }
    gateway = start_http_gateway(tmp_path_factory.mktemp("faults"))
    try:
        for name, upstream in upstreams.items():
            conn = add_connection(gateway.app, name.title(), upstream.url, f"weather_{name}_", timeout_seconds=1)
            add_endpoint(gateway.app, conn, "report", "/report")
        names = {f"weather_{name}_report" for name in upstreams}
        wait_listed_everywhere(gateway.url, WEATHER, lambda tools: names <= set(tools), "the faulty tools everywhere")
        yield gateway, upstreams
    finally:
        stop_http_gateway(gateway)
        for upstream in upstreams.values():
            upstream.stop()


def _call_over_http(gateway, tool: str) -> dict:
    import json

    import requests

    from tests.support.http_gateway import initialize, mcp_headers

    session = initialize(gateway.url)
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": {}}}
    headers = mcp_headers(**{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"})
    response = requests.post(gateway.url + "/mcp", data=json.dumps(body), headers=headers, timeout=60)
    assert response.status_code == 200
    return response.json()


def _audit_row(gateway, tool: str):
    from sqlalchemy import select

    from janus.extensions import db
    from janus.models import ToolCallLog

    def row():
        with gateway.app.app_context():
            found = db.session.scalars(select(ToolCallLog).where(ToolCallLog.tool_name == tool)).all()
            return found[-1] if found else None

    return wait_for(row, what=f"the audit row of {tool} (written in batches)")


def test_under_gevent_dripped_headers_end_the_call_at_its_deadline_and_are_audited(gateway):
    gw, upstreams = gateway
    answer = _call_over_http(gw, "weather_dripping_report")
    assert answer["error"] == {"code": -32603, "message": "Upstream 'Dripping' timed out after 1s"}
    row = _audit_row(gw, "weather_dripping_report")
    assert (row.status, row.http_status, row.error_message) == (
        "failure",
        None,
        "Upstream 'Dripping' timed out after 1s",
    )
    wait_for(lambda: (0, "stopped") in upstreams["dripping"].events, what="the upstream to see the connection closed")
    assert (0, "sent it all") not in upstreams["dripping"].events


def test_under_gevent_cut_headers_are_a_protocol_error_and_are_audited(gateway):
    gw, _ = gateway
    answer = _call_over_http(gw, "weather_cut_report")
    message = "Upstream 'Cut' closed the connection before completing its response headers"
    assert answer["error"] == {"code": -32603, "message": message}
    row = _audit_row(gw, "weather_cut_report")
    assert (row.status, row.http_status, row.error_message) == ("failure", None, message)


def test_under_gevent_invalid_json_is_an_error_result_and_audited_as_a_failure(gateway):
    gw, _ = gateway
    result = _call_over_http(gw, "weather_garbled_report")["result"]
    assert result["isError"] is True
    assert "is not valid JSON (Expecting value at line 1 column 29)" in result["content"][0]["text"]
    row = _audit_row(gw, "weather_garbled_report")
    assert (row.status, row.http_status, row.error_message) == (
        "failure",
        200,
        "HTTP 200 with a body that is not valid JSON",
    )
