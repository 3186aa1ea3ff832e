"""Upstream resilience end to end on a real gunicorn+gevent gateway: retries counted in the audit trail, the
circuit breaker opening and answering at once, its state in /metrics, /api/v1/verify and `mcp-cli verify`
(janus/services/circuits.py reads it from the multiprocess metrics, as /metrics does)."""

from __future__ import annotations

import json
import re

import pytest
import requests
from sqlalchemy import select

from janus.extensions import db
from janus.models import ToolCallLog
from tests.conftest import make_app
from tests.support.catalog import ID_SCHEMA, add_connection, add_endpoint, add_token
from tests.support.cli import Cli, call_tool
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, json_response
from tests.support.waiting import wait_for

TOKEN = "resilience_token_with_enough_entropy_01"
METRICS_TOKEN = "resilience_metrics_token_with_entropy_1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("circuits")
    upstream = Upstream()
    upstream.route("/down/", lambda r: json_response({"error": "maintenance"}, 503))
    upstream.route("/", lambda r: json_response({"service": "flaky"}))
    upstream.start()
    app = make_app({"DATABASE_PATH": str(root / "gateway.db")})
    from janus.services.bootstrap import ensure_schema

    with app.app_context():
        ensure_schema()
    flaky = add_connection(
        app, "Flaky", upstream.url, "flaky_", retries=1, breaker_threshold=2, breaker_cooldown_seconds=600
    )
    add_endpoint(app, flaky, "get_item", "/down/{{id}}", schema=ID_SCHEMA)
    add_endpoint(app, flaky, "post_item", "/down/{{id}}", method="POST", schema=ID_SCHEMA)
    add_token(app, "Resilience", TOKEN, "flaky_*")
    # One worker: every call meets the same process's breaker (each worker learns on its own).
    server = GatewayServer(
        str(root / "gateway.db"), WEB_CONCURRENCY="1", CATALOG_REFRESH_SECONDS="0", METRICS_TOKEN=METRICS_TOKEN
    ).start()
    try:
        yield app, server, upstream, root
    finally:
        server.stop()
        upstream.stop()


def _audit(app, tool: str, count: int) -> list[ToolCallLog]:
    def rows():
        with app.app_context():
            found = db.session.scalars(
                select(ToolCallLog).where(ToolCallLog.tool_name == tool).order_by(ToolCallLog.id)
            ).all()
            db.session.expunge_all()
        return found if len(found) >= count else None

    return wait_for(rows, timeout=20, what=f"{count} audit rows of {tool}")


def test_the_circuit_opens_answers_at_once_and_shows_in_metrics_and_verify(site):
    app, server, upstream, root = site
    url = server.url

    # GET: retried once (503 twice each), two failed calls open the circuit (threshold 2).
    for _ in range(2):
        answer = call_tool(url, TOKEN, "flaky_get_item", {"id": "1"})
        assert answer["result"]["isError"] is True
    assert len([s for s in upstream.seen if s.path.startswith("/down/")]) == 4
    answer = call_tool(url, TOKEN, "flaky_get_item", {"id": "1"})
    message = answer["error"]["message"]
    assert re.fullmatch(
        r"Upstream 'Flaky' is failing: circuit open for \d+ more seconds after 2 consecutive failures", message
    )
    # A POST, never retried, is refused as well: the circuit is the connection's.
    answer = call_tool(url, TOKEN, "flaky_post_item", {"id": "2"})
    assert "circuit open" in answer["error"]["message"]
    assert len([s for s in upstream.seen if s.path.startswith("/down/")]) == 4  # nothing more reached it

    rows = _audit(app, "flaky_get_item", 3)
    assert [(r.status, r.http_status, r.attempts) for r in rows] == [
        ("failure", 503, 2),
        ("failure", 503, 2),
        ("failure", None, 0),
    ]
    assert "circuit open" in rows[2].error_message
    (post,) = _audit(app, "flaky_post_item", 1)
    assert post.status == "failure" and post.attempts == 0 and "circuit open" in post.error_message

    metrics = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    assert re.search(r'^mcp_upstream_circuit_state\{connection="Flaky"\} 2\.0$', metrics, re.M), metrics
    assert re.search(r'^mcp_upstream_circuit_opens_total\{connection="Flaky"\} 1\.0$', metrics, re.M)

    admin = Cli(root / "admin-home")
    admin.login(url)
    as_json = admin.run("--json", "verify")
    assert as_json.returncode == 1  # a target fails
    report = json.loads(as_json.stdout)
    (target,) = [t for t in report["targets"] if t["name"] == "Flaky"]
    assert target["ok"] is True  # the probe reaches it (GET / answers 200) ...
    assert target["circuit"] == "open"  # ... but calls are refused
    assert {c["step"]: c["ok"] for c in report["checks"]}["targets"] is False

    # The admin API's audit trail (and so `mcp-cli logs --json`) carries the attempts.
    logs = admin.json("logs", "--tool", "flaky_get_item")
    assert sorted(item["attempts"] for item in logs["items"]) == [0, 2, 2]

    shown = admin.run("verify")
    assert shown.returncode == 1
    assert re.search(r"^\[5/5\] Verifying Target API Connectivity\.\.\. FAIL \(1 of 1 failing\)$", shown.stdout, re.M)
    (row,) = [line for line in shown.stdout.splitlines() if line.startswith("Flaky")]
    assert "FAIL" in row and "circuit open: calls refused" in row
