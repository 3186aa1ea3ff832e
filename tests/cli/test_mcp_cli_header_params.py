"""Header parameters end to end: a description with header parameters imported with `mcp-cli import openapi` into a
real gunicorn+gevent gateway, its tool called over MCP (tools/call on /mcp), and a real upstream on 127.0.0.1
receiving the headers; a value with CR/LF refused as a tool error with nothing sent; a credential-looking header
kept out of the audit digest; and `mcp-cli endpoint add/modify --header-param` (owned headers refused)."""

from __future__ import annotations

import hashlib
import json

import pytest
import requests
from werkzeug.wrappers import Request

from tests.support.cli import Cli, call_tool
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, json_response
from tests.support.waiting import wait_for

API_KEY = "caller-api-key-7781"
DESCRIPTION = {
    "openapi": "3.0.3",
    "info": {"title": "Headers API", "version": "1.0"},
    "servers": [{"url": "https://headers.example.test/v1"}],
    "paths": {
        "/items/{id}": {
            "get": {
                "operationId": "getItem",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "X-Request-Id", "in": "header", "required": True, "schema": {"type": "string"}},
                    {"name": "X-Api-Key", "in": "header", "schema": {"type": "string"}},
                    {
                        "name": "X-Api-Version",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "enum": ["2024-01-01"]},
                    },
                    # The query argument takes the name first: the header's becomes x_request_id_header.
                    {"name": "x_request_id", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "the item"}},
            }
        },
        "/session": {
            "get": {
                "operationId": "getSession",
                "parameters": [{"name": "sid", "in": "cookie", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


def _headers_echo(request: Request):
    return json_response({"path": request.full_path.rstrip("?"), "headers": dict(request.headers)})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("mcp-cli-header-params")
    upstream = Upstream()
    upstream.route("/v1/", _headers_echo)
    upstream.start()
    gateway = GatewayServer(
        str(root / "gateway.db"), WEB_CONCURRENCY="1", CATALOG_REFRESH_SECONDS="0", LOGIN_RATE_PER_IP="1000"
    ).start()
    admin = Cli(root / "admin-home")
    admin.login(gateway.url)
    token = admin.ok("token", "add", "--name", "Everything", "--scopes", "*").stdout.splitlines()[1]
    spec = root / "headers.json"
    spec.write_text(json.dumps(DESCRIPTION))
    imported = admin.ok("import", "openapi", str(spec), "--prefix", "hp_", "--base-url", upstream.url + "/v1")
    try:
        yield gateway, upstream, admin, token, imported
    finally:
        gateway.stop()
        upstream.stop()


def _answer(answer: dict) -> dict:
    assert "result" in answer and answer["result"].get("isError") is not True, answer
    return json.loads(answer["result"]["content"][0]["text"])


def test_an_imported_tool_sends_its_header_arguments_to_the_upstream(site):
    gateway, _, admin, token, imported = site
    assert "skipped GET /session: it needs the cookie parameter 'sid', and Janus sends no per-call cookies" in (
        imported.stdout
    )
    [endpoint] = [e for e in admin.json("endpoint", "list") if e["exposed_name"] == "hp_get_item"]
    assert endpoint["header_params"] == [
        {"argument": "x_request_id_header", "header": "X-Request-Id"},
        {"argument": "x_api_key", "header": "X-Api-Key"},
        {"header": "X-Api-Version", "value": "2024-01-01"},
    ]
    seen = _answer(
        call_tool(
            gateway.url,
            token,
            "hp_get_item",
            {"id": "7", "x_request_id_header": "req-42", "x_request_id": "in-query", "x_api_key": API_KEY},
        )
    )
    assert seen["path"] == "/v1/items/7?x_request_id=in-query"  # the header arguments are in no query
    assert seen["headers"]["X-Request-Id"] == "req-42"
    assert seen["headers"]["X-Api-Key"] == API_KEY
    assert seen["headers"]["X-Api-Version"] == "2024-01-01"


def test_a_header_value_with_a_line_break_is_a_tool_error_and_nothing_is_sent(site):
    gateway, upstream, _, token, _ = site
    before = len(upstream.seen)
    answer = call_tool(gateway.url, token, "hp_get_item", {"id": "7", "x_request_id_header": "a\r\nX-Evil: 1"})
    assert answer["result"]["isError"] is True, answer
    text = answer["result"]["content"][0]["text"]
    assert "header parameter 'x_request_id_header' contains CR, LF or NUL" in text
    assert len(upstream.seen) == before


def test_a_credential_looking_header_argument_is_kept_out_of_the_audit_digest(site):
    gateway, _, admin, token, _ = site
    arguments = {"id": "audited", "x_request_id_header": "req-audit", "x_api_key": API_KEY}
    _answer(call_tool(gateway.url, token, "hp_get_item", arguments))
    session = json.loads(admin.cache_file.read_text())["token"]

    def audited():
        rows = requests.get(
            gateway.url + "/api/v1/audit/tool-calls",
            params={"tool": "hp_get_item"},
            headers={"Authorization": f"Bearer {session}"},
            timeout=15,
        ).json()["items"]
        return [r for r in rows if r["status"] == "success"]

    without_key = {k: v for k, v in arguments.items() if k != "x_api_key"}
    canonical = json.dumps(without_key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    # The module's other calls of hp_get_item are audited too (and the writer is asynchronous): wait for this
    # call's row, found by the digest without the key, then check no row carries the key's digest.
    rows = wait_for(lambda: [r for r in audited() if r["arguments_digest"] == expected], what="this call's audit row")
    assert rows
    canonical_all = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical_all.encode()).hexdigest() not in {r["arguments_digest"] for r in audited()}


def test_endpoint_add_and_modify_take_header_params_and_refuse_the_ones_the_gateway_owns(site):
    gateway, _, admin, token, _ = site
    conn_id = next(c["id"] for c in admin.json("connection", "list") if c["prefix"] == "hp_")
    schema = json.dumps({"type": "object", "properties": {"rid": {"type": "string"}, "key": {"type": "string"}}})
    for header in ("Authorization", "Host", "Cookie", "Content-Length"):
        refused = admin.run(
            "endpoint", "add", "--conn-id", conn_id, "--name", "echo_owned", "--path", "/echo",
            "--schema", schema, "--header-param", f"key={header}",
        )  # fmt: skip
        assert refused.returncode != 0
        assert f"header {header!r} cannot be a header parameter" in refused.stderr
    bad = admin.run(
        "endpoint", "add", "--conn-id", conn_id, "--name", "echo_bad", "--path", "/echo", "--header-param", "rid"
    )
    assert bad.returncode == 2 and "'rid' is not of the form ARGUMENT=Header-Name" in bad.stderr

    ep_id = admin.ok(
        "endpoint", "add", "--conn-id", conn_id, "--name", "echo", "--path", "/echo", "--schema", schema,
        "--header-param", "rid=X-Request-Id", "--fixed-header", "X-Client=janus-tests",
    ).stdout.strip()  # fmt: skip
    seen = _answer(call_tool(gateway.url, token, "hp_echo", {"rid": "r-1"}))
    assert seen["headers"]["X-Request-Id"] == "r-1" and seen["headers"]["X-Client"] == "janus-tests"

    admin.ok("endpoint", "modify", "--id", ep_id, "--header-param", "key=X-Trace")
    echo = next(e for e in admin.json("endpoint", "list") if e["id"] == ep_id)
    assert echo["header_params"] == [{"argument": "key", "header": "X-Trace"}]
    refused = admin.run("endpoint", "modify", "--id", ep_id, "--header-param", "key=Transfer-Encoding")
    assert refused.returncode != 0 and "header 'Transfer-Encoding' cannot be a header parameter" in refused.stderr
    admin.ok("endpoint", "modify", "--id", ep_id, "--no-header-params")
    echo = next(e for e in admin.json("endpoint", "list") if e["id"] == ep_id)
    assert echo["header_params"] is None
