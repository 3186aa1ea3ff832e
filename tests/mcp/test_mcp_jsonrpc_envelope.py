"""The JSON-RPC 2.0 envelope: parsing, validation, ids, batches, notifications, serialisation."""

from __future__ import annotations

import json

import pytest
from mcp_core_fakes import req

from janus.mcp import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    error_response,
    notification,
    result_response,
)
from janus.mcp.jsonrpc import is_valid_id


def handle(server, message, session=None):
    return server.handle(message, session=session, caller="alice")


@pytest.mark.parametrize("raw", ["{", "", "not json", '{"jsonrpc": "2.0", "id": 1,', "NaN", b"\xff\xfe\x00garbage"])
def test_undecodable_input_answers_parse_error_with_null_id(server, raw):
    response = json.loads(server.handle_raw(raw, session=None, caller=None))
    assert response == {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}}


def test_absurdly_nested_input_answers_parse_error(server):
    raw = "[" * 100_000 + "]" * 100_000
    assert json.loads(server.handle_raw(raw, session=None, caller=None))["error"]["code"] == PARSE_ERROR


def test_handle_raw_accepts_bytes_and_answers_compact_json(server):
    out = server.handle_raw(b'{"jsonrpc":"2.0","id":7,"method":"ping"}', session=None, caller=None)
    assert out == '{"jsonrpc":"2.0","id":7,"result":{}}'


def test_handle_raw_keeps_non_ascii_text_unescaped(server, backend):
    backend.tools[0]["description"] = "Température ☀"
    out = server.handle_raw(json.dumps(req("tools/list")), session=None, caller=None)
    assert "Température ☀" in out


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "1.0", "id": 3, "method": "ping"},
        {"id": 3, "method": "ping"},
        {"jsonrpc": 2.0, "id": 3, "method": "ping"},
    ],
)
def test_wrong_jsonrpc_version_answers_invalid_request_with_the_request_id(server, message):
    response = handle(server, message)
    assert response["id"] == 3
    assert response["error"]["code"] == INVALID_REQUEST


@pytest.mark.parametrize("method", [None, 5, ["ping"], {"name": "ping"}])
def test_non_string_method_answers_invalid_request(server, method):
    response = handle(server, {"jsonrpc": "2.0", "id": "a", "method": method})
    assert response["error"]["code"] == INVALID_REQUEST
    assert response["id"] == "a"


def test_message_without_method_result_or_error_answers_invalid_request(server):
    assert handle(server, {"jsonrpc": "2.0", "id": 4})["error"]["code"] == INVALID_REQUEST


@pytest.mark.parametrize("message", [1, "ping", None, True])
def test_non_object_message_answers_invalid_request_with_null_id(server, message):
    response = handle(server, message)
    assert response["id"] is None
    assert response["error"]["code"] == INVALID_REQUEST


@pytest.mark.parametrize("request_id", ["abc", "", 0, -5, 2**63, 12345678901234567890])
def test_string_and_integer_ids_are_echoed_back_unchanged(server, request_id):
    response = handle(server, req("ping", id=request_id))
    assert response == {"jsonrpc": "2.0", "id": request_id, "result": {}}


@pytest.mark.parametrize("request_id", [None, 1.5, 1.0, True, False, {"a": 1}, [1]])
def test_null_float_bool_object_and_array_ids_answer_invalid_request_with_null_id(server, backend, request_id):
    response = handle(server, req("tools/call", {"name": "alpha"}, id=request_id))
    assert response["error"]["code"] == INVALID_REQUEST
    assert response["id"] is None
    assert backend.calls == []


@pytest.mark.parametrize("params", [[1, 2], "x", 3, True])
def test_params_that_are_not_an_object_answer_invalid_request(server, params):
    response = handle(server, req("tools/list", params))
    assert response["error"]["code"] == INVALID_REQUEST
    assert response["id"] == 1


def test_null_params_are_read_as_absent(server):
    assert "tools" in handle(server, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": None})["result"]


def test_unknown_method_answers_method_not_found_naming_it(server):
    response = handle(server, req("resources/list"))
    assert response["error"]["code"] == METHOD_NOT_FOUND
    assert response["error"]["data"] == {"method": "resources/list"}


def test_notification_sent_as_request_answers_method_not_found(server):
    assert handle(server, req("notifications/initialized"))["error"]["code"] == METHOD_NOT_FOUND


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/whatever", "params": {"x": 1}},
        {"jsonrpc": "2.0", "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "tools/call", "params": [1]},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": None}},
    ],
)
def test_notifications_never_get_a_response(server, session, message):
    assert handle(server, message, session) is None
    assert server.handle_raw(json.dumps(message), session=session, caller=None) is None


def test_a_notification_never_reaches_the_backend(server, backend):
    handle(server, {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "alpha"}})
    assert backend.calls == []


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 9, "result": {}},
        {"jsonrpc": "2.0", "id": 9, "error": {"code": -1, "message": "no"}},
        {"id": None, "error": {"code": -1, "message": "no"}},
    ],
)
def test_responses_from_the_client_are_accepted_silently(server, message):
    assert handle(server, message) is None


def test_batch_answers_each_request_in_order_and_skips_notifications(server):
    batch = [
        req("ping", id=1),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        req("nope", id=2),
        {"jsonrpc": "1.0", "id": 3, "method": "ping"},
        req("tools/list", id="four"),
    ]
    responses = handle(server, batch)
    assert [r["id"] for r in responses] == [1, 2, 3, "four"]
    assert responses[0]["result"] == {}
    assert responses[1]["error"]["code"] == METHOD_NOT_FOUND
    assert responses[2]["error"]["code"] == INVALID_REQUEST
    assert "tools" in responses[3]["result"]


def test_empty_batch_answers_a_single_invalid_request(server):
    response = handle(server, [])
    assert response["error"]["code"] == INVALID_REQUEST
    assert response["id"] is None


def test_batch_of_only_notifications_gets_no_response(server):
    batch = [{"jsonrpc": "2.0", "method": "notifications/initialized"}, {"jsonrpc": "2.0", "id": 1, "result": {}}]
    assert handle(server, batch) is None
    assert server.handle_raw(json.dumps(batch), session=None, caller=None) is None


def test_batch_with_invalid_elements_answers_each_with_invalid_request(server):
    responses = handle(server, [1, [req("ping")], "x"])
    assert [(r["id"], r["error"]["code"]) for r in responses] == [(None, INVALID_REQUEST)] * 3


def test_handle_raw_answers_a_batch_with_a_json_array(server):
    out = server.handle_raw(json.dumps([req("ping", id=1), req("ping", id=2)]), session=None, caller=None)
    assert json.loads(out) == [{"jsonrpc": "2.0", "id": 1, "result": {}}, {"jsonrpc": "2.0", "id": 2, "result": {}}]


def test_unserialisable_backend_result_answers_internal_error_and_spares_batch_siblings(server):
    batch = [req("tools/call", {"name": "unserialisable"}, id=1), req("ping", id=2)]
    responses = json.loads(server.handle_raw(json.dumps(batch), session=None, caller=None))
    assert responses[0] == {"jsonrpc": "2.0", "id": 1, "error": {"code": INTERNAL_ERROR, "message": "Internal error"}}
    assert responses[1]["result"] == {}


def test_response_builders_have_the_json_rpc_shape():
    assert result_response(1, {"a": 1}) == {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}
    assert error_response("x", -32601, "Method not found") == {
        "jsonrpc": "2.0",
        "id": "x",
        "error": {"code": -32601, "message": "Method not found"},
    }
    assert error_response(None, -32602, "bad", {"k": 1})["error"]["data"] == {"k": 1}


def test_notification_builder_omits_absent_params():
    assert notification("notifications/tools/list_changed") == {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
    }
    assert notification("notifications/progress", {"progress": 1})["params"] == {"progress": 1}


@pytest.mark.parametrize("value,valid", [(1, True), ("1", True), (True, False), (None, False), (1.0, False)])
def test_is_valid_id_accepts_only_strings_and_integers(value, valid):
    assert is_valid_id(value) is valid
