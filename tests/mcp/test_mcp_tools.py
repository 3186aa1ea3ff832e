"""tools/list pagination and cursors, tools/call parameters, and how backend failures reach the client."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from mcp_core_fakes import SECRET, envelope, req

from janus.mcp import INTERNAL_ERROR, INVALID_PARAMS, McpServer
from janus.mcp.pagination import decode_cursor, encode_cursor

NAMES = ["a1", "a2", "a3", "a4", "a5"]


@pytest.fixture
def paged(make_server, backend) -> McpServer:
    backend.set_tools(NAMES)
    return make_server(page_size=2)


def list_page(server, cursor=None, meta=None, id=1):
    params = {}
    if cursor is not None:
        params["cursor"] = cursor
    if meta is not None:
        params["_meta"] = meta
    return server.handle(req("tools/list", params, id), session=None, caller="alice")


def names(result):
    return [tool["name"] for tool in result["tools"]]


def test_tools_list_walks_every_page_in_backend_order(paged):
    first = list_page(paged)["result"]
    second = list_page(paged, first["nextCursor"])["result"]
    third = list_page(paged, second["nextCursor"])["result"]
    assert [names(first), names(second), names(third)] == [["a1", "a2"], ["a3", "a4"], ["a5"]]
    assert "nextCursor" not in third


def test_tools_list_pages_the_stateless_era_the_same_way(paged):
    first = list_page(paged, meta=envelope())["result"]
    second = list_page(paged, first["nextCursor"], meta=envelope())["result"]
    assert names(first) + names(second) == ["a1", "a2", "a3", "a4"]
    assert second["resultType"] == "complete" and "cacheScope" in second


def test_exact_multiple_of_page_size_has_no_trailing_cursor(make_server, backend):
    backend.set_tools(["x", "y", "z", "w"])
    server = make_server(page_size=2)
    second = list_page(server, list_page(server)["result"]["nextCursor"])["result"]
    assert names(second) == ["z", "w"]
    assert "nextCursor" not in second


def test_single_page_listing_has_no_next_cursor(server):
    assert "nextCursor" not in list_page(server)["result"]


def test_empty_listing_answers_an_empty_tool_list(server, backend):
    backend.set_tools([])
    assert list_page(server)["result"] == {"tools": []}


def test_default_page_size_is_one_hundred(make_server, backend):
    backend.set_tools([f"t{i}" for i in range(150)])
    server = make_server()
    first = list_page(server)["result"]
    assert len(first["tools"]) == 100
    assert len(list_page(server, first["nextCursor"])["result"]["tools"]) == 50


def test_cursor_is_opaque_url_safe_text(paged):
    cursor = list_page(paged)["result"]["nextCursor"]
    assert isinstance(cursor, str)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cursor_from_before_the_listing_changed_answers_invalid_params(paged, backend):
    cursor = list_page(paged)["result"]["nextCursor"]
    backend.set_tools(NAMES + ["a6"])
    response = list_page(paged, cursor)
    assert response["error"]["code"] == INVALID_PARAMS
    assert "Stale cursor" in response["error"]["message"]


def _b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!!",
        "%%%%",
        "ünïcode",
        _b64("just a string"),
        _b64([2, "f"]),
        _b64({"v": 1, "o": -2, "f": "x"}),
        _b64({"v": 1, "o": "2", "f": "x"}),
        _b64({"v": 1, "o": True, "f": "x"}),
        _b64({"v": 99, "o": 2, "f": "x"}),
        _b64({"v": 1, "o": 2}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbage_cursor_answers_invalid_params(paged, cursor):
    response = list_page(paged, cursor)
    assert response["error"]["code"] == INVALID_PARAMS
    assert response["id"] == 1


@pytest.mark.parametrize("cursor", [5, 1.5, ["x"], {"o": 1}, True])
def test_non_string_cursor_answers_invalid_params(paged, cursor):
    assert list_page(paged, cursor)["error"]["code"] == INVALID_PARAMS


def test_cursor_past_the_end_of_the_same_listing_answers_invalid_params(paged, backend):
    fingerprint = paged.backend.list_tools(None).fingerprint
    assert list_page(paged, encode_cursor(99, fingerprint))["error"]["code"] == INVALID_PARAMS


def test_cursor_round_trips_its_offset():
    assert decode_cursor(encode_cursor(42, "fp"), "fp") == 42


def test_page_size_below_one_is_refused(make_server):
    with pytest.raises(ValueError):
        make_server(page_size=0)


def test_backend_returning_something_else_than_a_listing_answers_internal_error(server, backend):
    backend.list_tools = lambda ctx: [{"name": "x"}]
    assert list_page(server)["error"] == {"code": INTERNAL_ERROR, "message": "Internal error"}


def call(server, params, session=None):
    return server.handle(req("tools/call", params), session=session, caller="alice")


def test_tools_call_passes_name_and_arguments_to_the_backend(server, backend):
    result = call(server, {"name": "alpha", "arguments": {"q": "hi", "n": [1, 2]}})["result"]
    assert backend.calls == [("alpha", {"q": "hi", "n": [1, 2]})]
    assert json.loads(result["content"][0]["text"]) == {"tool": "alpha", "arguments": {"q": "hi", "n": [1, 2]}}


@pytest.mark.parametrize("params", [{"name": "alpha"}, {"name": "alpha", "arguments": None}])
def test_tools_call_without_arguments_defaults_them_to_an_empty_object(server, backend, params):
    call(server, params)
    assert backend.calls == [("alpha", {})]


@pytest.mark.parametrize("params", [None, {}, {"name": None}, {"name": 5}, {"name": ""}, {"arguments": {}}])
def test_tools_call_without_a_string_name_answers_invalid_params(server, backend, params):
    response = server.handle(req("tools/call", params), session=None, caller=None)
    assert response["error"]["code"] == INVALID_PARAMS
    assert backend.calls == []


@pytest.mark.parametrize("arguments", [[1, 2], "q=1", 3, True])
def test_tools_call_with_non_object_arguments_answers_invalid_params(server, backend, arguments):
    assert call(server, {"name": "alpha", "arguments": arguments})["error"]["code"] == INVALID_PARAMS
    assert backend.calls == []


def test_backend_mcp_error_reaches_the_client_with_its_code_message_and_data(server):
    assert call(server, {"name": "missing"})["error"] == {
        "code": INVALID_PARAMS,
        "message": "Unknown tool: missing",
        "data": {"name": "missing"},
    }


def test_backend_exception_answers_generic_internal_error_without_leaking_its_text(server, caplog):
    with caplog.at_level(logging.ERROR, logger="janus.mcp"):
        raw = server.handle_raw(json.dumps(req("tools/call", {"name": "boom"}, id=77)), session=None, caller=None)
    assert json.loads(raw) == {
        "jsonrpc": "2.0",
        "id": 77,
        "error": {"code": INTERNAL_ERROR, "message": "Internal error"},
    }
    assert SECRET not in raw
    record = next(r for r in caplog.records if r.name == "janus.mcp")
    assert record.exc_info is not None and "tools/call" in record.getMessage()


def test_backend_exception_in_the_stateless_era_is_just_as_generic(server):
    response = call(server, {"name": "boom", "_meta": envelope()})
    assert response["error"] == {"code": INTERNAL_ERROR, "message": "Internal error"}


def test_backend_returning_a_non_object_answers_internal_error(server):
    assert call(server, {"name": "not_a_dict"})["error"]["code"] == INTERNAL_ERROR


def test_backend_sees_the_caller_untouched(server, backend):
    principal = object()
    server.handle(req("tools/call", {"name": "alpha"}), session=None, caller=principal)
    assert backend.contexts[-1].caller is principal
