"""Secret values and injected header values appear in no log line, exception, audit row or error result.

Every auth type is exercised with recognisable values on the success path,
against an upstream that echoes the request headers in its 401/403 bodies,
against an unreachable upstream and with malformed secrets, while every
logger (urllib3 included) records at DEBUG.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging

import pytest

from janus.gateway.errors import UpstreamError
from janus.gateway.executor import Executor
from janus.gateway.upstream_auth import SecretError
from janus.mcp.errors import McpError
from tests.support.backend import backend_over, call_context

BEARER = "BEARER-s3cret-7f3a"
BASIC_PASSWORD = "basic-pa55word-9c1d"
CUSTOM_KEY = "CUSTOM-api-key-4b2e"
CLIENT_SECRET = "OAUTH-client-s3cret-1e8f"
ACCESS_TOKEN = "OAUTH-access-token-5d6c"
BASIC_ENCODED = base64.b64encode(f"alice:{BASIC_PASSWORD}".encode()).decode()
NEEDLES = (BEARER, BASIC_PASSWORD, BASIC_ENCODED, CUSTOM_KEY, CLIENT_SECRET, ACCESS_TOKEN)
TOKEN_PATH = "/oauth/token"


@pytest.fixture
def echoing(upstream):
    """Token endpoint, a 200 route, and 401/403 routes that echo every request header back."""
    issued: list[str] = []

    def handle(received, handler) -> None:
        if received.raw_path == TOKEN_PATH:
            issued.append(f"{ACCESS_TOKEN}-{len(issued) + 1}")
            body = {"access_token": issued[-1], "token_type": "Bearer", "expires_in": 3600}
            return upstream.send(handler, 200, json.dumps(body).encode(), "application/json")
        status = (
            401
            if received.raw_path.startswith("/echo401")
            else 403
            if received.raw_path.startswith("/echo403")
            else 200
        )
        body = {"you_sent": received.headers, "raw": received.header_lines} if status != 200 else {"ok": True}
        return upstream.send(handler, status, json.dumps(body).encode(), "application/json")

    upstream.handler = handle
    return upstream


def _secrets(upstream) -> dict[str, str]:
    return {
        "s/bearer": BEARER,
        "s/basic": f"alice:{BASIC_PASSWORD}",
        "s/custom": json.dumps({"X-Api-Key": CUSTOM_KEY, "X-Tenant": "acme"}),
        "s/oauth": json.dumps(
            {"token_url": upstream.base_url + TOKEN_PATH, "client_id": "janus-client", "client_secret": CLIENT_SECRET}
        ),
    }


AUTH = {"bearer": "s/bearer", "basic": "s/basic", "custom_headers": "s/custom", "oauth2_client_credentials": "s/oauth"}


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for needle in NEEDLES:
            assert needle not in text, f"{needle!r} leaked into: {text[:300]!r}"


@pytest.mark.parametrize("auth_type", AUTH)
def test_no_secret_reaches_logs_errors_or_error_results(auth_type, echoing, tool, caplog, capsys, closed_port):
    secrets = _secrets(echoing)
    seen: list[str] = []
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="urllib3"),
        Executor(get_secret=secrets.__getitem__) as executor,
    ):
        for path in ("/ok", "/echo401", "/echo403"):
            outcome = executor.execute(tool(auth_type=auth_type, secret_ref=AUTH[auth_type], path=path), {})
            if path != "/ok":
                assert outcome.result["isError"] is True
                seen += [json.dumps(outcome.result), str(outcome.error)]
        unreachable = tool(auth_type=auth_type, secret_ref=AUTH[auth_type], base_url=f"http://127.0.0.1:{closed_port}")
        with pytest.raises(UpstreamError) as caught:
            executor.execute(unreachable, {"id": "1"})
        assert caught.value.kind == "refused"
        seen += [str(caught.value), repr(caught.value)]
    assert http.client.HTTPConnection.debuglevel == 0  # http.client would print every header to stdout
    out, err = capsys.readouterr()
    _assert_clean(caplog.text, out, err, *seen)
    # The upstream did receive the credentials: the absence above is redaction, not a missing header.
    received = json.dumps([r.header_lines for r in echoing.received])
    assert any(n in received for n in NEEDLES)


def test_error_bodies_show_the_redaction_marker_instead_of_the_credentials(echoing, tool):
    secrets = _secrets(echoing)
    with Executor(get_secret=secrets.__getitem__) as executor:
        outcome = executor.execute(tool(auth_type="custom_headers", secret_ref="s/custom", path="/echo401"), {})
    text = outcome.result["content"][0]["text"]
    assert '"x-api-key": "[redacted]"' in text and '["X-Api-Key", "[redacted]"]' in text
    assert '["X-Tenant", "acme"]' in text  # short, non-credential values are left alone


@pytest.mark.parametrize(
    ("auth_type", "stored"),
    [
        ("bearer", f"{BEARER}\r\nX-Evil: 1"),
        ("basic", f"{BASIC_PASSWORD}-no-colon"),
        ("custom_headers", json.dumps({"X-Api-Key": f"{CUSTOM_KEY}\n"})),
        ("custom_headers", f"{{{CUSTOM_KEY}"),
        (
            "oauth2_client_credentials",
            json.dumps({"token_url": "http://auth.example/t", "client_id": "c", "client_secret": CLIENT_SECRET}),
        ),
        ("oauth2_client_credentials", f'{{"client_secret": "{CLIENT_SECRET}"'),
    ],
)
def test_malformed_secrets_fail_through_the_backend_without_leaking(auth_type, stored, echoing, tool, caplog):
    bad = tool(auth_type=auth_type, secret_ref="s/bad", path="/ok")
    rows = []
    backend = backend_over([bad], lambda: Executor(get_secret={"s/bad": stored}.__getitem__), rows.append)
    ctx = call_context()
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(McpError) as caught:
            backend.call_tool(ctx, bad.name, {})
    finally:
        backend.close()
    _assert_clean(caplog.text, str(caught.value), caught.value.message, *(r.error_message or "" for r in rows))
    assert [r.status for r in rows] == ["failure"]
    assert echoing.received == []


# -- item 3 of issue 10: reflected credentials, any status, charset, spelling or place ------------------

ECHO_SECRETS = {"bearer": BEARER, "basic": BASIC_PASSWORD, "custom_headers": CUSTOM_KEY}


def _reflect(upstream, status: int, content_type: str, encode, reason: str | None = None) -> None:
    """An upstream answering `status` with every received header value echoed in the body (and reason)."""

    def handle(received, handler) -> None:
        if received.raw_path == TOKEN_PATH:
            body = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
            return upstream.send(handler, 200, json.dumps(body).encode(), "application/json")
        values = [v for _, v in received.header_lines]
        handler.send_response(status, reason.format(*values[-1:]) if reason else None)
        body = encode(values)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    upstream.handler = handle


def _json_u_escaped(values) -> bytes:
    return json.dumps({"headers": values}, ensure_ascii=False).encode().replace(b"-", b"\\u002d")


BODIES = {
    "JSON": ("application/json", lambda v: json.dumps({"headers": v}).encode()),
    "JSON with \\u escapes": ("application/json", _json_u_escaped),
    "JSON upper-cased, as text": ("text/plain", lambda v: json.dumps(v).upper().encode()),
    "UTF-16 text": ("text/plain; charset=utf-16", lambda v: "\n".join(v).encode("utf-16")),
    "latin-1 HTML": ("text/html; charset=iso-8859-1", lambda v: "<br>".join(v).encode("latin-1")),
    "untyped": ("", lambda v: "\n".join(v).encode()),
}


@pytest.mark.parametrize("status", [200, 201, 401, 500])
@pytest.mark.parametrize("body", BODIES, ids=BODIES.keys())
@pytest.mark.parametrize("auth_type", AUTH)
def test_a_reflected_credential_reaches_the_client_in_no_status_charset_or_spelling(
    auth_type, body, status, upstream, tool
):
    content_type, encode = BODIES[body]
    _reflect(upstream, status, content_type, encode)
    with Executor(get_secret=_secrets(upstream).__getitem__) as executor:
        outcome = executor.execute(tool(auth_type=auth_type, secret_ref=AUTH[auth_type], path="/echo"), {})
    shown = json.dumps(outcome.result, ensure_ascii=False)
    for needle in NEEDLES:
        assert needle.lower() not in shown.lower(), (needle, shown[:400])
    assert "redacted" in shown
    assert (outcome.status == "success") is (status < 300)


@pytest.mark.parametrize("status", [200, 302, 401])
def test_a_reason_phrase_or_location_echoing_the_credential_is_redacted(status, upstream, tool):
    def handle(received, handler) -> None:
        handler.send_response(status, f"Hello {received.headers['authorization']}")
        handler.send_header("Location", f"http://127.0.0.1:9/next?token={BEARER}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    upstream.handler = handle
    with Executor(get_secret={"s/bearer": BEARER}.__getitem__) as executor:
        outcome = executor.execute(tool(auth_type="bearer", secret_ref="s/bearer", path="/echo"), {})
    text = outcome.result["content"][0]["text"]
    assert BEARER not in text and "[redacted]" in text
    assert f"HTTP {status} Hello [redacted]" in text


def test_a_credential_cut_by_the_size_cap_leaks_not_even_its_first_characters(upstream, tool):
    limit = 1000
    for offset in (limit - 6, limit - 1, limit - len(BEARER) + 2):
        upstream.reply(200, "a" * offset + BEARER + "b" * 5000, "text/plain")
        with Executor(get_secret={"s/bearer": BEARER}.__getitem__, max_response_bytes=limit) as executor:
            outcome = executor.execute(tool(auth_type="bearer", secret_ref="s/bearer", path="/big"), {})
        text = outcome.result["content"][0]["text"]
        shown = text.partition("\n\n[truncated")[0]
        assert shown == ("a" * offset + "[redacted]" + "b" * 5000)[:limit], offset
        assert BEARER[:5] not in text


def test_an_error_excerpt_is_redacted_before_it_is_cut(upstream, tool):
    from janus.gateway.content import ERROR_BODY_LIMIT

    upstream.reply(500, "e" * (ERROR_BODY_LIMIT - 4) + BEARER + "e" * 100, "text/plain")
    with Executor(get_secret={"s/bearer": BEARER}.__getitem__) as executor:
        outcome = executor.execute(tool(auth_type="bearer", secret_ref="s/bearer", path="/err"), {})
    text = outcome.result["content"][0]["text"]
    assert BEARER[:4] not in text and "[red" in text and text.endswith("…[truncated]")


def test_an_image_holding_the_credential_is_withheld_and_a_clean_one_passed(upstream, tool):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x01" * 10
    for body, passed in ((png, True), (png + BEARER.encode() + png, False)):
        upstream.reply(200, body, "image/png")
        with Executor(get_secret={"s/bearer": BEARER}.__getitem__) as executor:
            outcome = executor.execute(tool(auth_type="bearer", secret_ref="s/bearer", path="/img"), {})
        block = outcome.result["content"][0]
        assert (block["type"] == "image") is passed
        assert BEARER not in json.dumps(outcome.result)
        assert base64.b64encode(BEARER.encode()).decode()[:12] not in json.dumps(outcome.result)


def test_the_oauth_client_secret_and_access_token_are_redacted_when_echoed(echoing, tool):
    def handle(received, handler) -> None:
        if received.raw_path == TOKEN_PATH:
            body = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
            return echoing.send(handler, 200, json.dumps(body).encode(), "application/json")
        body = {"token": received.headers["authorization"], "debug": f"client_secret={CLIENT_SECRET}"}
        return echoing.send(handler, 200, json.dumps(body).encode(), "application/json")

    echoing.handler = handle
    with Executor(get_secret=_secrets(echoing).__getitem__) as executor:
        outcome = executor.execute(tool(auth_type="oauth2_client_credentials", secret_ref="s/oauth", path="/me"), {})
    assert outcome.result["structuredContent"] == {"token": "[redacted]", "debug": "client_secret=[redacted]"}


def test_the_test_connection_excerpt_is_decoded_redacted_and_then_cut(upstream, tool):
    upstream.reply(
        200, ("x" * 2040 + BEARER + " and " + BEARER.upper()).encode("utf-16-le"), "text/plain; charset=utf-16-le"
    )
    with Executor(get_secret={"s/bearer": BEARER}.__getitem__) as executor:
        probe = executor.probe(tool(auth_type="bearer", secret_ref="s/bearer").connection, excerpt_bytes=2048)
    assert probe.ok and probe.truncated
    assert probe.excerpt == "x" * 2040 + "[redacte"
    assert upstream.last.headers["authorization"] == f"Bearer {BEARER}"


@pytest.mark.parametrize("content_type", ["application/x-{}", "image/x-{}", "text/plain; x={}"])
def test_a_content_type_echoing_the_credential_is_redacted_where_it_is_quoted(content_type, upstream, tool):
    upstream.reply(200, b"\x00\x01binary", content_type.format(BEARER))
    with Executor(get_secret={"s/bearer": BEARER}.__getitem__) as executor:
        outcome = executor.execute(tool(auth_type="bearer", secret_ref="s/bearer", path="/ct"), {})
        probe = executor.probe(tool(auth_type="bearer", secret_ref="s/bearer").connection)
    assert BEARER.lower() not in (json.dumps(outcome.result) + repr(probe)).lower()


def test_a_token_endpoint_error_code_echoing_the_client_secret_is_not_quoted(echoing, tool):
    echoing.handler = lambda req, h: echoing.send(
        h, 400, json.dumps({"error": CLIENT_SECRET}).encode(), "application/json"
    )
    with Executor(get_secret=_secrets(echoing).__getitem__) as executor, pytest.raises(SecretError) as caught:
        executor.execute(tool(auth_type="oauth2_client_credentials", secret_ref="s/oauth", path="/x"), {})
    assert str(caught.value).endswith("answered HTTP 400") and CLIENT_SECRET not in str(caught.value)
