"""What the HTTP transports refuse, and how: missing tokens on every route and method, protocol
versions on GET and DELETE, header/body mismatches, oversized legacy bodies, and the DNS-rebinding
checks on the protected resource document. A real gunicorn+gevent gateway with two workers."""

from __future__ import annotations

import json

import pytest
import requests

from tests.support.http_gateway import (
    METRICS_TOKEN,
    WEATHER,
    initialize,
    mcp_headers,
    start_http_gateway,
    stop_http_gateway,
)
from tests.support.http_streams import initialize_legacy, open_legacy, post_legacy


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("refusals"))
    yield gateway
    stop_http_gateway(gateway)


def _www_authenticate(gw) -> str:
    return f'Bearer resource_metadata="{gw.url}/.well-known/oauth-protected-resource"'


# -- a token on every request but the CORS preflight ----------------------------------------

STATELESS = {"MCP-Protocol-Version": "2026-07-28"}


@pytest.mark.parametrize(
    "method, path, headers",
    [
        ("GET", "/sse", {"Accept": "text/event-stream"}),
        ("POST", "/messages?sessionId=any-session", {"Content-Type": "application/json"}),
        ("GET", "/mcp", {"Accept": "text/event-stream"}),
        ("DELETE", "/mcp", {"Mcp-Session-Id": "any-session"}),
        ("GET", "/mcp", STATELESS),
        ("DELETE", "/mcp", STATELESS),
        ("PUT", "/mcp", {"Content-Type": "application/json"}),
        ("PATCH", "/mcp", {"Content-Type": "application/json"}),
    ],
    ids=[
        "GET /sse",
        "POST /messages",
        "GET /mcp",
        "DELETE /mcp",
        "stateless GET /mcp",
        "stateless DELETE /mcp",
        "PUT /mcp",
        "PATCH /mcp",
    ],
)
def test_a_request_without_a_token_gets_401_with_the_exact_www_authenticate_header(gw, method, path, headers):
    response = requests.request(method, gw.url + path, headers=headers, data="{}", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == _www_authenticate(gw)
    assert response.json()["error"] == "unauthorized"


def test_head_on_mcp_without_a_token_gets_401_not_405(gw):
    response = requests.head(gw.url + "/mcp", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == _www_authenticate(gw)


def test_the_cors_preflight_alone_needs_no_token(gw):
    assert requests.options(gw.url + "/mcp", timeout=10).status_code == 204
    assert (
        requests.head(gw.url + "/mcp", headers={"Authorization": f"Bearer {WEATHER}"}, timeout=10).status_code == 405
    )  # with a token, an unserved method is what it is


# -- protocol versions on GET and DELETE -----------------------------------------------------


def test_get_and_delete_with_an_unsupported_protocol_version_get_400_and_the_session_lives_on(gw):
    session_id = initialize(gw.url)
    for method in ("GET", "DELETE"):
        response = requests.request(
            method,
            gw.url + "/mcp",
            timeout=10,
            headers=mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "1999-01-01"}),
        )
        assert response.status_code == 400, method
        assert response.json()["error"]["code"] == -32600 and "1999-01-01" in response.json()["error"]["message"]
    # The refused DELETE ended nothing.
    alive = requests.post(
        gw.url + "/mcp",
        timeout=10,
        json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
        headers=mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
    )
    assert alive.status_code == 200 and alive.json() == {"jsonrpc": "2.0", "id": 2, "result": {}}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_naming_the_stateless_version_get_405_even_with_a_session(gw, method):
    session_id = initialize(gw.url)
    response = requests.request(
        method, gw.url + "/mcp", timeout=10, headers=mcp_headers(**{"Mcp-Session-Id": session_id, **STATELESS})
    )
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": 4, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    ],
    ids=["tools/list", "initialize"],
)
def test_a_stateless_version_header_on_a_body_without_the_meta_envelope_is_invalid_params(gw, body):
    """2026-07-28 makes `_meta` with its protocolVersion required on every request; a request
    without it is malformed: -32602 with 400 (conformance server-stateless,
    sep-2575-request-meta-invalid-*), not a header mismatch, as nothing is there to mismatch."""
    response = requests.post(
        gw.url + "/mcp",
        data=json.dumps(body),
        timeout=10,
        headers=mcp_headers(**STATELESS, **{"Mcp-Method": body["method"]}),
    )
    assert response.status_code == 400
    error = response.json()
    assert error["id"] == 4 and error["error"]["code"] == -32602
    assert "params._meta" in error["error"]["message"]
    assert "Mcp-Session-Id" not in response.headers  # no session was made on the way


# -- legacy POST /messages body limit ----------------------------------------------------------


def test_a_chunked_legacy_message_over_the_limit_gets_413_and_is_never_processed(gw):
    stream, endpoint = open_legacy(gw.url, WEATHER)
    try:
        initialize_legacy(gw.url, endpoint, stream, WEATHER)

        def chunks():
            yield b'{"jsonrpc": "2.0", "id": "huge", "method": "tools/list", "params": {"pad": "'
            for _ in range(20):
                yield b"x" * 4096
            yield b'"}}'

        # No Content-Length: the cap applies to what arrives, not to what the client announced.
        response = requests.post(
            gw.url + endpoint,
            data=chunks(),
            timeout=10,
            headers={"Authorization": f"Bearer {WEATHER}", "Content-Type": "application/json"},
        )
        assert response.status_code == 413 and "65536" in response.json()["message"]
        assert (
            post_legacy(gw.url, endpoint, {"jsonrpc": "2.0", "id": "after", "method": "ping"}, WEATHER).status_code
            == 202
        )
        # The next message on the stream answers the ping: nothing (not even a parse error) for the cut body.
        assert stream.next_json(timeout=10) == {"jsonrpc": "2.0", "id": "after", "result": {}}
    finally:
        stream.close()


# -- the protected resource document gets the DNS-rebinding checks ------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource/sse",
    ],
)
def test_the_protected_resource_document_refuses_foreign_hosts_and_origins(gw, path):
    assert requests.get(gw.url + path, headers={"Host": "attacker.example"}, timeout=10).status_code == 421
    assert requests.get(gw.url + path, headers={"Origin": "https://evil.example"}, timeout=10).status_code == 403
    assert requests.get(gw.url + path, headers={"Origin": "null"}, timeout=10).status_code == 403
    allowed = requests.get(gw.url + path, headers={"Origin": "https://portal.example"}, timeout=10)
    assert allowed.status_code == 200 and allowed.json()["resource"] == gw.url + "/mcp"
    # The document names the resource from Host: a foreign one never makes it into the answer.
    local = requests.get(gw.url + path, headers={"Host": f"localhost:{gw.server.port}"}, timeout=10)
    assert local.status_code == 200 and local.json()["resource"] == f"http://localhost:{gw.server.port}/mcp"


# -- DNS rebinding on the default bind (issue 10, item 1) ---------------------------------------

EVIL = "evil.example.com"
# Every HTTP endpoint a client token (or the metrics bearer) opens, each with a request it would serve.
EDGE_REQUESTS = [
    (
        "POST",
        "/mcp",
        WEATHER,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "tests", "version": "1"},
            },
        },
    ),
    ("GET", "/sse", WEATHER, None),
    ("POST", "/messages?sessionId=no-such-session", WEATHER, {"jsonrpc": "2.0", "id": 1, "method": "ping"}),
    ("POST", "/api/tools/weather_get_station", WEATHER, {"id": "r1"}),
    ("GET", "/api/openapi.json", WEATHER, None),
    ("GET", "/metrics", METRICS_TOKEN, None),
    ("GET", "/.well-known/oauth-protected-resource/mcp", None, None),
]
EDGE_IDS = [f"{method} {path.split('?')[0]}" for method, path, _, _ in EDGE_REQUESTS]


@pytest.fixture(scope="module")
def default_bind(tmp_path_factory):
    """A gateway with HOST unset: bound to 0.0.0.0, as shipped. Tests connect to it on 127.0.0.1 only."""
    gateway = start_http_gateway(tmp_path_factory.mktemp("default-bind"), HOST=None)
    yield gateway
    stop_http_gateway(gateway)


def _edge_request(gw, method, path, token, body, **headers):
    headers = {**mcp_headers(token), **headers}
    with requests.request(method, gw.url + path, headers=headers, json=body, timeout=10, stream=True) as response:
        # /sse answers with an endless stream when served: read the status and headers only.
        content = b"" if response.headers.get("Content-Type", "").startswith("text/event-stream") else response.content
        return response.status_code, response.headers, content


@pytest.mark.parametrize("method, path, token, body", EDGE_REQUESTS, ids=EDGE_IDS)
def test_a_rebound_name_with_a_valid_token_is_refused_on_the_default_bind(default_bind, method, path, token, body):
    status, _, _ = _edge_request(default_bind, method, path, token, body, Host=EVIL, Origin=f"http://{EVIL}")
    assert status == 403  # the Origin is judged against the allow-list, not against the (equally foreign) Host

    status, headers, content = _edge_request(
        default_bind, method, path, token, body, Host=f"{EVIL}:{default_bind.server.port}"
    )
    assert status == 421
    assert EVIL.encode() not in content and EVIL not in str(headers)


@pytest.mark.parametrize("method, path, token, body", EDGE_REQUESTS, ids=EDGE_IDS)
def test_loopback_names_and_origins_are_served_on_the_default_bind(default_bind, method, path, token, body):
    port = default_bind.server.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        status, _, _ = _edge_request(default_bind, method, path, token, body, Host=host, Origin=f"http://{host}")
        # /messages names no live session: its 404 is past the edge, like every other answer here.
        assert status == (404 if path.startswith("/messages") else 200), host


def test_a_foreign_host_is_never_reflected_into_www_authenticate_or_the_resource_document(default_bind):
    for path in ("/mcp", "/sse", "/api/openapi.json", "/.well-known/oauth-protected-resource"):
        response = requests.get(default_bind.url + path, headers={"Host": EVIL}, timeout=10)
        assert response.status_code == 421, path
        assert EVIL not in response.headers.get("WWW-Authenticate", "") and EVIL not in response.text
    local = requests.get(
        default_bind.url + "/mcp", headers={"Host": f"localhost:{default_bind.server.port}"}, timeout=10
    )
    assert local.status_code == 401
    assert local.headers["WWW-Authenticate"] == (
        f'Bearer resource_metadata="http://localhost:{default_bind.server.port}/.well-known/oauth-protected-resource"'
    )
