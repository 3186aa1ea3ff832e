"""OAuth 2.0 client credentials against a real token endpoint and upstream on 127.0.0.1.

One recording server plays both parts: POST /oauth/token issues tokens, every
other path is the API, which accepts only the tokens the test says are valid.
"""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import parse_qs, quote

import pytest

from janus.gateway.executor import Executor
from janus.gateway.oauth import TokenClient, parse_credentials
from janus.gateway.specs import ConnectionSpec
from janus.gateway.upstream_auth import SecretError
from janus.mcp.errors import INTERNAL_ERROR, McpError
from tests.support.backend import backend_over, call_context
from tests.support.waiting import wait_for

CLIENT_ID = "svc:billing"  # a colon must be percent-encoded inside Basic credentials
CLIENT_SECRET = "cl1ent-S3CRET+/value"
REF = "billing/oauth"
TOKEN_PATH = "/oauth/token"


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Authority:
    """The token endpoint and the API's view of which tokens are good."""

    def __init__(self, upstream) -> None:
        self.upstream = upstream
        self.issued: list[str] = []
        self.expires_in: object = 3600
        self.token_reply: tuple[int, object] | None = None  # overrides the normal answer
        self.api_rejects_all = False
        self.revoked: set[str] = set()
        self.entered = threading.Event()
        self.release: threading.Event | None = None  # when set, token requests block until released
        upstream.handler = self._handle

    @property
    def token_requests(self):
        return [r for r in self.upstream.received if r.raw_path == TOKEN_PATH]

    @property
    def api_requests(self):
        return [r for r in self.upstream.received if r.raw_path != TOKEN_PATH]

    def _handle(self, received, handler) -> None:
        if received.raw_path == TOKEN_PATH:
            self.entered.set()
            if self.release is not None:
                assert self.release.wait(10)
            if self.token_reply is not None:
                status, body = self.token_reply
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                return self.upstream.send(handler, status, raw, "application/json")
            token = f"AT-{len(self.issued) + 1}-tok3n-value"
            self.issued.append(token)
            reply = {"access_token": token, "token_type": "Bearer"}
            if self.expires_in is not None:
                reply["expires_in"] = self.expires_in
            return self.upstream.send(handler, 200, json.dumps(reply).encode(), "application/json")
        auth = received.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if self.api_rejects_all or token not in self.issued or token in self.revoked:
            return self.upstream.send(
                handler,
                401,
                b'{"error": "invalid_token"}',
                "application/json",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return self.upstream.send(handler, 200, json.dumps({"ok": True, "token": token}).encode(), "application/json")


@pytest.fixture
def authority(upstream) -> Authority:
    return Authority(upstream)


def credentials(upstream, **extra) -> str:
    return json.dumps(
        {"token_url": upstream.base_url + TOKEN_PATH, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **extra}
    )


@pytest.fixture
def oauth_tool(tool, secrets, upstream):
    def factory(**extra):
        secrets[REF] = credentials(upstream, **extra)
        return tool(auth_type="oauth2_client_credentials", secret_ref=REF)

    return factory


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_executor(secrets, clock):
    with Executor(get_secret=secrets.__getitem__, tokens=TokenClient(clock=clock)) as ex:
        yield ex


# -- getting and reusing the token ---------------------------------------------


def test_one_token_is_fetched_and_reused_across_calls(executor, authority, oauth_tool):
    tool = oauth_tool()
    for n in range(5):
        outcome = executor.execute(tool, {"id": str(n)})
        assert outcome.status == "success"
    assert len(authority.token_requests) == 1
    assert [r.headers["authorization"] for r in authority.api_requests] == ["Bearer AT-1-tok3n-value"] * 5


def test_the_token_request_is_a_form_post_with_basic_client_authentication(executor, authority, oauth_tool):
    executor.execute(oauth_tool(scope="invoices:read invoices:write", audience="https://billing.example"), {"id": "1"})
    request = authority.token_requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    pair = f"{quote(CLIENT_ID, safe='')}:{quote(CLIENT_SECRET, safe='')}"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(pair.encode()).decode()
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["invoices:read invoices:write"],
        "audience": ["https://billing.example"],
    }


def test_a_scope_list_is_sent_space_separated(executor, authority, oauth_tool):
    executor.execute(oauth_tool(scope=["a:read", "b:write"]), {"id": "1"})
    assert parse_qs(authority.token_requests[0].body.decode())["scope"] == ["a:read b:write"]


def test_client_secret_post_puts_the_credentials_in_the_form_instead(executor, authority, oauth_tool):
    executor.execute(oauth_tool(token_endpoint_auth_method="client_secret_post"), {"id": "1"})
    request = authority.token_requests[0]
    assert "authorization" not in request.headers
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }


def test_the_token_reaches_the_upstream_but_the_client_credentials_do_not(executor, authority, oauth_tool):
    executor.execute(oauth_tool(), {"id": "1"})
    api = authority.api_requests[0]
    assert api.headers["authorization"] == "Bearer AT-1-tok3n-value"
    assert CLIENT_SECRET not in repr(api)


@pytest.mark.parametrize(
    ("expires_in", "used_until"),
    [
        (3600, 3540),  # renewed 60 s early
        (100, 90),  # short-lived: renewed 10 % early
        ("600", 540),  # expires_in as a string, as some servers send it
        (None, 300),  # no expires_in: kept five minutes
    ],
)
def test_the_token_is_renewed_shortly_before_it_expires(
    timed_executor, authority, oauth_tool, clock, expires_in, used_until
):
    authority.expires_in = expires_in
    tool = oauth_tool()
    start = clock.now
    timed_executor.execute(tool, {"id": "1"})
    clock.now = start + used_until - 0.001
    timed_executor.execute(tool, {"id": "2"})
    assert len(authority.token_requests) == 1
    clock.now = start + used_until
    timed_executor.execute(tool, {"id": "3"})
    assert len(authority.token_requests) == 2
    assert authority.api_requests[-1].headers["authorization"] == "Bearer AT-2-tok3n-value"


def test_a_changed_secret_gets_a_new_token_at_once(executor, authority, oauth_tool, secrets, upstream):
    tool = oauth_tool()
    executor.execute(tool, {"id": "1"})
    secrets[REF] = credentials(upstream, scope="rotated")
    executor.execute(tool, {"id": "2"})
    assert len(authority.token_requests) == 2
    assert parse_qs(authority.token_requests[1].body.decode())["scope"] == ["rotated"]


# -- 401 from the upstream -------------------------------------------------------


def test_a_401_gets_a_new_token_and_the_call_is_retried_once(executor, authority, oauth_tool):
    tool = oauth_tool()
    executor.execute(tool, {"id": "1"})
    authority.revoked.add("AT-1-tok3n-value")  # revoked before its expires_in
    outcome = executor.execute(tool, {"id": "2"})
    assert outcome.status == "success" and outcome.result["isError"] is False
    assert len(authority.token_requests) == 2
    assert [r.headers["authorization"] for r in authority.api_requests[1:]] == [
        "Bearer AT-1-tok3n-value",
        "Bearer AT-2-tok3n-value",
    ]
    executor.execute(tool, {"id": "3"})  # the new token is kept
    assert len(authority.token_requests) == 2


def test_a_retried_post_carries_the_same_body(executor, authority, oauth_tool, tool, secrets, upstream):
    secrets[REF] = credentials(upstream)
    post = tool(method="POST", path="/items", auth_type="oauth2_client_credentials", secret_ref=REF)
    executor.execute(post, {"name": "widget"})
    authority.revoked.add("AT-1-tok3n-value")
    assert executor.execute(post, {"name": "gadget"}).status == "success"
    first, second = authority.api_requests[-2:]
    assert first.body == second.body == b'{"name":"gadget"}'
    assert first.method == second.method == "POST"


def test_a_second_401_is_an_error_result_after_exactly_two_upstream_attempts(executor, authority, oauth_tool):
    authority.api_rejects_all = True
    outcome = executor.execute(oauth_tool(), {"id": "1"})
    assert outcome.result["isError"] is True
    assert outcome.status == "failure" and outcome.http_status == 401
    assert len(authority.api_requests) == 2
    assert len(authority.token_requests) == 2
    text = outcome.result["content"][0]["text"]
    assert "AT-1-tok3n-value" not in text and "AT-2-tok3n-value" not in text


def test_other_auth_types_are_not_retried_on_401(executor, upstream, tool, secrets):
    secrets["billing/token"] = "plain-bearer-token"
    upstream.reply(401, {"error": "nope"})
    outcome = executor.execute(tool(auth_type="bearer", secret_ref="billing/token"), {"id": "1"})
    assert outcome.http_status == 401 and len(upstream.received) == 1


# -- concurrency -------------------------------------------------------------------


def _concurrent_calls(executor, tool, authority, callers: int = 6):
    results: list[object] = []
    lock = threading.Lock()

    def call(n: int) -> None:
        try:
            value: object = executor.execute(tool, {"id": str(n)})
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the test
            value = exc
        with lock:
            results.append(value)

    authority.release = threading.Event()
    threads = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    threads[0].start()
    assert authority.entered.wait(10)  # the first call is at the token endpoint
    for thread in threads[1:]:
        thread.start()
    state = executor._tokens._states[tool.connection.id]
    wait_for(lambda: state.queued == callers - 1, what="the other calls to queue for the token")
    authority.release.set()
    for thread in threads:
        thread.join(10)
    return results


def test_concurrent_calls_share_one_token_request(executor, authority, oauth_tool):
    results = _concurrent_calls(executor, oauth_tool(), authority)
    assert len(authority.token_requests) == 1
    assert all(getattr(r, "status", None) == "success" for r in results), results


def test_concurrent_calls_share_the_failure_of_one_token_request(executor, authority, oauth_tool):
    authority.token_reply = (503, {"error": "temporarily_unavailable"})
    results = _concurrent_calls(executor, oauth_tool(), authority)
    assert len(authority.token_requests) == 1
    assert len(results) == 6 and all(isinstance(r, SecretError) for r in results)
    assert authority.api_requests == []


# -- failed token exchanges ---------------------------------------------------------

FAILURES = {
    "bad_request": (400, {"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"}),
    "server_error": (500, b"<html>oops</html>"),
    "no_access_token": (200, {"token_type": "Bearer", "expires_in": 60, "echo": CLIENT_SECRET}),
    "empty_access_token": (200, {"access_token": "", "token_type": "Bearer"}),
    "not_json": (200, f"access_token={CLIENT_SECRET}".encode()),
    "json_array": (200, [CLIENT_SECRET]),
    "not_bearer": (200, {"access_token": "AT-mac", "token_type": "mac"}),
    "header_breaking_token": (200, {"access_token": "AT\r\nX-Evil: 1", "token_type": "Bearer"}),
}


@pytest.mark.parametrize("reply", FAILURES.values(), ids=FAILURES.keys())
def test_a_failed_token_exchange_is_a_secret_error_and_no_upstream_request(
    executor, authority, oauth_tool, reply, caplog
):
    authority.token_reply = reply
    with caplog.at_level("DEBUG"), pytest.raises(SecretError) as caught:
        executor.execute(oauth_tool(), {"id": "1"})
    message = str(caught.value)
    assert "'Billing'" in message and "'127.0.0.1'" in message
    assert CLIENT_SECRET not in message and CLIENT_SECRET not in caplog.text
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert authority.api_requests == []


def test_a_400_names_the_oauth_error_code(executor, authority, oauth_tool):
    authority.token_reply = FAILURES["bad_request"]
    with pytest.raises(SecretError, match=r"answered HTTP 400 \(invalid_client\)"):
        executor.execute(oauth_tool(), {"id": "1"})


def test_an_unreachable_token_endpoint_is_a_secret_error(executor, upstream, tool, secrets, closed_port):
    secrets[REF] = json.dumps(
        {"token_url": f"http://127.0.0.1:{closed_port}/token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    )
    with pytest.raises(SecretError) as caught:
        executor.execute(tool(auth_type="oauth2_client_credentials", secret_ref=REF), {"id": "1"})
    assert str(caught.value) == (
        "Token request for connection 'Billing' (secret 'billing/oauth') at '127.0.0.1' failed: connection refused"
    )
    assert upstream.received == []


def test_after_a_failed_exchange_the_next_call_asks_again(executor, authority, oauth_tool):
    authority.token_reply = (500, {})
    tool = oauth_tool()
    with pytest.raises(SecretError):
        executor.execute(tool, {"id": "1"})
    authority.token_reply = None
    assert executor.execute(tool, {"id": "2"}).status == "success"
    assert len(authority.token_requests) == 2


def test_a_failed_exchange_through_the_backend_is_an_internal_error_with_a_failure_audit_row(
    authority, oauth_tool, secrets
):
    authority.token_reply = (401, {"error": "invalid_client"})
    tool = oauth_tool()
    rows = []
    backend = backend_over([tool], lambda: Executor(get_secret=secrets.__getitem__), rows.append)
    ctx = call_context()
    try:
        with pytest.raises(McpError) as caught:
            backend.call_tool(ctx, tool.name, {"id": "1"})
    finally:
        backend.close()
    assert caught.value.code == INTERNAL_ERROR
    assert "'Billing'" in caught.value.message and "'127.0.0.1'" in caught.value.message
    assert CLIENT_SECRET not in caught.value.message
    assert [(r.status, r.tool_name) for r in rows] == [("failure", tool.name)]
    assert "Token endpoint" in rows[0].error_message and CLIENT_SECRET not in rows[0].error_message
    assert authority.api_requests == []


# -- validating the secret ---------------------------------------------------------


def _conn() -> ConnectionSpec:
    return ConnectionSpec(
        id="c1",
        name="Billing",
        base_url="https://api.example",
        auth_type="oauth2_client_credentials",
        auth_secret_ref=REF,
    )


BASE = {"token_url": "https://auth.example/token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        (f"{{not json {CLIENT_SECRET}", "not valid JSON"),
        (json.dumps([CLIENT_SECRET]), "not list"),
        (json.dumps({**BASE, "token_url": "http://auth.example/token"}), "http 'token_url' for host 'auth.example'"),
        (json.dumps({**BASE, "token_url": "ftp://auth.example/token"}), "absolute https URL"),
        (json.dumps({**BASE, "token_url": "/token"}), "absolute https URL"),
        (json.dumps({**BASE, "token_url": "https://u:cl1ent-S3CRET@auth.example/t"}), "credentials inside"),
        (json.dumps({**BASE, "token_url": f"https://u:{CLIENT_SECRET}@auth.example/t"}), "absolute https URL"),
        (json.dumps({**BASE, "token_url": "https://[::1/t"}), "absolute https URL"),
        (json.dumps({k: v for k, v in BASE.items() if k != "client_secret"}), "'client_secret' as a non-empty string"),
        (json.dumps({**BASE, "client_id": ""}), "'client_id' as a non-empty string"),
        (json.dumps({**BASE, "scopes": "read"}), "unknown fields 'scopes'"),
        (json.dumps({**BASE, "scope": 5}), "'scope' as a string or a list"),
        (json.dumps({**BASE, "token_endpoint_auth_method": "private_key_jwt"}), "unsupported"),
    ],
)
def test_a_malformed_secret_is_rejected_naming_connection_and_ref_but_never_the_value(secret, problem):
    with pytest.raises(SecretError) as caught:
        parse_credentials(_conn(), secret)
    message = str(caught.value)
    assert problem in message
    assert "'Billing'" in message and f"'{REF}'" in message
    assert CLIENT_SECRET not in message and "cl1ent-S3CRET" not in message
    assert caught.value.__cause__ is None and (caught.value.__context__ is None or caught.value.__suppress_context__)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_token_urls_are_allowed_only_on_loopback(host):
    creds = parse_credentials(_conn(), json.dumps({**BASE, "token_url": f"http://{host}:8080/token"}))
    assert creds.token_url == f"http://{host}:8080/token"
    assert CLIENT_SECRET not in repr(creds)
