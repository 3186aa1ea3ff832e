"""Mutual TLS identities (issue 13, part 4) against a real gunicorn+gevent gateway serving TLS.

Certificates are made at run time (tests/support/certificates.py): a client CA the gateway trusts, a
server certificate for 127.0.0.1 and localhost, client certificates from that CA and from another one.
Tokens are bound through the tokens service (the one the portal, the admin API and mcp-cli call).
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from sqlalchemy import select

from janus.extensions import db
from janus.models import ClientToken, ToolCallLog
from janus.services import tokens as tokens_service
from tests.support.certificates import Authority, Issued
from tests.support.cli import ADMIN_PASSWORD, MCP_CLI, Cli
from tests.support.http_gateway import (
    ADMIN,
    BILLING,
    WEATHER,
    HttpGateway,
    mcp_headers,
    start_http_gateway,
    stateless_meta,
    stop_http_gateway,
)
from tests.support.stdio import MCP_GATEWAY, gateway_env
from tests.support.waiting import wait_for

FORECAST = {"name": "weather_get_forecast", "arguments": {"latitude": 52.5, "longitude": 13.4}}


class Pki:
    def __init__(self, directory) -> None:
        self.ca = Authority(directory, "clients")
        self.server = self.ca.server()
        self.other_ca = Authority(directory, "elsewhere")
        self.agent = self.ca.client("weather-agent")  # bound to WEATHER by fingerprint
        self.billing_agent = self.ca.client("billing-agent")  # bound to BILLING by subject
        self.plain = self.ca.client("plain-client")  # from the CA, bound to no token
        self.stranger = self.other_ca.client("weather-agent")  # the same subject, from another CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def _tls_env(pki: Pki, mode: str | None = None) -> dict[str, str]:
    env = {
        "TLS_CERT_PATH": str(pki.server.cert),
        "TLS_KEY_PATH": str(pki.server.key),
        "CLIENT_CA_PATH": str(pki.ca.cert),
        "WEB_CONCURRENCY": "1",
    }
    if mode:
        env["MTLS_MODE"] = mode
    return env


def _bind(gw: HttpGateway, name: str, **binding: str) -> None:
    with gw.app.app_context():
        token_id = db.session.scalar(select(ClientToken.id).where(ClientToken.name == name))
        tokens_service.update_token("tests", token_id, binding)


@pytest.fixture(scope="module")
def gw(tmp_path_factory, pki):
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("mtls"),
        probe={"verify": str(pki.ca.cert), "cert": pki.plain.pair},
        **_tls_env(pki),
    )
    _bind(gateway, "Weather Team Token", cert_fingerprint=pki.agent.fingerprint)
    _bind(gateway, "Billing", cert_subject=pki.billing_agent.subject)
    yield gateway
    stop_http_gateway(gateway)


@pytest.fixture(scope="module")
def optional_gw(tmp_path_factory, pki):
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("mtls-optional"), probe={"verify": str(pki.ca.cert)}, **_tls_env(pki, "optional")
    )
    _bind(gateway, "Weather Team Token", cert_fingerprint=pki.agent.fingerprint)
    yield gateway
    stop_http_gateway(gateway)


def _client(pki: Pki, cert: Issued | None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment would replace `verify`
    session.verify = str(pki.ca.cert)
    if cert is not None:
        session.cert = cert.pair
    return session


def _mcp(session: requests.Session, gw: HttpGateway, method: str, params: dict, token: str | None, **headers: str):
    """One stateless (2026-07-28) request: no session to open, so each call is one HTTP exchange."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": stateless_meta()}}
    sent = mcp_headers(token, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}, **headers)
    if method == "tools/call":
        sent["Mcp-Name"] = params["name"]
    return session.post(gw.url + "/mcp", data=json.dumps(body), headers=sent, timeout=30)


def _raw_exchange(gw: HttpGateway, context: ssl.SSLContext) -> bytes:
    """Handshake and send a request; what came back before the connection ended (TLS 1.3 reports a refused
    client certificate after the client's handshake, on the first read)."""
    with _tls(gw, context) as tls:
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := tls.recv(65536):
            received += chunk
        return received


@contextmanager
def _tls(gw: HttpGateway, context: ssl.SSLContext) -> Iterator[ssl.SSLSocket]:
    with (
        socket.create_connection(("127.0.0.1", gw.server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        yield tls


def _client_context(pki: Pki, cert: Issued | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    if cert is not None:
        context.load_cert_chain(*cert.pair)
    return context


# -- the handshake ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["no certificate", "a certificate from another CA"])
def test_a_client_without_a_certificate_from_the_client_ca_is_refused_in_the_handshake(gw, pki, who):
    cert = None if who == "no certificate" else pki.stranger
    # The client learns of it as an alert or, when its request raced the alert, as a closed connection;
    # never as an HTTP answer.
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _raw_exchange(gw, _client_context(pki, cert))
    with pytest.raises(requests.exceptions.SSLError):
        _client(pki, cert).get(gw.url + "/healthz", timeout=10)
    # The server says why, in one line per refusal, never a traceback.
    reason = "PEER_DID_NOT_RETURN_A_CERTIFICATE" if cert is None else "CERTIFICATE_VERIFY_FAILED"
    wait_for(lambda: f"TLS handshake with 127.0.0.1 refused: {reason}" in gw.server.log, what="the refusal's log line")
    assert "Traceback" not in gw.server.log


def test_a_certificate_from_the_client_ca_is_served(gw, pki):
    assert b"200 OK" in _raw_exchange(gw, _client_context(pki, pki.plain)).split(b"\r\n", 1)[0]
    answer = _mcp(_client(pki, pki.plain), gw, "tools/list", {}, ADMIN)
    assert answer.status_code == 200, answer.text
    assert "weather_get_forecast" in {t["name"] for t in answer.json()["result"]["tools"]}


def test_tls_1_3_is_negotiated_and_tls_1_1_refused_by_the_server(gw, pki):
    context = _client_context(pki, pki.plain)
    with _tls(gw, context) as tls:
        assert tls.version() == "TLSv1.3"
    tls12 = _client_context(pki, pki.plain)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with _tls(gw, tls12) as tls:
        assert tls.version() == "TLSv1.2"  # 1.2 is still served
    # A client that may offer TLS 1.1 (its own floor lowered, so the refusal is the server's): the server
    # answers with a protocol_version alert.
    old = _client_context(pki, pki.plain)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # this client is meant to be outdated
        old.minimum_version = ssl.TLSVersion.TLSv1_1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError) as refused, _tls(gw, old):
        pass
    assert "PROTOCOL_VERSION" in str(refused.value).upper().replace(" ", "_"), refused.value


# -- certificates as identities -----------------------------------------------------------------------


def test_a_certificate_bound_by_fingerprint_lists_and_calls_tools_without_a_bearer_and_is_audited_as_its_token(gw, pki):
    client = _client(pki, pki.agent)
    listed = _mcp(client, gw, "tools/list", {}, None)
    assert listed.status_code == 200, listed.text
    assert {t["name"] for t in listed.json()["result"]["tools"]} == {
        "weather_get_forecast",
        "weather_get_station",
        "weather_slow_report",
    }  # the bound token's scopes (weather_*)
    called = _mcp(client, gw, "tools/call", FORECAST, None)
    assert called.status_code == 200, called.text
    assert called.json()["result"]["isError"] is False

    def audited():
        with gw.app.app_context():
            rows = db.session.scalars(
                select(ToolCallLog).where(
                    ToolCallLog.tool_name == "weather_get_forecast", ToolCallLog.transport == "streamable_http"
                )
            ).all()
            names = [(r.token_name, r.status) for r in rows]
            db.session.remove()
        return names or None

    assert ("Weather Team Token", "success") in wait_for(audited, what="the audit row of the certificate's call")


def test_a_certificate_bound_by_subject_is_its_token_and_so_is_rest(gw, pki):
    client = _client(pki, pki.billing_agent)
    listed = _mcp(client, gw, "tools/list", {}, None)
    assert listed.status_code == 200, listed.text
    assert {t["name"] for t in listed.json()["result"]["tools"]} == {"billing_get_invoice"}
    # The Flask endpoints meet the same edge: /api/tools knows the certificate too.
    rest = client.post(gw.url + "/api/tools/billing_get_invoice", json={"id": "42"}, timeout=30)
    assert rest.status_code == 200, rest.text


def test_a_certificate_bound_to_no_token_still_needs_a_bearer(gw, pki):
    answer = _mcp(_client(pki, pki.plain), gw, "tools/list", {}, None)
    assert answer.status_code == 401
    assert answer.json()["message"] == "A client token is required: send 'Authorization: Bearer <token>'."


@pytest.mark.parametrize("token", [WEATHER, BILLING], ids=["bound by fingerprint", "bound by subject"])
def test_a_bearer_bound_to_a_certificate_is_refused_on_a_connection_with_another_certificate(gw, pki, token):
    answer = _mcp(_client(pki, pki.plain), gw, "tools/list", {}, token)
    assert answer.status_code == 401
    assert "bound to a client certificate" in answer.json()["message"]
    assert "resource_metadata" in answer.headers["WWW-Authenticate"]


def test_a_bearer_bound_to_a_certificate_works_with_that_certificate(gw, pki):
    assert _mcp(_client(pki, pki.agent), gw, "tools/call", FORECAST, WEATHER).status_code == 200


def test_a_disabled_token_is_not_reached_through_its_certificate(gw, pki):
    with gw.app.app_context():
        token_id = db.session.scalar(select(ClientToken.id).where(ClientToken.name == "Billing"))
        tokens_service.update_token("tests", token_id, {"enabled": False})
    try:
        client = _client(pki, pki.billing_agent)
        wait_for(lambda: _mcp(client, gw, "tools/list", {}, None).status_code == 401, what="the token off everywhere")
    finally:
        with gw.app.app_context():
            tokens_service.update_token("tests", token_id, {"enabled": True})


# -- optional mode ------------------------------------------------------------------------------------


def test_optional_mode_serves_clients_without_a_certificate_with_a_bearer(optional_gw, pki):
    client = _client(pki, None)
    assert client.get(optional_gw.url + "/healthz", timeout=10).status_code == 200
    assert _mcp(client, optional_gw, "tools/list", {}, ADMIN).status_code == 200
    # A token bound to a certificate still needs it; a certificate bound to a token still is it.
    assert _mcp(client, optional_gw, "tools/list", {}, WEATHER).status_code == 401
    assert _mcp(_client(pki, pki.agent), optional_gw, "tools/call", FORECAST, None).status_code == 200
    # A presented certificate must still come from the client CA.
    with pytest.raises(requests.exceptions.SSLError):
        _client(pki, pki.stranger).get(optional_gw.url + "/healthz", timeout=10)


# -- mcp-cli ------------------------------------------------------------------------------------------


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([MCP_CLI, *args], capture_output=True, text=True, timeout=60, env=env, input="")


def test_mcp_cli_logs_in_and_binds_a_token_over_mutual_tls_with_cert_key_and_cacert(gw, pki, tmp_path):
    env = Cli(tmp_path).env()
    tls = ["--addr", gw.url, "--cacert", str(pki.ca.cert)]

    def login(*certificate: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [MCP_CLI, *tls, *certificate, "login", "admin"],
            input=ADMIN_PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    refused = login()
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "requires a client certificate (mutual TLS): give --cert and --key" in refused.stderr, refused.stderr
    stranger = login("--cert", str(pki.stranger.cert), "--key", str(pki.stranger.key))
    assert stranger.returncode == 1 and "refused the client certificate given with --cert" in stranger.stderr
    logged_in = login("--cert", str(pki.plain.cert), "--key", str(pki.plain.key))
    assert logged_in.returncode == 0, logged_in.stderr
    # The environment fallbacks of --cert and --key.
    env = {**env, "MCP_CLI_CERT": str(pki.plain.cert), "MCP_CLI_KEY": str(pki.plain.key)}
    made = _cli(
        [
            *tls,
            "token",
            "add",
            "--name",
            "cli agent",
            "--scopes",
            "weather_*",
            "--cert-subject",
            "CN=cli-agent,O=Example Corp",
        ],
        env,
    )
    assert made.returncode == 0, made.stderr
    token_id = made.stdout.splitlines()[0]
    listed = _cli([*tls, "token", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    [row] = [t for t in json.loads(listed.stdout) if t["id"] == token_id]
    assert row["cert_subject"] == "CN=cli-agent,O=Example Corp" and row["cert_fingerprint"] is None
    changed = _cli(
        [*tls, "token", "modify", "--id", token_id, "--cert-fingerprint", pki.plain.fingerprint.upper()], env
    )
    assert changed.returncode == 0, changed.stderr
    listed = json.loads(_cli([*tls, "token", "list", "--json"], env).stdout)
    assert [t["cert_fingerprint"] for t in listed if t["id"] == token_id] == [pki.plain.fingerprint]


# -- start-up -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, problem, message",
    [
        ("TLS_CERT_PATH", "missing", "TLS_CERT_PATH '{path}' cannot be read: No such file or directory"),
        ("TLS_KEY_PATH", "a directory", "TLS_KEY_PATH '{path}' cannot be read: Is a directory"),
        ("TLS_CERT_PATH", "not pem", "TLS_CERT_PATH '{path}' and TLS_KEY_PATH"),
        ("TLS_KEY_PATH", "another key", "TLS_CERT_PATH"),
        ("CLIENT_CA_PATH", "not pem", "CLIENT_CA_PATH '{path}' holds no PEM CA certificate"),
    ],
)
def test_mcp_gateway_refuses_to_start_on_unusable_tls_files_with_one_line_and_status_2(
    tmp_path, pki, setting, problem, message
):
    env = _tls_env(pki)
    path = tmp_path / "bad.pem"
    if problem == "not pem":
        path.write_text("not a certificate\n")
    elif problem == "a directory":
        path.mkdir()
    elif problem == "another key":
        path = pki.plain.key  # a key, but not the certificate's
    env[setting] = str(path)
    out = subprocess.run(
        [MCP_GATEWAY],
        input=b"",
        capture_output=True,
        timeout=60,
        env=gateway_env(str(tmp_path / "x.db"), PORT="1", **env),
    )
    stderr = out.stderr.decode().strip()
    assert out.returncode == 2, stderr
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("mcp-gateway: configuration error: " + message.format(path=path)), stderr
    assert not (tmp_path / "x.db").exists()


# -- the official SDK client --------------------------------------------------------------------------


@pytest.mark.parametrize("mode, version", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_the_sdk_client_with_a_bound_certificate_lists_and_calls_without_a_bearer(gw, pki, mode, version):
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main():
        tls = _client_context(pki, pki.agent)
        async with (
            httpx2.AsyncClient(verify=tls, timeout=30) as http,
            Client(streamable_http_client(gw.url + "/mcp", http_client=http), mode=mode) as client,
        ):
            listed = await client.list_tools()
            result = await client.call_tool("weather_get_forecast", {"latitude": 1.5, "longitude": 2})
            return client.protocol_version, listed, result

    negotiated, listed, result = anyio.run(main)
    assert negotiated == version
    assert {t.name for t in listed.tools} == {"weather_get_forecast", "weather_get_station", "weather_slow_report"}
    assert result.is_error is False


def test_legacy_sse_serves_a_bound_certificate_without_a_bearer(gw, pki):
    from tests.support.http_gateway import SseReader

    client = _client(pki, pki.agent)
    stream = client.get(gw.url + "/sse", headers={"Accept": "text/event-stream"}, stream=True, timeout=30)
    assert stream.status_code == 200
    reader = SseReader(stream)
    try:
        event, endpoint = reader.next(timeout=15)
        assert event == "endpoint", (event, endpoint)

        def post(message: dict) -> None:
            answer = client.post(gw.url + endpoint, json=message, timeout=15)
            assert answer.status_code == 202, answer.text

        post(
            {
                "jsonrpc": "2.0",
                "id": "init",
                "method": "initialize",
                "params": {
                    "protocolVersion": "2024-11-05",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
        )
        assert json.loads(reader.next(timeout=15)[1])["id"] == "init"
        post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": FORECAST})
        answer = json.loads(reader.next(timeout=15)[1])
        assert answer["id"] == 2 and answer["result"]["isError"] is False, answer
        # The session belongs to the certificate's token: another certificate's bearer-less POST is refused.
        refused = _client(pki, pki.plain).post(
            gw.url + endpoint, json={"jsonrpc": "2.0", "id": 3, "method": "ping"}, timeout=15
        )
        assert refused.status_code == 401
    finally:
        reader.close()
