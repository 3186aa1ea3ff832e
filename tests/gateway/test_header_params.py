"""Header parameters (janus/gateway/header_params.py): the save-time rules, and what a real upstream on
127.0.0.1 receives from the executor — the header, nothing of it in the query or body, the connection's
credentials always winning, and values that could split a header refused before anything is sent."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from janus.gateway.executor import plan_request
from janus.gateway.header_params import (
    FORBIDDEN_HEADERS,
    HeaderParamError,
    check_header_params,
    compile_header_params,
)
from janus.gateway.templating import ArgumentError

SECRET = "k3y-value-from-the-vault"


def _with_headers(tool, params):
    return dataclasses.replace(tool, header_params=compile_header_params(check_header_params(params)))


# -- the rules at save time ---------------------------------------------------------


def test_a_list_of_argument_and_fixed_headers_is_kept_as_given_and_empty_is_none():
    params = [{"argument": "x_request_id", "header": "X-Request-Id"}, {"header": "X-Api-Version", "value": "2"}]
    assert check_header_params(params) == params
    assert check_header_params([]) is None and check_header_params(None) is None


@pytest.mark.parametrize("header", sorted(FORBIDDEN_HEADERS))
def test_a_header_the_gateway_owns_is_refused_in_any_letter_case(header):
    for name in (header, header.upper(), header.title()):
        with pytest.raises(HeaderParamError, match=f"header {name!r} cannot be a header parameter"):
            check_header_params([{"argument": "a", "header": name}])


@pytest.mark.parametrize(
    "params, message",
    [
        ("X-A", "must be a list"),
        ([{"argument": "a", "header": "X A"}], "header name 'X A' is invalid"),
        ([{"argument": "a", "header": "X-A\r\nHost: evil"}], "is invalid"),
        ([{"argument": "a", "header": ""}], "needs a header name"),
        ([{"header": "X-A"}], "needs either an argument"),
        ([{"argument": "a", "header": "X-A", "value": "v"}], "not both"),
        ([{"argument": "1a", "header": "X-A"}], "argument '1a' of header 'X-A' is invalid"),
        ([{"argument": "a", "header": "X-A"}, {"argument": "b", "header": "x-a"}], "header 'x-a' is given twice"),
        ([{"argument": "a", "header": "X-A"}, {"argument": "a", "header": "X-B"}], "is sent as two headers"),
        ([{"header": "X-A", "value": "a\r\nb"}], "contains CR, LF or NUL"),
        ([{"header": "X-A", "value": "żółw"}], "outside ASCII"),
        ([{"header": "X-A", "value": 3}], "must be a string"),
        ([{"argument": "a", "header": "X-A", "as": "b"}], "field 'as' is unknown"),
    ],
    ids=[
        "not-a-list",
        "space-in-name",
        "crlf-in-name",
        "empty-name",
        "neither",
        "both",
        "bad-argument",
        "header-twice",
        "argument-twice",
        "crlf-in-fixed-value",
        "non-ascii-fixed-value",
        "number-fixed-value",
        "unknown-field",
    ],
)
def test_malformed_header_params_are_refused_with_a_specific_message(params, message):
    with pytest.raises(HeaderParamError, match=message.replace("(", r"\(")):
        check_header_params(params)


def test_credential_looking_headers_mark_their_arguments_sensitive_and_none_compiles_to_none():
    compiled = compile_header_params(
        [
            {"argument": "api_key", "header": "X-Api-Key"},
            {"argument": "rid", "header": "X-Request-Id"},
            {"argument": "sig", "header": "X-Signature"},
        ]
    )
    assert compiled is not None
    assert compiled.sensitive == {"api_key", "sig"} and compiled.names == {"api_key", "rid", "sig"}
    assert compile_header_params(None) is None and compile_header_params([]) is None


# -- what the upstream receives ---------------------------------------------------------


def test_arguments_arrive_as_headers_and_not_in_the_query(executor, upstream, tool):
    spec = _with_headers(
        tool(path="/items/{{id}}"),
        [
            {"argument": "x_request_id", "header": "X-Request-Id"},
            {"argument": "dry", "header": "X-Dry-Run"},
            {"argument": "n", "header": "X-Count"},
            {"argument": "absent", "header": "X-Absent"},
            {"header": "X-Api-Version", "value": "2022-11-28"},
        ],
    )
    executor.execute(spec, {"id": "7", "x_request_id": "req-1", "dry": True, "n": 3, "limit": 5, "absent": None})
    got = upstream.last
    assert got.raw_path == "/items/7?limit=5"  # only the undeclared-as-header argument is in the query
    assert got.headers["x-request-id"] == "req-1"
    assert got.headers["x-dry-run"] == "true" and got.headers["x-count"] == "3"
    assert got.headers["x-api-version"] == "2022-11-28"
    assert "x-absent" not in got.headers


def test_a_header_argument_is_not_in_the_json_body_of_a_post(executor, upstream, tool):
    spec = _with_headers(tool(method="POST", path="/items"), [{"argument": "idem", "header": "Idempotency-Key"}])
    executor.execute(spec, {"idem": "k-1", "name": "x"})
    assert json.loads(upstream.last.body) == {"name": "x"}
    assert upstream.last.headers["idempotency-key"] == "k-1"


@pytest.mark.parametrize(
    "value, message",
    [
        ("a\r\nX-Injected: 1", "contains CR, LF or NUL"),
        ("a\nb", "contains CR, LF or NUL"),
        ("a\x00b", "contains CR, LF or NUL"),
        ("a\x7fb", "control character"),
        ("café", "outside ASCII"),
        ({"a": 1}, "must be a string, number or boolean, not an object"),
        ([1], "must be a string, number or boolean, not an array"),
        (float("inf"), "must be a finite number"),
    ],
    ids=["crlf", "lf", "nul", "del", "non-ascii", "object", "array", "infinity"],
)
def test_a_value_a_header_cannot_carry_is_refused_before_anything_is_sent(executor, upstream, tool, value, message):
    spec = _with_headers(tool(), [{"argument": "rid", "header": "X-Request-Id"}])
    with pytest.raises(ArgumentError, match=f"header parameter 'rid' .*{message}"):
        executor.execute(spec, {"id": "1", "rid": value})
    assert upstream.received == []


def test_the_connections_custom_headers_win_over_a_header_argument_in_any_letter_case(
    executor, upstream, tool, secrets
):
    secrets["ref"] = json.dumps({"X-Api-Key": SECRET})
    spec = _with_headers(
        tool(auth_type="custom_headers", secret_ref="ref"), [{"argument": "key", "header": "x-api-key"}]
    )
    executor.execute(spec, {"id": "1", "key": "caller-chosen"})
    sent = [(k.lower(), v) for k, v in upstream.last.header_lines if k.lower() == "x-api-key"]
    assert sent == [("x-api-key", SECRET)]  # once, the connection's


def test_the_planned_request_names_the_headers_for_the_portal_preview(tool):
    spec = _with_headers(tool(), [{"argument": "rid", "header": "X-Request-Id"}, {"header": "X-V", "value": "1"}])
    planned = plan_request(spec, {"id": "1", "rid": "r", "q": "z"})
    assert planned.headers == (("X-V", "1"), ("X-Request-Id", "r"))
    assert dict(parse_qsl(urlsplit(planned.path).query)) == {"q": "z"}


def test_a_tool_without_header_params_plans_no_headers(tool):
    assert tool().header_params is None
    assert plan_request(tool(), {"id": "1", "x_request_id": "r"}).headers == ()
