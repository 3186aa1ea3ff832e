"""The WSGI request/response pieces /mcp is served with, against werkzeug's own WSGI client."""

from __future__ import annotations

import io

import pytest
from werkzeug.test import Client, EnvironBuilder

from janus.transports.wire import BodyTooLarge, HttpResponse, WireRequest


def _request(body: bytes = b"", **environ) -> WireRequest:
    env = EnvironBuilder(
        method="POST",
        path="/mcp",
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8", "Mcp-Session-Id": "abc"},
    ).get_environ()
    env.update(environ)
    return WireRequest(env)


def test_headers_and_mimetype_read_like_werkzeug():
    req = _request(b"{}")
    assert req.header("Mcp-Session-Id") == "abc" and req.header("mcp-session-id") == "abc"
    assert req.header("Content-Type").startswith("application/json") and req.header("Missing") is None
    assert req.mimetype == "application/json"


def test_a_declared_length_over_the_limit_is_refused_without_reading():
    req = _request(b"x" * 101)
    with pytest.raises(BodyTooLarge):
        req.read_body(100)
    assert req.environ["wsgi.input"].tell() == 0  # nothing read
    assert _request(b"x" * 100).read_body(100) == b"x" * 100


def test_a_chunked_body_is_read_up_to_the_limit_and_refused_beyond():
    def chunked(payload: bytes) -> WireRequest:
        return _request(CONTENT_LENGTH="", HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input": io.BytesIO(payload)})

    assert chunked(b"y" * 300_000).read_body(300_000) == b"y" * 300_000
    with pytest.raises(BodyTooLarge):
        chunked(b"y" * 300_001).read_body(300_000)
    with pytest.raises(BodyTooLarge):
        _request(CONTENT_LENGTH="12abc").read_body(100)
    assert _request(CONTENT_LENGTH="").read_body(100) == b""  # neither length nor chunked: no body


def test_a_response_sets_content_length_and_drops_bodies_where_http_has_none():
    client = Client(HttpResponse(200, '{"a": "é"}', [("X-Test", "1")], "application/json"))
    response = client.get("/")
    assert response.status == "200 OK" and response.headers["Content-Length"] == str(len('{"a": "é"}'.encode()))
    assert response.get_data() == '{"a": "é"}'.encode() and response.headers["X-Test"] == "1"
    assert Client(HttpResponse(204, b"ignored")).get("/").get_data() == b""
    assert Client(HttpResponse(200, b"body")).head("/").get_data() == b""
    assert HttpResponse(405, headers=[("Allow", "POST")]).header("allow") == "POST"


def test_a_streamed_response_is_encoded_and_closing_it_ends_the_generator():
    state = []

    def events():
        try:
            yield "data: one\n\n"
            yield b"data: two\n\n"
            yield "data: never\n\n"
        finally:
            state.append("closed")

    started = []
    body = HttpResponse(200, events(), content_type="text/event-stream")(
        {"REQUEST_METHOD": "GET"}, lambda status, headers: started.append(headers)
    )
    assert all(name != "Content-Length" for name, _ in started[0])
    assert next(body) == b"data: one\n\n" and next(body) == b"data: two\n\n"
    body.close()  # what the server does when the client hangs up
    assert state == ["closed"]
