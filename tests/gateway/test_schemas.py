"""Tool input schemas through the backend (issue 10): references never leave the schema (item 2),
only declared arguments reach the upstream (item 4), and regexes run under a per-call budget (item 14).

Every test calls a real upstream on 127.0.0.1 through GatewayBackend, the same path a client's
tools/call takes, and reads the audit rows it writes.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import requests

from janus.gateway.executor import Executor
from tests.support.backend import backend_over, call_context
from tests.support.catalog import add_endpoint
from tests.support.http_gateway import WEATHER, mcp_headers, start_http_gateway, stateless_meta, stop_http_gateway
from tests.support.http_streams import wait_listed_everywhere
from tests.support.upstream import Upstream, json_response

HTTP_LEAK = "LEAKED-FROM-HTTP-5e1a"
FILE_LEAK = "LEAKED-FROM-FILE-9b7c"
CATASTROPHIC = "^(a|aa)+$"  # exponential backtracking on "aaa…!" in both re and regex


class Calls:
    """A backend over one tool; remembers the audit rows."""

    def __init__(self, tool) -> None:
        self.rows: list = []
        self.tool = tool
        # The default budget, 100 ms, as SCHEMA_PATTERN_BUDGET_SECONDS defaults to.
        self.backend = backend_over([tool], lambda: Executor(), self.rows.append)

    def __call__(self, arguments: dict) -> dict:
        ctx = call_context(era="handshake", protocol_version="2025-11-25")
        return self.backend.call_tool(ctx, self.tool.name, arguments)

    def close(self) -> None:
        self.backend.close()


@pytest.fixture
def calls(tool):
    opened: list[Calls] = []

    def factory(schema: dict, **kwargs) -> Calls:
        made = Calls(dataclasses.replace(tool(**kwargs), input_schema=schema))
        opened.append(made)
        return made

    yield factory
    for made in opened:
        made.close()


@pytest.fixture
def schema_host():
    """Another real server on 127.0.0.1 that would serve a schema, and counts who asks."""
    host = Upstream().start()
    host.route("/schema.json", lambda request: json_response({"enum": [HTTP_LEAK]}))
    yield host
    host.stop()


def _text(result: dict) -> str:
    return "\n".join(block.get("text", "") for block in result["content"])


# -- item 2: references ------------------------------------------------------------------------------

REMOTE = {
    "http $ref": lambda http, file: {"properties": {"x": {"$ref": http}}},
    "file $ref": lambda http, file: {"properties": {"x": {"$ref": file}}},
    "http $dynamicRef": lambda http, file: {"properties": {"x": {"$dynamicRef": http}}},
    "$id then relative $ref": lambda http, file: {
        "$id": http.rsplit("/", 1)[0] + "/",
        "properties": {"x": {"$ref": "schema.json"}},
    },
}


@pytest.mark.parametrize("shape", REMOTE)
def test_a_stored_schema_with_a_remote_reference_fetches_nothing_and_answers_a_tool_error(
    calls, upstream, schema_host, tmp_path, shape
):
    leaked_file = tmp_path / "schema.json"
    leaked_file.write_text(json.dumps({"enum": [FILE_LEAK]}))
    schema = {"type": "object", **REMOTE[shape](schema_host.url + "/schema.json", leaked_file.as_uri())}
    call = calls(schema, path="/items")  # as if registered before the rule existed

    for _ in range(2):  # the refusal is cached per snapshot and answered the same way each time
        result = call({"x": 1})
        assert result["isError"] is True
        assert "cannot be called: its input schema is not usable" in _text(result)
        assert HTTP_LEAK not in json.dumps(result) and FILE_LEAK not in json.dumps(result)
    assert schema_host.seen == []  # no request for the schema
    assert upstream.received == []  # nor for the tool
    assert [(r.status, r.error_message) for r in call.rows] == [("failure", "input schema refused")] * 2


def test_a_reference_hidden_behind_a_pointer_into_data_is_still_not_fetched(calls, upstream, schema_host):
    # The registration check skips data keywords; the offline registry is what stops this one.
    from janus.gateway.schemas import schema_problems

    schema = {
        "type": "object",
        "properties": {"x": {"$ref": "#/default/inner"}},
        "default": {"inner": {"$ref": schema_host.url + "/schema.json"}},
    }
    assert schema_problems(schema) == []
    result = calls(schema, path="/items")({"x": 1})
    assert result["isError"] is True and "cannot be called" in _text(result)
    assert HTTP_LEAK not in json.dumps(result)
    assert schema_host.seen == [] and upstream.received == []


def test_local_defs_references_keep_validating(calls, upstream):
    call = calls(
        {
            "type": "object",
            "properties": {"id": {"$ref": "#/$defs/ident"}},
            "required": ["id"],
            "$defs": {"ident": {"type": "string", "minLength": 2}},
        }
    )
    refused = call({"id": "x"})
    assert refused["isError"] is True and "'x' is too short" in _text(refused)
    assert upstream.received == []
    assert call({"id": "42"})["isError"] is False
    assert upstream.last.raw_path == "/items/42"


# -- item 4: which arguments go upstream --------------------------------------------------------------

DECLARED = {"type": "object", "properties": {"id": {"type": "string"}, "note": {"type": "string"}}, "required": ["id"]}


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST", "PATCH"])
def test_undeclared_arguments_are_refused_by_name_and_nothing_is_sent(calls, upstream, method):
    call = calls(DECLARED, method=method)
    result = call({"id": "7", "note": "hi", "role": "admin", "is_admin": True})
    assert result["isError"] is True
    assert _text(result) == (
        "Invalid arguments for tool 'billing_tool': 'is_admin', 'role' are not arguments "
        "of this tool (it accepts: id, note)"
    )
    assert upstream.received == []
    assert [(r.status, r.error_message) for r in call.rows] == [
        ("failure", "invalid arguments: undeclared or fixed names")
    ]


def test_declared_arguments_still_go_where_they_always_went(calls, upstream):
    assert calls(DECLARED, method="GET")({"id": "7", "note": "a b"})["isError"] is False
    assert upstream.last.raw_path == "/items/7?note=a+b"
    assert calls(DECLARED, method="POST")({"id": "7", "note": "hi"})["isError"] is False
    assert json.loads(upstream.last.body) == {"note": "hi"}


@pytest.mark.parametrize(
    "arguments", [{"id": "7", "scope": "internal"}, {"id": "7", "Scope": "internal"}, {"id": "7", "API_VERSION": "2"}]
)
def test_a_query_parameter_fixed_in_the_path_cannot_be_overridden_even_with_extras_allowed(calls, upstream, arguments):
    call = calls({**DECLARED, "additionalProperties": True}, path="/items/{{id}}?scope=public&api_version=1")
    result = call(arguments)
    assert result["isError"] is True and "fixed by the tool's definition and cannot be set" in _text(result)
    assert upstream.received == []
    assert call({"id": "7"})["isError"] is False
    assert upstream.last.raw_path == "/items/7?scope=public&api_version=1"


def test_the_executor_never_appends_a_second_value_for_a_fixed_query_parameter(executor, upstream, tool):
    # Defence in depth below the backend's refusal.
    executor.execute(tool(path="/items/{{id}}?scope=public"), {"id": "7", "SCOPE": "internal", "page": 2})
    assert upstream.last.raw_path == "/items/7?scope=public&page=2"


def test_explicit_additional_properties_lets_undeclared_arguments_through_as_query_or_body(calls, upstream):
    extras = {**DECLARED, "additionalProperties": True}
    assert calls(extras, method="GET")({"id": "7", "page": 2})["isError"] is False
    assert upstream.last.raw_path == "/items/7?page=2"
    assert calls(extras, method="POST")({"id": "7", "tag": "x"})["isError"] is False
    assert json.loads(upstream.last.body) == {"tag": "x"}
    # With a body template the admin chose the body: extras cannot add or replace a field.
    templated = calls(extras, method="POST", body_template='{"note": "{{note}}", "role": "viewer"}')
    assert templated({"id": "7", "note": "n", "role": "admin", "is_admin": True})["isError"] is False
    assert json.loads(upstream.last.body) == {"note": "n", "role": "viewer"}


def test_a_schema_typed_additional_properties_validates_the_extras(calls, upstream):
    call = calls({**DECLARED, "additionalProperties": {"type": "string"}})
    refused = call({"id": "7", "page": 2})
    assert refused["isError"] is True and "page: 2 is not of type 'string'" in _text(refused)
    assert upstream.received == []
    assert call({"id": "7", "page": "2"})["isError"] is False
    assert upstream.last.raw_path == "/items/7?page=2"


def test_properties_declared_through_all_of_and_local_refs_count_as_declared():
    from janus.gateway.schemas import ArgumentRules

    rules = ArgumentRules.of(
        {
            "type": "object",
            "$ref": "#/$defs/base",
            "allOf": [{"properties": {"b": {}}}],
            "$defs": {"base": {"properties": {"a": {}}}},
        },
        "/x/{{p}}",
    )
    assert rules.declared == frozenset({"a", "b", "p"})
    assert rules.refusal({"a": 1, "b": 2, "p": 3}) is None
    assert rules.refusal({"c": 1}) == "'c' is not an argument of this tool (it accepts: a, b, p)"


# -- item 14: regexes under a budget ----------------------------------------------------------------


def _assert_cut_off(call, result, upstream) -> None:
    assert result["isError"] is True
    assert _text(result) == (
        "Invalid arguments for tool 'billing_tool': an argument could not be checked "
        "against the tool's pattern within 100 ms, so it is refused"
    )
    assert upstream.received == []
    assert [(r.status, r.error_message) for r in call.rows] == [("failure", "invalid arguments: pattern time limit")]


def test_a_catastrophic_pattern_is_cut_off_by_the_budget_and_refused(calls, upstream):
    call = calls({"type": "object", "properties": {"id": {"type": "string", "pattern": CATASTROPHIC}}})
    _assert_cut_off(call, call({"id": "a" * 36 + "!"}), upstream)


def test_pattern_properties_names_are_matched_under_the_budget(calls, upstream):
    call = calls(
        {"type": "object", "patternProperties": {CATASTROPHIC: {"type": "string"}}, "additionalProperties": True},
        path="/items",
    )
    _assert_cut_off(call, call({"a" * 36 + "!": "x"}), upstream)


def test_the_budget_is_for_the_whole_call_not_for_each_match(calls, upstream):
    # Each match alone is short; fifty of them are not.
    call = calls(
        {"type": "object", "properties": {"ids": {"type": "array", "items": {"pattern": CATASTROPHIC}}}}, path="/items"
    )
    _assert_cut_off(call, call({"ids": ["a" * 20 + "!"] * 50}), upstream)


def test_ordinary_patterns_still_accept_and_refuse(calls, upstream):
    call = calls({"type": "object", "properties": {"id": {"type": "string", "pattern": "^[0-9]{3}$"}}})
    refused = call({"id": "12x"})
    assert refused["isError"] is True and "id: '12x' does not match '^[0-9]{3}$'" in _text(refused)
    assert call({"id": "123"})["isError"] is False
    assert upstream.last.raw_path == "/items/123"


def test_nested_quantifiers_that_the_engine_handles_answer_at_once_with_a_clear_error(calls, upstream):
    # The issue's example: with stdlib re this never finishes; here it is an ordinary mismatch.
    call = calls({"type": "object", "properties": {"id": {"type": "string", "pattern": "^(a+)+$"}}})
    result = call({"id": "a" * 40 + "!"})
    assert result["isError"] is True and "does not match '^(a+)+$'" in _text(result)
    assert upstream.received == []


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """A real gunicorn+gevent gateway with a single worker: a stalled worker would stall everything."""
    gateway = start_http_gateway(tmp_path_factory.mktemp("schemas"), WEB_CONCURRENCY="1")
    add_endpoint(
        gateway.app,
        gateway.weather_connection,
        "get_by_code",
        "/stations/{{code}}",
        schema={
            "type": "object",
            "properties": {"code": {"type": "string", "pattern": CATASTROPHIC}},
            "required": ["code"],
        },
    )
    wait_listed_everywhere(gateway.url, WEATHER, lambda tools: "weather_get_by_code" in tools, "the patterned tool")
    yield gateway
    stop_http_gateway(gateway)


def _call_over_http(gateway, name: str, arguments: dict) -> dict:
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": stateless_meta()},
    }
    response = requests.post(
        gateway.url + "/mcp",
        data=json.dumps(body),
        timeout=30,
        headers=mcp_headers(
            WEATHER, **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name}
        ),
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_a_real_gateway_worker_cuts_a_catastrophic_pattern_off_and_keeps_serving(one_worker):
    result = _call_over_http(one_worker, "weather_get_by_code", {"code": "a" * 40 + "!"})
    assert result["isError"] is True
    assert "could not be checked against the tool's pattern within 100 ms" in _text(result)
    assert not any(s.path.startswith("/stations/a") for s in one_worker.upstream.seen)
    after = _call_over_http(one_worker, "weather_get_station", {"id": "after"})
    assert after["isError"] is False and after["structuredContent"]["path"] == "/stations/after"
