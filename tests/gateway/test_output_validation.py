"""structuredContent against a tool's outputSchema, per policy, over the real call path and a real upstream."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from janus.gateway.executor import Executor
from janus.gateway.output_validation import MISMATCH
from tests.gateway.conftest import make_tool
from tests.support.backend import backend_over, call_context

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id", "name"],
}
SECRET_VALUE = "value-never-logged-4711"


def _call(upstream, policy, body, schema=SCHEMA):
    tool = dataclasses.replace(make_tool(upstream.base_url), output_schema=schema, output_validation=policy)
    upstream.reply(200, body)
    records = []
    backend = backend_over([tool], Executor, records.append)
    try:
        result = backend.call_tool(call_context(), tool.name, {"id": "7"})
    finally:
        backend.close()
    return result, records


def test_a_conforming_answer_passes_under_every_policy_with_nothing_audited(upstream):
    for policy in ("off", "lenient", "strict"):
        result, [record] = _call(upstream, policy, {"id": 7, "name": "seven"})
        assert result["isError"] is False and result["structuredContent"] == {"id": 7, "name": "seven"}
        assert (record.status, record.error_message) == ("success", None)


def test_strict_turns_a_mismatch_into_a_tool_error_naming_the_first_path_and_no_value(upstream):
    result, [record] = _call(upstream, "strict", {"id": SECRET_VALUE, "name": "x"})
    assert result["isError"] is True and "structuredContent" not in result
    text = result["content"][0]["text"]
    assert f"{MISMATCH}: at /id (type)" in text and "strict" in text
    assert SECRET_VALUE not in text
    assert (record.status, record.error_message) == ("failure", f"{MISMATCH}: at /id (type)")
    assert record.http_status == 200  # the upstream did answer


def test_lenient_logs_where_it_failed_and_passes_the_answer(upstream, caplog):
    with caplog.at_level(logging.WARNING, logger="janus.gateway.output_validation"):
        result, [record] = _call(upstream, "lenient", {"name": SECRET_VALUE})
    assert result["isError"] is False and result["structuredContent"] == {"name": SECRET_VALUE}
    assert (record.status, record.error_message) == ("success", f"{MISMATCH}: at / (required)")
    assert "billing_tool" in caplog.text and f"{MISMATCH}: at / (required)" in caplog.text
    assert SECRET_VALUE not in caplog.text


def test_off_never_checks(upstream):
    result, [record] = _call(upstream, "off", {"id": "not a number"})
    assert result["isError"] is False and result["structuredContent"] == {"id": "not a number"}
    assert (record.status, record.error_message) == ("success", None)


def test_an_answer_that_is_not_an_object_has_no_structured_content_and_fails_strict(upstream):
    result, [record] = _call(upstream, "strict", [1, 2, 3])
    assert result["isError"] is True
    assert "not a JSON object, so there is no structuredContent" in result["content"][0]["text"]
    assert record.status == "failure"


def test_an_upstream_error_is_reported_as_it_is_not_as_a_schema_mismatch(upstream):
    tool = dataclasses.replace(make_tool(upstream.base_url), output_schema=SCHEMA, output_validation="strict")
    upstream.reply(404, {"detail": "missing"})
    records = []
    backend = backend_over([tool], Executor, records.append)
    try:
        result = backend.call_tool(call_context(), tool.name, {"id": "7"})
    finally:
        backend.close()
    assert result["isError"] is True and "HTTP 404" in result["content"][0]["text"]
    assert MISMATCH not in (records[0].error_message or "")


@pytest.mark.parametrize("policy", ["lenient", "strict"])
def test_an_unusable_output_schema_is_never_a_silent_pass(upstream, policy):
    remote = {"type": "object", "properties": {"x": {"$ref": "https://schemas.example.test/x.json"}}}
    result, [record] = _call(upstream, policy, {"x": 1}, schema=remote)
    assert "outputSchema is not usable" in record.error_message
    assert result["isError"] is (policy == "strict")
