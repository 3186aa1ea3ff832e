"""Graceful shutdown on a real gunicorn+gevent gateway with two workers: calls in flight are finished
and audited, streams opened while it runs are refused, and sessions whose stream is gone answer 404."""
from __future__ import annotations

import json
import signal

from sqlalchemy import select

from janus.extensions import db
from janus.models import ToolCallLog
from tests.support.http_gateway import WEATHER, initialize, mcp_headers, start_http_gateway, stop_http_gateway
from tests.support.http_streams import RawStream
from tests.support.waiting import wait_for

GRACEFUL_TIMEOUT = 60  # gunicorn cuts what is still open after this; the tests end long before


def _audit_rows(gateway, transport: str) -> list:
    with gateway.app.app_context():
        rows = db.session.scalars(select(ToolCallLog).where(ToolCallLog.transport == transport)).all()
        db.session.expunge_all()
        db.session.remove()
    return rows


def test_a_streamed_call_in_flight_at_sigterm_reaches_its_upstream_answer_and_is_audited(tmp_path):
    gateway = start_http_gateway(tmp_path, GUNICORN_CMD_ARGS=f"--graceful-timeout {GRACEFUL_TIMEOUT}")
    try:
        session_id = initialize(gateway.url)
        gateway.release.clear()
        call = RawStream(gateway.url, "POST", "/mcp", mcp_headers(**{
            "Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}), body=json.dumps({
                "jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": {
                    "name": "weather_slow_report", "arguments": {}, "_meta": {"progressToken": "p"}}}))
        assert call.next_json()["method"] == "notifications/progress"
        wait_for(lambda: any(s.path == "/slow" for s in gateway.upstream.seen), what="the call to reach the upstream")
        # The client gives up: no connection holds the worker open any more, only the call's thread.
        call.close()
        gateway.server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: gateway.server.log.count("Worker exiting") == 2, timeout=30, what="both workers to exit")
        gateway.release.set()
        assert gateway.server.proc.wait(30) == 0
    finally:
        stop_http_gateway(gateway)
    rows = _audit_rows(gateway, "streamable_http")
    assert [(r.tool_name, r.status, r.token_name) for r in rows] == [
        ("weather_slow_report", "success", "Weather Team Token")]
