"""One HTTP edge (issue 12, item 4): /mcp (a WSGI app beside Flask) and /sse, /messages (Flask
blueprints) answer the same request with the same refusal, the same 401 and the same security headers.

Each case sends one request to all three endpoints of a real gunicorn+gevent gateway and compares
status, body and the edge's headers. Connections go to 127.0.0.1; foreign names travel only in the
Host and Origin headers.
"""

from __future__ import annotations

import pytest
import requests

from janus.auth.response_headers import BASELINE_HEADERS
from tests.support.http_gateway import WEATHER, initialize, mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.http_streams import RawStream, open_legacy

# An allow-list entry for the default port only, and a name with an underscore (RFC 3986 allows it in a
# host; docker-compose service names carry one): both were served by /mcp and refused by /sse.
ALLOWED_HOSTS = "gw.example:80,compose_gw.internal"
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
ENDPOINTS = ["/mcp", "/sse", "/messages"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("edge"), ALLOWED_HOSTS=ALLOWED_HOSTS)
    yield gateway
    stop_http_gateway(gateway)


def _ask(gw, path: str, token: str | None = None, **headers: str) -> requests.Response:
    """The request each endpoint serves: POST /mcp, GET /sse, POST /messages (to a session nobody has)."""
    sent = {**mcp_headers(token), **headers}
    if path == "/sse":
        sent["Accept"] = "text/event-stream"
        with requests.get(gw.url + "/sse", headers=sent, timeout=10, stream=True) as response:
            assert not response.headers.get("Content-Type", "").startswith("text/event-stream"), "served, not refused"
            response.content  # noqa: B018 - read the refusal's body before the connection closes
            return response
    if path == "/messages":
        return requests.post(gw.url + "/messages?sessionId=no-such-session", headers=sent, json=PING, timeout=10)
    return requests.post(gw.url + "/mcp", headers=sent, json=PING, timeout=10)


def _same_answer_everywhere(gw, token: str | None = None, **headers: str) -> requests.Response:
    """The three endpoints' answers to one request, asserted equal in status, body and edge headers."""
    answers = {path: _ask(gw, path, token, **headers) for path in ENDPOINTS}
    first = answers["/mcp"]
    for path, answer in answers.items():
        assert answer.status_code == first.status_code, (path, answer.status_code, answer.text)
        assert answer.json() == first.json(), path
        assert answer.headers.get("WWW-Authenticate") == first.headers.get("WWW-Authenticate"), path
        assert {name: answer.headers.get(name) for name, _ in BASELINE_HEADERS} == dict(BASELINE_HEADERS), path
    return first


def _resource_metadata(base: str) -> str:
    return f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource"'


@pytest.mark.parametrize("token", [None, "not-a-token-anyone-was-given-000001"], ids=["no token", "unknown token"])
def test_a_missing_or_bad_token_gets_the_same_401_and_www_authenticate_everywhere(gw, token):
    answer = _same_answer_everywhere(gw, token)
    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert answer.headers["WWW-Authenticate"] == _resource_metadata(gw.url)


@pytest.mark.parametrize(
    "headers, status, error",
    [
        ({"Origin": "https://evil.example"}, 403, "forbidden"),
        ({"Origin": "null"}, 403, "forbidden"),
        ({"Host": "evil.example"}, 421, "misdirected_request"),
        ({"Host": "localhost/path"}, 400, "bad_request"),
    ],
    ids=["foreign origin", "opaque origin", "foreign host", "malformed host"],
)
def test_origin_and_host_refusals_are_the_same_everywhere_and_come_before_the_token(gw, headers, status, error):
    answer = _same_answer_everywhere(gw, WEATHER, **headers)
    assert answer.status_code == status and answer.json()["error"] == error
    assert "WWW-Authenticate" not in answer.headers


@pytest.mark.parametrize("host", ["localhost:99999", "localhost:0", "localhost:080"])
def test_a_host_whose_port_is_not_a_port_is_malformed_everywhere(gw, host):
    """/mcp used to serve these (a loopback name on "any port") and name the bogus port in its
    WWW-Authenticate; the Flask side refused them as malformed. Malformed is right."""
    answer = _same_answer_everywhere(gw, None, Host=host)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"


def test_a_host_naming_the_default_port_gets_the_same_resource_url_everywhere(gw):
    """`Host: localhost:80` is `http://localhost`: /mcp used to keep ":80" in WWW-Authenticate, so it
    disagreed with /sse and with the RFC 9728 document the header points to."""
    answer = _same_answer_everywhere(gw, None, Host="localhost:80")
    assert answer.headers["WWW-Authenticate"] == _resource_metadata("http://localhost")
    document = requests.get(
        gw.url + "/.well-known/oauth-protected-resource/mcp", headers={"Host": "localhost:80"}, timeout=10
    )
    assert document.json()["resource"] == "http://localhost/mcp"


@pytest.mark.parametrize("host", ["gw.example:80", "compose_gw.internal", "compose_gw.internal:8080"])
def test_an_allowed_host_is_served_everywhere(gw, host):
    """The allow-list decides, on the Host as sent: /sse used to judge werkzeug's rewrite of it (the
    default port dropped, so `gw.example:80` missed its entry; an underscore made the name empty)."""
    answer = _same_answer_everywhere(gw, None, Host=host)
    assert answer.status_code == 401  # past the edge: the missing token is what is refused
    name = host.removesuffix(":80")
    assert answer.headers["WWW-Authenticate"] == _resource_metadata(f"http://{name}")


def test_served_answers_carry_the_baseline_headers_too(gw):
    session_id = initialize(gw.url)
    served = [
        requests.post(
            gw.url + "/mcp",
            headers=mcp_headers(**{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
            json=PING,
            timeout=10,
        ),
        requests.options(gw.url + "/mcp", timeout=10),
        requests.options(gw.url + "/sse", timeout=10),
    ]
    stream, endpoint = open_legacy(gw.url, WEATHER)
    try:
        served.append(
            requests.post(gw.url + endpoint, headers=mcp_headers(), json={**PING, "id": "legacy"}, timeout=10)
        )
        for answer in served:
            assert answer.status_code < 300, answer.status_code
            assert {name: answer.headers.get(name) for name, _ in BASELINE_HEADERS} == dict(BASELINE_HEADERS)
        # The stream's own response head (RawStream keeps header names in lower case).
        assert {name: stream.headers.get(name.lower()) for name, _ in BASELINE_HEADERS} == dict(BASELINE_HEADERS)
        assert isinstance(stream, RawStream) and stream.next_json(timeout=10)["id"] == "legacy"
    finally:
        stream.close()
