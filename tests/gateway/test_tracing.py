"""Trace context of tool calls (janus/gateway/tracing.py): parsing, forwarding with tracing off, and spans
exported over real OTLP/HTTP to a collector on 127.0.0.1 with tracing on — all through the real backend,
executor and a real upstream."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from janus.gateway import tracing
from janus.gateway.catalog import Principal
from janus.gateway.executor import Executor
from janus.gateway.tool_backend import CallRecord
from janus.mcp.errors import McpError
from tests.gateway.conftest import make_tool
from tests.support.backend import backend_over, call_context
from tests.support.otlp_collector import Collector
from tests.support.waiting import wait_for

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SECRET = "tracing-secret-value-0451"
ARGUMENT = "argument-value-never-exported-77"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (CALLER, CALLER),
        ("  " + CALLER + "\t", CALLER),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ),
        # A later version: its first four fields are read, the rest ignored, and it is forwarded as version 00.
        ("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", CALLER),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),  # version ff is invalid
        (CALLER + "-extra", None),  # version 00 has exactly four fields
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", None),  # upper case is not W3C
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", None),
        ("garbage", None),
        ("", None),
        (17, None),
        (None, None),
        ("0" * 10_000, None),
    ],
)
def test_parse_traceparent(value, expected):
    assert tracing.parse_traceparent(value) == expected


def test_meta_traceparent_comes_before_the_header_and_an_invalid_one_is_not_replaced():
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    assert tracing.caller_traceparent({"traceparent": CALLER}, other) == CALLER
    assert tracing.caller_traceparent({}, other) == other
    assert tracing.caller_traceparent(None, other) == other
    assert tracing.caller_traceparent({"traceparent": "nonsense"}, other) is None
    assert tracing.caller_traceparent({}, "nonsense") is None
    assert tracing.caller_traceparent({}, None) is None


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_which_variables_turn_tracing_on(environ, on):
    assert tracing.enabled_by(environ) is on


def _call(upstream, *, meta=None, header=None, auth=True, arguments=None):
    """One tools/call through the real backend and executor; the audit record it wrote."""
    records: list[CallRecord] = []
    tool = make_tool(
        upstream.base_url, auth_type="bearer" if auth else "none", secret_ref="billing-key" if auth else None
    )
    executor = Executor(get_secret={"billing-key": SECRET}.__getitem__)
    backend = backend_over([tool], lambda: executor, records.append)
    ctx = dataclasses.replace(call_context(), meta=meta or {}, caller=Principal(token_hash=None, traceparent=header))
    try:
        result = backend.call_tool(ctx, tool.name, arguments or {"id": ARGUMENT})
    finally:
        backend.close()
    return result, records


def test_without_tracing_the_callers_traceparent_is_forwarded_unchanged_and_audited(upstream):
    assert not tracing.enabled()
    result, records = _call(upstream, header=CALLER)
    assert result["isError"] is False
    assert upstream.last.headers["traceparent"] == CALLER
    assert [r.trace_id for r in records] == [TRACE_ID]


def test_without_tracing_or_a_trace_context_nothing_is_added(upstream):
    _, records = _call(upstream)
    assert "traceparent" not in upstream.last.headers
    assert [r.trace_id for r in records] == [None]


def test_an_invalid_traceparent_is_neither_forwarded_nor_audited(upstream):
    _, records = _call(upstream, header="00-not-a-trace-context-01")
    assert "traceparent" not in upstream.last.headers
    assert [r.trace_id for r in records] == [None]


def test_meta_traceparent_is_the_one_forwarded(upstream):
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    _, records = _call(upstream, meta={"traceparent": CALLER}, header=other)
    assert upstream.last.headers["traceparent"] == CALLER
    assert records[0].trace_id == TRACE_ID


def test_tracing_off_imports_no_opentelemetry_module():
    """A process that calls a tool without the OTel variables never loads the SDK (nor even the API)."""
    script = (
        """
import sys, dataclasses
from janus.gateway import tracing
from janus.gateway.executor import Executor
from tests.gateway.conftest import make_tool
from tests.support.backend import backend_over, call_context
from janus.gateway.catalog import Principal
assert tracing.configure({}) is False
tool = make_tool("http://127.0.0.1:9")
backend = backend_over([tool], Executor, lambda record: None)
ctx = dataclasses.replace(call_context(), caller=Principal(None, traceparent=%r))
try:
    backend.call_tool(ctx, tool.name, {"id": "1"})
except Exception as exc:
    assert "unreachable" in str(exc) or "refused" in str(exc), exc
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
        % CALLER
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True, cwd="."
    ).stdout
    assert out.strip() == "[]"


@pytest.fixture
def collector():
    with Collector() as running:
        yield running


@pytest.fixture
def traced(collector, monkeypatch):
    """Tracing on in this process, exporting to the collector; off again afterwards."""
    tracing.shutdown()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "janus-under-test")
    assert tracing.configure() is True
    yield collector
    tracing.shutdown()


def _spans(collector, count):
    tracing.flush()
    wait_for(lambda: len(collector.received()) >= count, timeout=10, what=f"{count} exported spans")
    return collector.received()


def test_a_traced_call_continues_the_callers_trace_with_child_spans(traced, upstream):
    result, records = _call(upstream, header=CALLER)
    assert result["isError"] is False
    spans = {s.name: s for s in _spans(traced, 3)}
    assert sorted(spans) == ["GET", "tools/call billing_tool", "vault read"]
    call, vault, request = spans["tools/call billing_tool"], spans["vault read"], spans["GET"]
    assert {s.trace_id for s in spans.values()} == {TRACE_ID}
    assert call.parent_span_id == "00f067aa0ba902b7"  # the caller's span
    assert vault.parent_span_id == call.span_id and request.parent_span_id == call.span_id
    assert call.kind == 2 and request.kind == 3  # server, client
    assert call.attributes == {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": "billing_tool",
        "janus.call.status": "success",
        "janus.transport": "stdio",
        "janus.connection": "Billing",
        "janus.upstream.status_code": 200,
    }
    assert request.attributes["http.response.status_code"] == 200
    assert vault.attributes == {"janus.connection": "Billing", "janus.auth_type": "bearer"}
    assert call.resource["service.name"] == "janus-under-test"
    # The upstream saw the request span as its parent, in the same trace.
    assert upstream.last.headers["traceparent"] == f"00-{TRACE_ID}-{request.span_id}-01"
    assert records[0].trace_id == TRACE_ID
    exported = traced.raw()
    assert SECRET.encode() not in exported and ARGUMENT.encode() not in exported


def test_a_traced_call_without_a_caller_context_starts_a_trace(traced, upstream):
    _, records = _call(upstream, auth=False)
    spans = _spans(traced, 2)
    assert sorted(s.name for s in spans) == ["GET", "tools/call billing_tool"]  # no secret, no vault read
    call = next(s for s in spans if s.name.startswith("tools/call"))
    assert call.parent_span_id == "" and call.trace_id == records[0].trace_id
    assert upstream.last.headers["traceparent"].split("-")[1] == call.trace_id


def test_failures_mark_the_spans_without_their_text(traced, upstream, closed_port):
    upstream.reply(503, {"detail": "down"})
    _, records = _call(upstream, header=CALLER)
    spans = {s.name: s for s in _spans(traced, 3)}
    assert spans["tools/call billing_tool"].status_code == 2
    assert spans["tools/call billing_tool"].attributes["janus.upstream.status_code"] == 503
    assert spans["GET"].attributes["error.type"] == "503"
    unreachable = make_tool(f"http://127.0.0.1:{closed_port}")
    backend = backend_over([unreachable], Executor, records.append)
    ctx = dataclasses.replace(call_context(), caller=Principal(None, traceparent=CALLER))
    with pytest.raises(McpError):
        backend.call_tool(ctx, unreachable.name, {"id": "1"})
    backend.close()
    spans = _spans(traced, 5)
    failed_request = [s for s in spans if s.name == "GET" and s.attributes.get("error.type") == "refused"]
    assert len(failed_request) == 1 and failed_request[0].status_code == 2
    assert str(closed_port).encode() not in traced.raw()  # no URL in any span


def test_denied_and_invalid_calls_are_traced_and_audited_with_the_trace(traced, upstream):
    tool = make_tool(upstream.base_url)
    records: list[CallRecord] = []
    backend = backend_over([tool], Executor, records.append)
    ctx = dataclasses.replace(call_context(), caller=Principal(None, traceparent=CALLER))
    with pytest.raises(McpError):
        backend.call_tool(ctx, "no_such_tool", {})
    backend.close()
    spans = _spans(traced, 1)
    assert [s.name for s in spans] == ["tools/call no_such_tool"]
    assert spans[0].attributes["janus.call.status"] == "failure" and "janus.connection" not in spans[0].attributes
    assert [r.trace_id for r in records] == [TRACE_ID]
    assert json.dumps(spans[0].attributes)  # plain values only


def test_each_retry_is_its_own_upstream_span_and_the_audit_record_counts_them(traced, upstream):
    # Upstream resilience (issue 15, item 4): a 503 then a 200, one retry allowed.
    answers = [503, 200]
    upstream.handler = lambda req, h: upstream.send(h, answers.pop(0) if answers else 200, b"{}", "application/json")
    tool = make_tool(upstream.base_url)
    tool = dataclasses.replace(tool, connection=dataclasses.replace(tool.connection, retries=1))
    records: list[CallRecord] = []
    backend = backend_over([tool], Executor, records.append)
    ctx = dataclasses.replace(call_context(), caller=Principal(None, traceparent=CALLER))
    try:
        result = backend.call_tool(ctx, tool.name, {"id": "1"})
    finally:
        backend.close()
    assert result["isError"] is False
    spans = _spans(traced, 3)
    requests = [s for s in spans if s.name == "GET"]
    assert sorted(s.attributes["http.response.status_code"] for s in requests) == [200, 503]
    call = next(s for s in spans if s.name.startswith("tools/call"))
    assert {s.parent_span_id for s in requests} == {call.span_id}
    # Each attempt named its own span upstream.
    assert [r.headers["traceparent"].split("-")[2] for r in upstream.received] == [
        s.span_id for s in sorted(requests, key=lambda s: s.attributes["http.response.status_code"], reverse=True)
    ]
    assert records[0].attempts == 2 and records[0].http_status == 200
