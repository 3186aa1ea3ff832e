"""Egress policy: metadata and link-local targets are refused at connect time, on the resolved address.

Only loopback is ever connected to: a resolver stub maps test names to the
addresses under test, and socket.connect is patched to record every target and
refuse any that is not loopback, so a guard that failed would show up as a
recorded connect, never as traffic leaving the machine.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from types import SimpleNamespace

import pytest

from janus.gateway.egress import EgressPolicy
from janus.gateway.errors import UpstreamError
from janus.gateway.executor import Executor
from janus.gateway.upstream_auth import SecretError
from janus.mcp.errors import INTERNAL_ERROR, McpError
from tests.support.backend import backend_over, call_context

METADATA = "169.254.169.254"


@pytest.fixture
def network(monkeypatch):
    """names: test host name -> address(es); lookups and connects: what was asked for."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    state = SimpleNamespace(names={}, lookups=[], connects=[])

    def getaddrinfo(host, port, *args, **kwargs):
        state.lookups.append(host)
        if host in state.names:
            answers = state.names[host]
            infos = []
            for address in [answers] if isinstance(answers, str) else answers:
                v6 = ":" in address
                infos.append(
                    (
                        socket.AF_INET6 if v6 else socket.AF_INET,
                        socket.SOCK_STREAM,
                        6,
                        "",
                        (address, port, 0, 0) if v6 else (address, port),
                    )
                )
            return infos
        if not ipaddress.ip_address(host if host != "localhost" else "127.0.0.1").is_loopback:
            raise AssertionError(f"the test asked DNS about {host!r}")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def connect(sock, address):
        state.connects.append(address[0])
        if not ipaddress.ip_address(address[0].split("%")[0]).is_loopback:
            raise ConnectionRefusedError(f"test network: refusing to connect to {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return state


def _port(upstream) -> int:
    return int(upstream.base_url.rsplit(":", 1)[1])


def _not_loopback(connects) -> list[str]:
    return [a for a in connects if not ipaddress.ip_address(a.split("%")[0]).is_loopback]


def test_a_name_resolving_to_the_metadata_address_is_refused_before_any_connection(network, upstream, tool):
    network.names["imds.test"] = METADATA
    with Executor() as executor, pytest.raises(UpstreamError) as caught:
        executor.execute(tool(base_url=f"http://imds.test:{_port(upstream)}"), {"id": "1"})
    assert caught.value.kind == "egress"
    assert str(caught.value) == (
        f"Upstream 'Billing' is refused by the egress policy: destination 'imds.test' "
        f"refused: {METADATA} is a cloud metadata address"
    )
    assert "imds.test" in network.lookups and network.connects == []


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "cloud metadata address"),
        ("http://169.254.10.1:8080", "link-local address"),
        ("http://[fd00:ec2::254]/", "cloud metadata address"),
        ("http://[fe80::1]:8080/", "link-local address"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata address"),
        ("http://100.100.100.200/latest", "cloud metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1", "cloud metadata service"),
        ("http://METADATA./", "cloud metadata service"),
        ("https://metadata/", "cloud metadata service"),
    ],
)
def test_metadata_and_link_local_targets_are_always_refused_without_dns_or_connect(base_url, reason, network, tool):
    with Executor() as executor, pytest.raises(UpstreamError) as caught:
        executor.execute(tool(base_url=base_url), {"id": "1"})
    assert caught.value.kind == "egress" and reason in str(caught.value)
    assert network.lookups == [] and network.connects == []


def test_every_resolved_address_is_checked_not_only_the_first(network, upstream, tool):
    network.names["dual.test"] = ["127.0.0.1", "fe80::1"]
    with Executor() as executor, pytest.raises(UpstreamError) as caught:
        executor.execute(tool(base_url=f"http://dual.test:{_port(upstream)}"), {"id": "1"})
    assert "fe80::1 is a link-local address" in str(caught.value)
    assert network.connects == [] and upstream.received == []


def test_an_allowlist_refuses_loopback_outside_it_and_allows_what_it_lists(network, upstream, tool):
    with Executor(egress=EgressPolicy("127.0.0.2/32")) as executor, pytest.raises(UpstreamError) as caught:
        executor.execute(tool(), {"id": "1"})
    assert "127.0.0.1 is not in EGRESS_ALLOWLIST" in str(caught.value) and caught.value.kind == "egress"
    assert upstream.received == [] and network.connects == []

    network.names["api.test"] = "127.0.0.1"
    for allowlist, base_url in (
        ("127.0.0.0/8", upstream.base_url),
        ("10.0.0.0/8, api.test", f"http://api.test:{_port(upstream)}"),
        ("*.test", f"http://api.test:{_port(upstream)}"),
    ):
        with Executor(egress=EgressPolicy(allowlist)) as executor:
            assert executor.execute(tool(base_url=base_url), {"id": "1"}).status == "success", allowlist
    assert len(upstream.received) == 3


def test_a_listed_name_still_cannot_reach_a_metadata_address(network, upstream, tool):
    network.names["api.test"] = METADATA
    with Executor(egress=EgressPolicy("api.test")) as executor, pytest.raises(UpstreamError) as caught:
        executor.execute(tool(base_url=f"http://api.test:{_port(upstream)}"), {"id": "1"})
    assert "cloud metadata address" in str(caught.value) and network.connects == []


def test_a_name_rebound_to_the_metadata_address_after_a_call_is_refused_at_the_next_connect(network, upstream, tool):
    # Connection: close makes each call open a new socket, as an idle pool would after a while.
    upstream.handler = lambda req, h: upstream.send(
        h, 200, b'{"ok": true}', "application/json", {"Connection": "close"}
    )
    network.names["rebind.test"] = "127.0.0.1"
    rebinding = tool(base_url=f"http://rebind.test:{_port(upstream)}")
    with Executor() as executor:
        assert executor.execute(rebinding, {"id": "1"}).status == "success"
        network.names["rebind.test"] = METADATA
        with pytest.raises(UpstreamError) as caught:
            executor.execute(rebinding, {"id": "2"})
    assert caught.value.kind == "egress" and METADATA in str(caught.value)
    assert len(upstream.received) == 1
    assert network.connects == ["127.0.0.1"]
    assert network.lookups.count("rebind.test") == 2  # resolved again for the new socket


def _oauth_secret(token_url: str) -> dict[str, str]:
    return {"s/oauth": json.dumps({"token_url": token_url, "client_id": "janus", "client_secret": "cs-0123456789"})}


def test_an_oauth_token_url_pointing_at_metadata_is_refused_before_connecting(network, upstream, tool):
    network.names["idp.test"] = METADATA
    secrets = _oauth_secret("https://idp.test/oauth/token")
    with Executor(get_secret=secrets.__getitem__) as executor, pytest.raises(SecretError) as caught:
        executor.execute(tool(auth_type="oauth2_client_credentials", secret_ref="s/oauth"), {"id": "1"})
    assert "refused by the egress policy" in str(caught.value) and METADATA in str(caught.value)
    assert "cs-0123456789" not in str(caught.value)
    assert network.connects == [] and upstream.received == []


def test_an_oauth_token_url_outside_the_allowlist_is_refused(network, upstream, tool):
    secrets = _oauth_secret(upstream.base_url + "/oauth/token")
    with (
        Executor(get_secret=secrets.__getitem__, egress=EgressPolicy("127.0.0.2/32")) as executor,
        pytest.raises(SecretError) as caught,
    ):
        executor.execute(tool(auth_type="oauth2_client_credentials", secret_ref="s/oauth"), {"id": "1"})
    assert "127.0.0.1 is not in EGRESS_ALLOWLIST" in str(caught.value)
    assert upstream.received == [] and network.connects == []


def test_a_refusal_through_the_backend_is_an_internal_error_naming_the_connection_and_is_audited(network, tool):
    refused = tool(base_url=f"http://{METADATA}/latest")
    rows = []
    backend = backend_over([refused], Executor, rows.append)
    ctx = call_context()
    try:
        with pytest.raises(McpError) as caught:
            backend.call_tool(ctx, refused.name, {"id": "1"})
    finally:
        backend.close()
    assert caught.value.code == INTERNAL_ERROR
    assert "Upstream 'Billing' is refused by the egress policy" in caught.value.message
    assert [(r.status, r.tool_name) for r in rows] == [("failure", refused.name)]
    assert "cloud metadata address" in rows[0].error_message
    assert network.connects == []


def test_the_connection_test_reports_the_refusal(network, tool):
    with Executor() as executor:
        probe = executor.probe(tool(base_url=f"http://{METADATA}").connection)
    assert (probe.ok, probe.kind) == (False, "egress") and "cloud metadata address" in probe.error
    assert network.connects == []


def test_a_proxied_target_is_judged_by_name(network, tool, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with Executor(egress=EgressPolicy("api.test")) as executor:
        for base_url, reason in (
            ("http://metadata.google.internal", "cloud metadata service"),
            ("http://other.test", "not listed in EGRESS_ALLOWLIST"),
        ):
            with pytest.raises(UpstreamError) as caught:
                executor.execute(tool(base_url=base_url), {"id": "1"})
            assert reason in str(caught.value)
    assert network.connects == []


def test_allowlist_entries_that_are_neither_cidrs_nor_names_are_refused():
    for bad in ("10.0.0.0/33", "bad name", "http://x.test"):
        with pytest.raises(ValueError, match="EGRESS_ALLOWLIST entry"):
            EgressPolicy(bad)
    policy = EgressPolicy(" 10.0.0.0/8 ,api.test., *.corp.test, ::1 ")
    assert [str(n) for n in policy.networks] == ["10.0.0.0/8", "::1/128"]
    assert policy.names == ("api.test", "*.corp.test")


def test_a_real_gateway_applies_egress_allowlist_from_its_environment_and_audits_the_refusal(tmp_path):
    import requests
    from sqlalchemy import select

    from janus.extensions import db
    from janus.models import ToolCallLog
    from tests.support.http_gateway import (
        WEATHER,
        initialize,
        mcp_headers,
        start_http_gateway,
        stop_http_gateway,
    )
    from tests.support.waiting import wait_for

    gateway = start_http_gateway(tmp_path, EGRESS_ALLOWLIST="127.0.0.2/32")
    try:
        session = initialize(gateway.url, WEATHER)
        reply = requests.post(
            gateway.url + "/mcp",
            timeout=30,
            headers=mcp_headers(WEATHER, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}),
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "weather_get_station", "arguments": {"id": "KSFO"}},
            },
        )
        error = reply.json()["error"]
        assert error["code"] == INTERNAL_ERROR
        assert error["message"] == (
            "Upstream 'Weather' is refused by the egress policy: destination '127.0.0.1' "
            "refused: 127.0.0.1 is not in EGRESS_ALLOWLIST"
        )
        assert gateway.upstream.seen == []

        def audited():
            with gateway.app.app_context():
                return db.session.scalars(select(ToolCallLog)).all()

        rows = wait_for(audited, what="the refused call to be audited")
        assert [(r.tool_name, r.status) for r in rows] == [("weather_get_station", "failure")]
        assert "not in EGRESS_ALLOWLIST" in rows[0].error_message
    finally:
        stop_http_gateway(gateway)
