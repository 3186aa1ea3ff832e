"""The edge (janus/transports/edge.py) as pure functions: what each Origin/Host setting admits and
refuses (issue 10, item 1), which Host a request names and which base URL its 401 points to.

The same edge guards /mcp, /sse, /messages, /api/tools, /api/openapi.json, the RFC 9728 document and
/metrics; tests/transports/test_http_refusals.py shows it on a real gateway on the default bind, and
tests/transports/test_edge_over_http.py that /mcp, /sse and /messages answer alike.
"""

from __future__ import annotations

import pytest

from janus import config
from janus.transports.edge import Edge, EdgePolicy, request_host


def _policy(**settings) -> EdgePolicy:
    return EdgePolicy.from_config(config.load(settings, environ={}))


def _status(policy: EdgePolicy, host: str, origin: str | None = None) -> int:
    refusal = policy.refusal(origin, host)
    return 200 if refusal is None else refusal.status


@pytest.mark.parametrize(
    "host",
    [
        "evil.example.com",
        "evil.example.com:8899",
        "10.0.0.5:8899",
        "0.0.0.0:8899",
        "localhost.evil.example.com",
        "127.0.0.1.nip.io",
    ],
)
def test_by_default_only_loopback_names_are_served_whatever_the_bind(host):
    policy = _policy(HOST="0.0.0.0")  # noqa: S104 - the bind under test
    assert _status(policy, host) == 421
    assert _status(policy, "evil.example.com", origin="http://evil.example.com") == 403


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8899", "LOCALHOST.:8899", "127.0.0.1:1", "[::1]:8899", "[::1]"]
)
def test_loopback_hosts_are_served_on_any_port(host):
    assert _status(_policy(), host) == 200


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "https://127.0.0.1", "http://[::1]:8899", "http://localhost"]
)
def test_loopback_origins_are_allowed_on_any_port(origin):
    assert _status(_policy(), "localhost:8899", origin) == 200


def test_the_origin_is_never_compared_with_the_requests_own_host():
    # The DNS-rebinding request: the attacker's name in Host and Origin alike.
    policy = _policy(ALLOWED_HOSTS="*")  # even when the proxy in front is trusted with Host
    assert _status(policy, "evil.example.com", "http://evil.example.com") == 403


def test_public_url_names_the_served_host_and_the_allowed_origin():
    policy = _policy(PUBLIC_URL="https://Janus.Bank.Example/")
    assert _status(policy, "janus.bank.example") == 200
    assert _status(policy, "janus.bank.example:443", "https://janus.bank.example") == 200
    assert _status(policy, "janus.bank.example", "https://janus.bank.example:443") == 200  # the default port
    assert _status(policy, "evil.example.com", "https://janus.bank.example") == 421
    assert _status(policy, "janus.bank.example", "https://evil.example.com") == 403


def test_a_public_url_with_a_path_prefix_still_names_its_origin():
    policy = _policy(PUBLIC_URL="https://gw.bank.example:8443/janus/")
    assert _status(policy, "gw.bank.example:8443", "https://gw.bank.example:8443") == 200
    assert _status(policy, "gw.bank.example:8443", "https://evil.example.com:8443") == 403


def test_allowed_hosts_admits_names_on_any_port_and_name_port_entries_on_that_port_only():
    policy = _policy(ALLOWED_HOSTS="janus.internal, gw.example:8443, [fd00::1]")
    assert _status(policy, "janus.internal:8899") == 200
    assert _status(policy, "gw.example:8443") == 200
    assert _status(policy, "gw.example:8899") == 421
    assert _status(policy, "gw.example") == 421
    assert _status(policy, "[fd00::1]:8899") == 200
    # A portal served under an allowed name may call its own API from the browser.
    assert _status(policy, "janus.internal:8899", "http://janus.internal:8899") == 200
    assert _status(policy, "gw.example:8443", "https://gw.example:8443") == 200
    assert _status(policy, "gw.example:8443", "https://gw.example") == 403


def test_the_wildcard_host_serves_every_name_but_widens_no_origin():
    policy = _policy(ALLOWED_HOSTS="*")
    assert _status(policy, "anything.example:1234") == 200
    assert _status(policy, "anything.example:1234", "http://anything.example:1234") == 403


def test_allowed_origins_are_matched_exactly_after_normalising_case_and_default_ports():
    policy = _policy(ALLOWED_ORIGINS="https://Portal.Example/, http://tools.example:8080")
    assert _status(policy, "localhost", "https://portal.example") == 200
    assert _status(policy, "localhost", "https://portal.example:443") == 200
    assert _status(policy, "localhost", "http://tools.example:8080") == 200
    assert _status(policy, "localhost", "http://tools.example") == 403
    assert _status(policy, "localhost", "http://portal.example") == 403


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "evil",
        "file://",
        "http://localhost:8899/path",
        "http://user@localhost",
        "http://localhost:99999",
        "chrome-extension://abc",
    ],
)
def test_opaque_and_malformed_origins_are_refused(origin):
    assert _status(_policy(), "localhost", origin) == 403


@pytest.mark.parametrize(
    "host",
    [
        "evil.example.com@127.0.0.1",
        "127.0.0.1/x",
        "127.0.0.1:80:80",
        "",
        "[::1",
        "local host",
        "localhost:0",
        "localhost:65536",
        "localhost:99999",
        "localhost:080",  # another spelling of port 80, which would slip past a "name:80" entry's test
        "[::1]:0",
    ],
)
def test_a_malformed_host_is_a_400_not_a_guess(host):
    assert _status(_policy(), host) == 400


def test_a_refused_host_is_not_echoed_in_the_answer():
    refusal = _policy().refusal(None, "evil.example.com")
    assert refusal.status == 421 and b"evil" not in refusal.body


def test_an_allowed_hosts_entry_that_is_not_a_host_name_stops_the_start():
    with pytest.raises(config.ConfigError, match=r"ALLOWED_HOSTS entry 'https://janus\.example' is not a host name"):
        config.load({"ALLOWED_HOSTS": "https://janus.example"}, environ={})


def test_the_port_range_ends_at_65535():
    assert _status(_policy(), "localhost:65535") == 200 and _status(_policy(), "[::1]:1") == 200


def test_a_name_port_entry_matches_the_port_as_the_host_header_writes_it():
    policy = _policy(ALLOWED_HOSTS="gw.example:80")
    assert _status(policy, "gw.example:80") == 200
    assert _status(policy, "gw.example:8080") == 421 and _status(policy, "gw.example") == 421


def _environ(**values) -> dict:
    return {"REQUEST_METHOD": "GET", "wsgi.url_scheme": "http", **values}


def test_the_host_is_read_as_sent_and_from_the_server_address_only_without_a_header():
    assert request_host(_environ(HTTP_HOST="LocalHost:80")) == "LocalHost:80"  # judged as sent
    assert request_host(_environ(SERVER_NAME="127.0.0.1", SERVER_PORT="8080")) == "127.0.0.1:8080"
    assert request_host(_environ(SERVER_NAME="127.0.0.1", SERVER_PORT="80")) == "127.0.0.1"
    assert request_host(_environ(SERVER_NAME="::1", SERVER_PORT="8080")) == "[::1]:8080"  # as a Host header writes it
    assert _status(_policy(), request_host(_environ(SERVER_NAME="::1", SERVER_PORT="8080"))) == 200


@pytest.mark.parametrize(
    "scheme, host, base",
    [
        ("http", "localhost:80", "http://localhost"),
        ("http", "localhost:8899", "http://localhost:8899"),
        ("https", "gw.example:443", "https://gw.example"),
        ("https", "gw.example:80", "https://gw.example:80"),
        ("http", "[::1]:80", "http://[::1]"),
    ],
)
def test_the_base_url_drops_only_the_schemes_default_port(scheme, host, base):
    edge = Edge.from_config(config.load({}, environ={}))
    assert edge.base_url(_environ(HTTP_HOST=host, **{"wsgi.url_scheme": scheme})) == base


def test_public_url_is_the_base_url_whatever_the_host():
    edge = Edge.from_config(config.load({"PUBLIC_URL": "https://mcp.example/prefix/"}, environ={}))
    assert edge.base_url(_environ(HTTP_HOST="localhost:8899")) == "https://mcp.example/prefix"


def test_a_cors_preflight_is_admitted_without_a_bearer_and_nothing_else_is():
    from janus.transports.edge import Denied

    edge = Edge.from_config(config.load({}, environ={}))
    assert edge.admit(_environ(REQUEST_METHOD="OPTIONS", HTTP_HOST="localhost"), None, "test") is None
    with pytest.raises(Denied) as refused:
        edge.admit(_environ(HTTP_HOST="localhost:8899"), None, "test")
    assert refused.value.response.status == 401
    assert refused.value.response.header("WWW-Authenticate") == (
        'Bearer resource_metadata="http://localhost:8899/.well-known/oauth-protected-resource"'
    )
