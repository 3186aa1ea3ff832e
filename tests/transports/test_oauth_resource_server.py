"""The OAuth 2.1 resource server (issue 13 part 3) on a real gunicorn+gevent gateway.

A real authorization server (tests/support/oauth_server.py, Authlib) issues JWT access tokens; the
official MCP Python SDK's OAuth client runs the whole flow (discovery from the 401, RFC 9728 metadata,
RFC 8414 metadata, dynamic registration, authorization code + PKCE with the resource indicator) and then
lists and calls tools. Refused tokens get a 401 pointing to the RFC 9728 document.
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from janus.extensions import db
from janus.models import ToolCallLog
from tests.support.http_gateway import WEATHER, mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.oauth_server import OAuthServer
from tests.support.server import listening_socket
from tests.support.waiting import refused_port, wait_for

GROUP_MAP = "weather-team=weather_*;billing-team=billing_*;ops=admin_*,weather_*"
CALLBACK = "http://127.0.0.1:9/callback"  # never connected to: the handler reads the redirect's Location


@pytest.fixture(scope="module")
def auth_server():
    server = OAuthServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory, auth_server):
    listener = listening_socket("127.0.0.1")  # PUBLIC_URL names the port before the gateway starts
    port = listener.getsockname()[1]
    unreachable = f"http://127.0.0.1:{refused_port()}"  # a configured issuer that is down
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("oauthrs"),
        listener=listener,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        OAUTH_ISSUERS=f"{auth_server.issuer},{unreachable}",
        OAUTH_GROUP_SCOPE_MAP=GROUP_MAP,
        OAUTH_ADMIN_GROUPS="ops",
        OAUTH_SCOPES_SUPPORTED="weather_*,billing_*",
        OAUTH_JWKS_MIN_REFETCH_SECONDS="0",  # every unknown kid refetches: the rotation test needs no waiting
    )
    gateway.unreachable_issuer = unreachable
    yield gateway
    stop_http_gateway(gateway)


@pytest.fixture
def person(auth_server):
    """The person signed in at the authorization server; each test sets its own, restored after."""
    saved = dict(auth_server.user)
    yield auth_server.user
    auth_server.user.clear()
    auth_server.user.update(saved)
    auth_server.grantable_scopes = None


def _resource(gw) -> str:
    return gw.url + "/mcp"


def _initialize(gw, token: str) -> requests.Response:
    return requests.post(
        gw.url + "/mcp",
        headers=mcp_headers(token),
        timeout=10,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )


def _stateless(gw, token: str, method: str, params: dict | None = None) -> dict:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    }
    headers = mcp_headers(token, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method})
    if method == "tools/call":
        headers["Mcp-Name"] = params["name"]
    response = requests.post(
        gw.url + "/mcp",
        headers=headers,
        json={"jsonrpc": "2.0", "id": 7, "method": method, "params": {**(params or {}), "_meta": meta}},
        timeout=10,
    )
    assert response.status_code in (200, 400, 404), response.text
    return response.json()


def _listed(gw, token: str) -> list[str]:
    reply = _stateless(gw, token, "tools/list")
    return sorted(t["name"] for t in reply["result"]["tools"])


# -- the official SDK's OAuth client, end to end ------------------------------------------------------------


class _Storage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def _sdk_provider(gw) -> tuple[OAuthClientProvider, _Storage]:
    """The SDK's OAuth client with a headless browser: the redirect handler follows the authorization URL
    with requests (the server consents at once) and keeps the code its redirect carries."""
    redirected: dict[str, str] = {}

    def follow(url: str) -> None:
        answer = requests.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
        redirected.update({k: v[0] for k, v in query.items()})

    async def redirect_handler(url: str) -> None:
        await anyio.to_thread.run_sync(follow, url)

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=redirected["code"], state=redirected.get("state"), iss=redirected.get("iss")
        )

    storage = _Storage()
    provider = OAuthClientProvider(
        server_url=_resource(gw),
        client_metadata=OAuthClientMetadata(
            client_name="janus-tests",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="client_secret_post",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    return provider, storage


def test_the_sdk_oauth_client_completes_the_flow_then_lists_and_calls_tools(gw, auth_server, person):
    person.update(sub="wendy", groups=[])
    auth_server.grantable_scopes = {"weather_*"}  # the SDK asks for every scope_supported; wendy gets weather's
    provider, storage = _sdk_provider(gw)

    async def main():
        async with (
            httpx2.AsyncClient(auth=provider, timeout=30) as http,
            Client(streamable_http_client(_resource(gw), http_client=http), mode="legacy") as client,
        ):
            listed = await client.list_tools()
            result = await client.call_tool("weather_get_forecast", {"latitude": 1, "longitude": 2})
            try:
                await client.call_tool("billing_get_invoice", {"id": "1"})
            except MCPError as error:
                refused = error.error.code
            else:
                refused = None
            return listed, result, refused

    listed, result, refused = anyio.run(main)
    assert sorted(t.name for t in listed.tools) == [
        "weather_get_forecast",
        "weather_get_station",
        "weather_slow_report",
    ]
    assert result.structured_content["args"] == {"latitude": ["1"], "longitude": ["2"]}
    assert refused == -32601  # outside the token's scopes: the same answer as for a client token
    # The SDK registered itself and asked for a token for this resource (RFC 8707): aud names /mcp.
    assert storage.client is not None and storage.client.client_id in auth_server.clients
    token = storage.tokens.access_token
    claims = jwt.decode(token, auth_server.signing_key).claims
    assert claims["aud"] == _resource(gw) and claims["sub"] == "wendy" and claims["scope"] == "weather_*"
    # The client's token never went upstream, nor into the gateway's log.
    assert gw.upstream.seen and all(token not in json.dumps(seen.headers) for seen in gw.upstream.seen)
    assert token not in gw.server.log


def test_the_protected_resource_metadata_names_the_authorization_servers(gw, auth_server):
    for path in ("", "/mcp", "/sse"):
        document = requests.get(gw.url + "/.well-known/oauth-protected-resource" + path, timeout=10).json()
        assert document["resource"] == _resource(gw)
        assert document["authorization_servers"] == [auth_server.issuer, gw.unreachable_issuer]
        assert document["scopes_supported"] == ["weather_*", "billing_*"]


def test_client_tokens_still_work_beside_access_tokens(gw):
    assert _initialize(gw, WEATHER).status_code == 200
    assert _listed(gw, WEATHER) == ["weather_get_forecast", "weather_get_station", "weather_slow_report"]
    refused = _initialize(gw, "eyJub3QiOiJhIHRva2VuIn0.eyJ9.x")  # JWT-shaped junk: the OAuth path refuses it
    assert refused.status_code == 401 and "resource_metadata" in refused.headers["WWW-Authenticate"]


# -- refusals ------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(auth_server, resource: str) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(auth_server.claims_for(resource)).encode())
    return f"{header}.{payload}."


def _hs256_with_the_public_key(auth_server, resource: str) -> str:
    """The classic confusion attack: HS256 with the RSA public key's JSON as the HMAC secret."""
    public = json.dumps(auth_server.signing_key.as_dict(private=False)).encode()
    header = {"alg": "HS256", "kid": auth_server.signing_key.kid}
    return jwt.encode(header, auth_server.claims_for(resource), OctKey.import_key(public), algorithms=["HS256"])


def _tampered(auth_server, resource: str) -> str:
    header, payload, signature = auth_server.mint(resource).split(".")
    claims = json.loads(__import__("base64").urlsafe_b64decode(payload + "=="))
    claims["scope"] = "*"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _without_alg(key: RSAKey) -> RSAKey:
    """The same private key, free to sign with any RSA algorithm (the JWKS still says RS256)."""
    data = {k: v for k, v in key.as_dict(private=True).items() if k != "alg"}
    return RSAKey.import_key(data)


def _flip_signature(token: str) -> str:
    head, _, signature = token.rpartition(".")
    raw = bytearray(__import__("base64").urlsafe_b64decode(signature + "=="))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{_b64(bytes(raw))}"


REFUSED = {
    "wrong audience": lambda s, r: s.mint("https://other.example/mcp"),
    "audience of another path": lambda s, r: s.mint(r.removesuffix("/mcp") + "/api"),
    "wrong issuer": lambda s, r: s.mint(r, iss="https://evil.example"),
    "expired": lambda s, r: s.mint(r, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "not yet valid": lambda s, r: s.mint(r, nbf=int(time.time()) + 3600),
    "no expiry": lambda s, r: s.mint(r, exp=None),
    "unknown key": lambda s, r: s.mint(r, key=RSAKey.generate_key(2048, parameters={"kid": "never-published"})),
    "unknown key with a known kid": lambda s, r: s.mint(
        r, key=RSAKey.generate_key(2048, parameters={"kid": s.signing_key.kid})
    ),
    "alg none": _unsigned,
    "HS256 signed with the public key": _hs256_with_the_public_key,
    "tampered signature": lambda s, r: _flip_signature(s.mint(r)),
    "tampered claims": _tampered,
    "PS256 with a key published for RS256": lambda s, r: s.mint(r, key=_without_alg(s.signing_key), alg="PS256"),
    "ES256 signed by a key not in the set": lambda s, r: s.mint(
        r, key=ECKey.generate_key("P-256", parameters={"kid": s.signing_key.kid}), alg="ES256"
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_bad_access_token_gets_the_401_that_points_to_the_resource_metadata(gw, auth_server, person, case):
    person.update(sub="mallory", groups=["weather-team", "ops"])
    token = REFUSED[case](auth_server, _resource(gw))
    for answer in (
        _initialize(gw, token),
        requests.get(gw.url + "/api/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=10),
        requests.get(gw.url + "/sse", headers={"Authorization": f"Bearer {token}"}, timeout=10, stream=True),
    ):
        assert answer.status_code == 401, (case, answer.text)
        assert answer.headers["WWW-Authenticate"] == (
            f'Bearer resource_metadata="{gw.url}/.well-known/oauth-protected-resource"'
        )
        assert token not in answer.text
        answer.close()
    assert token not in gw.server.log


def test_a_token_from_an_issuer_that_cannot_be_reached_gets_503_not_401(gw, auth_server):
    token = auth_server.mint(_resource(gw), iss=gw.unreachable_issuer)
    answer = _initialize(gw, token)
    assert answer.status_code == 503 and answer.headers["Retry-After"]


def test_a_rotated_signing_key_is_fetched_on_its_first_token(gw, auth_server, person):
    person.update(sub="rita", groups=["weather-team"])
    assert _listed(gw, auth_server.mint(_resource(gw)))  # the current key set is cached by now
    before = auth_server.jwks_requests
    old = auth_server.signing_key
    auth_server.rotate(keep_old=False)
    try:
        assert "weather_get_forecast" in _listed(gw, auth_server.mint(_resource(gw)))
        assert auth_server.jwks_requests > before  # the unknown kid made the gateway fetch the set again
        # The retired key's tokens are refused once a worker has the new set (each worker caches its own).
        retired = auth_server.mint(_resource(gw), key=old)
        wait_for(lambda: _initialize(gw, retired).status_code == 401, what="the retired key refused")
    finally:
        auth_server.keys.insert(0, old)


# -- scopes: from the scope claim, from groups, admin tools ---------------------------------------------------


def test_scopes_come_from_the_scope_claim(gw, auth_server, person):
    person.update(sub="sam", groups=[])
    assert _listed(gw, auth_server.mint(_resource(gw), scope="billing_* openid")) == ["billing_get_invoice"]
    assert _listed(gw, auth_server.mint(_resource(gw), scope=["weather_get_station"])) == ["weather_get_station"]
    assert _listed(gw, auth_server.mint(_resource(gw))) == []  # no scope, no groups: nothing


def test_scopes_come_from_the_group_map_and_add_up_with_the_claim(gw, auth_server, person):
    person.update(sub="gina", groups=["billing-team", "unmapped"])
    assert _listed(gw, auth_server.mint(_resource(gw))) == ["billing_get_invoice"]
    both = _listed(gw, auth_server.mint(_resource(gw), scope="weather_get_station"))
    assert both == ["billing_get_invoice", "weather_get_station"]


def test_a_tool_outside_the_scopes_is_method_not_found(gw, auth_server, person):
    person.update(sub="wendy", groups=["weather-team"])
    reply = _stateless(
        gw, auth_server.mint(_resource(gw)), "tools/call", {"name": "billing_get_invoice", "arguments": {"id": "1"}}
    )
    assert reply["error"]["code"] == -32601


def test_admin_tools_need_the_admin_group(gw, auth_server, person):
    person.update(sub="olga", groups=["ops"])
    listed = _listed(gw, auth_server.mint(_resource(gw)))
    assert any(name.startswith("admin_") for name in listed) and "weather_get_forecast" in listed
    # An admin_* scope from the claim alone does not make an admin: the tools stay hidden and uncallable.
    person.update(sub="eve", groups=["weather-team"])
    token = auth_server.mint(_resource(gw), scope="admin_*")
    assert not any(name.startswith("admin_") for name in _listed(gw, token))
    reply = _stateless(gw, token, "tools/call", {"name": "admin_list_connections", "arguments": {}})
    assert reply["error"]["code"] == -32601


# -- the other transports -------------------------------------------------------------------------------------


def test_rest_tools_accept_the_access_token(gw, auth_server, person):
    person.update(sub="rob", groups=["weather-team"])
    auth = {"Authorization": f"Bearer {auth_server.mint(_resource(gw))}"}
    document = requests.get(gw.url + "/api/openapi.json", headers=auth, timeout=10).json()
    assert (
        "/api/tools/weather_get_station" in document["paths"]
        and "/api/tools/billing_get_invoice" not in document["paths"]
    )
    ok = requests.post(gw.url + "/api/tools/weather_get_station", json={"id": "j1"}, headers=auth, timeout=10)
    assert ok.status_code == 200 and ok.json()["structuredContent"]["path"] == "/stations/j1"
    hidden = requests.post(gw.url + "/api/tools/billing_get_invoice", json={"id": "1"}, headers=auth, timeout=10)
    assert hidden.status_code == 404


def test_legacy_sse_accepts_the_access_token(gw, auth_server, person):
    person.update(sub="sara", groups=["weather-team"])
    token = auth_server.mint(_resource(gw))

    async def main():
        transport = sse_client(gw.url + "/sse", headers={"Authorization": f"Bearer {token}"})
        async with Client(transport, mode="legacy") as client:
            listed = await client.list_tools()
            result = await client.call_tool("weather_get_station", {"id": "s1"})
            return listed, result

    listed, result = anyio.run(main)
    assert "weather_get_station" in [t.name for t in listed.tools]
    assert result.structured_content["path"] == "/stations/s1"


def test_a_session_belongs_to_the_identity_across_its_tokens(gw, auth_server, person):
    person.update(sub="ivy", groups=["weather-team"])
    first = auth_server.mint(_resource(gw))
    answer = _initialize(gw, first)
    assert answer.status_code == 200
    session = answer.headers["Mcp-Session-Id"]

    def call(token: str) -> requests.Response:
        return requests.post(
            gw.url + "/mcp",
            headers=mcp_headers(token, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}),
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            timeout=10,
        )

    assert call(auth_server.mint(_resource(gw))).status_code == 200  # a refreshed token, same person
    person.update(sub="ivan")
    assert call(auth_server.mint(_resource(gw))).status_code == 404  # another person: not their session


# -- the audit row -------------------------------------------------------------------------------------------


def test_the_audit_row_names_the_subject_and_never_the_token(gw, auth_server, person):
    person.update(sub="audit-subject-7", groups=["weather-team"])
    token = auth_server.mint(_resource(gw))
    reply = _stateless(gw, token, "tools/call", {"name": "weather_get_station", "arguments": {"id": "a7"}})
    assert "result" in reply
    denied = _stateless(gw, token, "tools/call", {"name": "billing_get_invoice", "arguments": {"id": "1"}})
    assert denied["error"]["code"] == -32601

    def rows():
        with gw.app.app_context():
            return db.session.scalars(
                select(ToolCallLog).where(ToolCallLog.token_name == "oauth:127.0.0.1:audit-subject-7")
            ).all()

    found = wait_for(lambda: len(rows()) >= 2 and rows(), what="the two audit rows")
    assert sorted(r.status for r in found) == ["denied", "success"]
    assert all(r.transport == "streamable_http" for r in found)
    for row in found:
        assert token not in json.dumps({c.name: str(getattr(row, c.name)) for c in row.__table__.columns})
