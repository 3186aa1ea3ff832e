"""LOG_FORMAT (janus/logs.py): JSON lines with request and trace ids, the request-id middleware, gunicorn's
logs in JSON on a real gunicorn+gevent gateway, and a clear start-up error for a format that does not exist."""

from __future__ import annotations

import json
import logging
import subprocess

import pytest
import requests

from janus import logs
from janus.config import ConfigError, load
from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint
from tests.support.http_gateway import WEATHER, start_http_gateway, stop_http_gateway
from tests.support.stdio import MCP_GATEWAY, gateway_env
from tests.support.waiting import refused_port, wait_for

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("req-42", True),
        ("3f2c8a6e-1b7d-4c2e-9a51-0d6b2f8e4c11", True),
        ("dGVzdA+/=", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("has space", False),
        ('quote"', False),
        ("new\nline", False),
        ("", False),
        (None, False),
    ],
)
def test_a_request_id_from_the_caller_is_kept_only_when_well_formed(header, kept):
    got = logs.request_id(header)
    if kept:
        assert got == header
    else:
        assert got != header and len(got) == 32 and int(got, 16) >= 0
    assert logs.request_id(None) != logs.request_id(None)  # fresh every time


def test_trace_ids_come_only_from_valid_traceparents():
    assert logs.trace_id(TRACEPARENT) == TRACE_ID
    assert logs.trace_id("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert logs.trace_id("nonsense") is None and logs.trace_id(None) is None


def _record(message: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("janus.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_the_json_formatter_writes_one_object_per_line_with_the_request_and_trace_ids():
    formatter = logs.JsonFormatter()
    outside = json.loads(formatter.format(_record("plain %s", "line")))
    assert outside.keys() == {"time", "level", "logger", "message"}
    assert (outside["level"], outside["logger"], outside["message"]) == ("WARNING", "janus.test", "plain line")
    assert outside["time"].endswith("Z") and "T" in outside["time"]

    seen: list[str] = []

    def app(environ, start_response):
        seen.append(formatter.format(_record("inside\nwith a newline")))
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request-Id", "spoofed by the app")])
        return [b"ok"]

    headers: list = []
    body = logs.RequestIds(app)(
        {"HTTP_X_REQUEST_ID": "req-42", "HTTP_TRACEPARENT": TRACEPARENT}, lambda s, h: headers.extend(h)
    )
    assert list(body) == [b"ok"]
    assert json.loads(formatter.format(_record("before close")))["request_id"] == "req-42"
    body.close()  # the server closes the body after the last byte: the request's log context ends
    assert "request_id" not in json.loads(formatter.format(_record("after close")))
    assert [v for k, v in headers if k.lower() == "x-request-id"] == ["req-42"]
    [line] = seen
    assert "\n" not in line
    inside = json.loads(line)
    assert (inside["request_id"], inside["trace_id"], inside["message"]) == (
        "req-42",
        TRACE_ID,
        "inside\nwith a newline",
    )


def test_exceptions_are_a_field_not_extra_lines():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        line = logs.JsonFormatter().format(_record("failed", exc_info=sys.exc_info()))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed" and "ValueError: boom" in parsed["exception"]


def test_log_format_is_text_or_json_and_anything_else_is_a_clear_error():
    assert load(environ={})["LOG_FORMAT"] == "text"
    assert load(environ={"LOG_FORMAT": " JSON "})["LOG_FORMAT"] == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT must be text or json, got 'xml'"):
        load(environ={"LOG_FORMAT": "xml"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL='grpc' is not supported"),
        ({"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json'"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin' is not supported"),
    ],
)
def test_otel_settings_this_build_cannot_honour_are_refused_at_start(environ, message):
    with pytest.raises(ConfigError, match=message):
        load(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", **environ})
    load(environ=environ)  # without an endpoint tracing is off, and these settings are nobody's concern


def test_an_unknown_log_format_stops_mcp_gateway_with_one_line(tmp_path):
    env = gateway_env(str(tmp_path / "x.db"), LOG_FORMAT="xml")
    out = subprocess.run([MCP_GATEWAY], input=b"", capture_output=True, env=env, timeout=60)
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "LOG_FORMAT must be text or json, got 'xml'" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def json_gateway(tmp_path_factory):
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("json-logs"), LOG_FORMAT="json", GUNICORN_CMD_ARGS="--access-logfile -"
    )
    yield gateway
    stop_http_gateway(gateway)


def _lines(gw) -> list[dict]:
    return [json.loads(line) for line in gw.server.log.splitlines() if line.strip()]


def test_every_line_of_a_json_gateway_is_a_json_object(json_gateway):
    gw = json_gateway
    reply = requests.post(
        gw.url + "/api/tools/weather_get_station",
        json={"id": "r1"},
        headers={"Authorization": f"Bearer {WEATHER}", "X-Request-Id": "req-json-1", "traceparent": TRACEPARENT},
        timeout=10,
    )
    assert reply.status_code == 200 and reply.headers["X-Request-Id"] == "req-json-1"
    fresh = requests.get(gw.url + "/healthz", headers={"X-Request-Id": "bad id with spaces"}, timeout=10)
    generated = fresh.headers["X-Request-Id"]
    assert generated != "bad id with spaces" and len(generated) == 32

    def access_lines():
        lines = [line for line in _lines(gw) if line["logger"] == "gunicorn.access"]
        ids = {line.get("request_id") for line in lines}
        return lines if {"req-json-1", generated} <= ids else None

    access = wait_for(access_lines, timeout=10, what="the access log lines of both requests")
    call = next(line for line in access if line.get("request_id") == "req-json-1")
    assert (call["method"], call["path"], call["status"]) == ("POST", "/api/tools/weather_get_station", "200")
    # Every line, the gunicorn master's start-up lines and the app's included, parsed above.
    lines = _lines(gw)
    loggers = {line["logger"] for line in lines}
    assert "gunicorn.error" in loggers  # the master's start-up lines; the app's are the next test's
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)


def test_a_json_line_logged_while_serving_a_request_carries_its_request_and_trace_ids(json_gateway):
    gw = json_gateway
    # An unreachable upstream: the executor logs a warning inside the request.
    dead = add_connection(gw.app, "Dead", f"http://127.0.0.1:{refused_port()}", "weather_dead_")
    add_endpoint(gw.app, dead, "station", "/stations/{{id}}", schema=ID_SCHEMA)

    def call():
        reply = requests.post(
            gw.url + "/api/tools/weather_dead_station",
            json={"id": "x"},
            headers={"Authorization": f"Bearer {WEATHER}", "X-Request-Id": "req-json-2", "traceparent": TRACEPARENT},
            timeout=15,
        )
        # A tuple: a failed requests.Response is falsy. 404 until the catalogue change reaches the worker.
        return (reply,) if reply.status_code != 404 else None

    [reply] = wait_for(call, timeout=10, interval=0.2, what="the new tool to be served")
    assert reply.status_code == 502
    assert reply.headers["X-Request-Id"] == "req-json-2"

    def tagged():
        found = [
            line for line in _lines(gw) if line.get("request_id") == "req-json-2" and line["logger"].startswith("janus")
        ]
        return found or None

    lines = wait_for(tagged, timeout=10, what="an app log line of the request")
    assert any("Dead" in line["message"] and "refused" in line["message"] for line in lines)
    assert {line["trace_id"] for line in lines} == {TRACE_ID}


def test_a_line_logged_during_a_tool_call_carries_the_calls_trace_from_meta(monkeypatch):
    """The call's own trace context (here `_meta.traceparent`, no HTTP request at all) reaches the log line,
    through the source create_app wires in; outside the call it is gone again."""
    import dataclasses

    from janus.gateway import tracing
    from janus.gateway.executor import Executor
    from janus.mcp.errors import McpError
    from tests.gateway.conftest import make_tool
    from tests.support.backend import backend_over, call_context

    monkeypatch.setattr(logs, "_trace_source", tracing.current_trace_id)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(logs.JsonFormatter().format(record))  # type: ignore[method-assign]
    executor_log = logging.getLogger("janus.gateway.executor")
    executor_log.addHandler(handler)
    tool = make_tool(f"http://127.0.0.1:{refused_port()}")
    backend = backend_over([tool], Executor, lambda record: None)
    ctx = dataclasses.replace(call_context(), meta={"traceparent": TRACEPARENT})
    try:
        with pytest.raises(McpError):
            backend.call_tool(ctx, tool.name, {"id": "1"})
    finally:
        executor_log.removeHandler(handler)
        backend.close()
    parsed = [json.loads(line) for line in lines]
    assert parsed and {p.get("trace_id") for p in parsed} == {TRACE_ID}
    assert tracing.current_trace_id() is None
    assert "trace_id" not in json.loads(logs.JsonFormatter().format(_record("after the call")))
