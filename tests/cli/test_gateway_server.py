"""`mcp-gateway` (no options) as a real gunicorn+gevent server with the demo data."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import requests

from tests.support.http_gateway import METRICS_AUTH, METRICS_TOKEN
from tests.support.server import GatewayServer
from tests.support.stdio import MCP_GATEWAY, gateway_env

REFERENCE_CALL = (
    '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"lch_get_dpg_trade_volume",'
    '"arguments":{"member_id":"MEM-LCH-001"}},"id":1}'
)


@pytest.fixture
def demo_server(tmp_path):
    server = GatewayServer(
        str(tmp_path / "mcp-gateway.db"), SEED_DEMO_DATA="true", WEB_CONCURRENCY="2", METRICS_TOKEN=METRICS_TOKEN
    )
    with server:
        yield server


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_reference_stdio_example_works_verbatim_against_a_running_gateway(demo_server, tmp_path):
    env = gateway_env(
        str(tmp_path / "mcp-gateway.db"),
        PORT=str(demo_server.port),
        PROMETHEUS_MULTIPROC_DIR=demo_server.env["PROMETHEUS_MULTIPROC_DIR"],
    )
    script = f"export MCP_GATEWAY_TOKEN=lch_member_test_token_889\necho '{REFERENCE_CALL}' | {MCP_GATEWAY} -stdio"
    out = subprocess.run(["bash", "-c", script], capture_output=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    lines = out.stdout.decode().splitlines()
    assert len(lines) == 1
    response = json.loads(lines[0])
    assert response["id"] == 1 and response["result"]["isError"] is False
    volumes = response["result"]["structuredContent"]
    assert volumes["member_id"] == "MEM-LCH-001"
    assert volumes["total_trades"] == sum(c["trade_count"] for c in volumes["currency_breakdown"])
    assert "MEM-LCH-001" in response["result"]["content"][0]["text"]
    # The stdio process shares the server's metrics directory, so its call shows up in /metrics.
    metrics = requests.get(demo_server.url + "/metrics", headers=METRICS_AUTH, timeout=5).text
    assert (
        _metric(metrics, "mcp_tool_execution_count_total", status="success", tool_name="lch_get_dpg_trade_volume")
        == 1.0
    )
    assert _metric(metrics, "mcp_tool_execution_latency_seconds_count", tool_name="lch_get_dpg_trade_volume") == 1.0


def test_health_readiness_and_mock_services_answer_json(demo_server):
    assert requests.get(demo_server.url + "/healthz", timeout=5).json()["status"] == "ok"
    ready = requests.get(demo_server.url + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "reachable"}
    volume = requests.get(
        demo_server.url + "/api/mock/dpg/trade-volume", params={"member_id": "MEM-LCH-001"}, timeout=5
    )
    collateral = requests.get(
        demo_server.url + "/api/mock/collateral/non-cash", params={"member_id": "MEM-LCH-002"}, timeout=5
    )
    missing = requests.get(demo_server.url + "/api/mock/collateral/non-cash", timeout=5)
    assert volume.json()["member_id"] == "MEM-LCH-001" and volume.json()["currency_breakdown"]
    holdings = collateral.json()["holdings"]
    assert collateral.json()["member_id"] == "MEM-LCH-002" and all(h["isin"] for h in holdings)
    assert missing.status_code == 400 and "member_id" in missing.json()["message"]
    assert requests.get(demo_server.url + "/no/such/page", timeout=5).json()["error"] == "not_found"


def test_metrics_are_summed_across_gunicorn_workers(demo_server):
    import glob
    import os
    from concurrent.futures import ThreadPoolExecutor

    def fetch(_):
        # New connections from several threads at once, so both workers accept some.
        return requests.get(
            demo_server.url + "/api/mock/dpg/trade-volume",
            params={"member_id": "M"},
            headers={"Connection": "close"},
            timeout=10,
        ).ok

    def worker_files():
        return glob.glob(os.path.join(demo_server.env["PROMETHEUS_MULTIPROC_DIR"], "counter_*.db"))

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while sent < 400 and (sent == 0 or len(worker_files()) < 2):  # bounded: at most 10 rounds
            assert all(pool.map(fetch, range(40)))
            sent += 40
    assert len(worker_files()) >= 2, "every request landed on one worker"
    totals = set()
    for _ in range(20):
        with requests.Session() as s:
            text = s.get(demo_server.url + "/metrics", headers={"Connection": "close", **METRICS_AUTH}, timeout=5).text
        totals.add(_metric(text, "janus_http_request_total", method="GET", status="200"))
    # Whichever worker answers reports the same server-wide count (health checks and /metrics are excluded).
    assert totals == {float(sent)}


def test_demo_seed_is_idempotent_and_the_demo_token_warns_at_every_start(tmp_path):
    database = str(tmp_path / "mcp-gateway.db")
    first = GatewayServer(database, SEED_DEMO_DATA="true")
    with first:
        pass
    second = GatewayServer(database, SEED_DEMO_DATA="true")
    with second:
        pass
    for server in (first, second):
        assert "lch_member_test_token_889" in server.log and "demo token" in server.log
    import sqlite3

    rows = (
        sqlite3.connect(database)
        .execute(
            "SELECT c.name, c.base_url, count(e.id) FROM connections c JOIN endpoints e ON e.connection_id = c.id GROUP BY c.id"
        )
        .fetchall()
    )
    assert rows == [("LCH DPG & Collateral Services", f"http://127.0.0.1:{second.port}/api/mock", 2)]
    tokens = sqlite3.connect(database).execute("SELECT name, scopes, token_hash FROM client_tokens").fetchall()
    assert len(tokens) == 1 and tokens[0][1] == "lch_*"
    assert tokens[0][2] != "lch_member_test_token_889" and len(tokens[0][2]) == 64


def test_a_stdio_process_with_seed_demo_data_and_no_port_leaves_the_servers_demo_connection_alone(tmp_path):
    database = str(tmp_path / "mcp-gateway.db")
    server = GatewayServer(database, SEED_DEMO_DATA="true")
    with server:
        pass
    served = f"http://127.0.0.1:{server.port}/api/mock"
    env = gateway_env(database, SEED_DEMO_DATA="true")
    env.pop("PORT", None)  # the stdio process would otherwise think the mock lives on the default 8899
    stdio = subprocess.run([MCP_GATEWAY, "-stdio"], input=b"", capture_output=True, env=env, timeout=60)
    assert stdio.returncode == 0, stdio.stderr.decode()
    import sqlite3

    rows = sqlite3.connect(database).execute("SELECT base_url FROM connections").fetchall()
    assert rows == [(served,)]
    seeds = (
        sqlite3.connect(database).execute("SELECT count(*) FROM admin_audit_logs WHERE action = 'demo.seed'").fetchone()
    )
    assert seeds == (1,)


def test_a_stdio_process_seeds_the_demo_into_an_empty_database(tmp_path):
    database = str(tmp_path / "mcp-gateway.db")
    env = gateway_env(database, SEED_DEMO_DATA="true", PORT="8899")
    stdio = subprocess.run([MCP_GATEWAY, "-stdio"], input=b"", capture_output=True, env=env, timeout=60)
    assert stdio.returncode == 0, stdio.stderr.decode()
    import sqlite3

    rows = (
        sqlite3.connect(database)
        .execute(
            "SELECT c.base_url, count(e.id) FROM connections c JOIN endpoints e ON e.connection_id = c.id GROUP BY c.id"
        )
        .fetchall()
    )
    assert rows == [("http://127.0.0.1:8899/api/mock", 2)]


def test_the_server_prints_a_generated_admin_password_once_and_stdio_never_does(tmp_path):
    database = str(tmp_path / "mcp-gateway.db")
    env = gateway_env(database)
    env.pop("ADMIN_PASSWORD")
    stdio = subprocess.run([MCP_GATEWAY, "-stdio"], input=b"", capture_output=True, env=env, timeout=60)
    assert stdio.returncode == 0 and "password" not in stdio.stderr.decode()
    first, second = GatewayServer(database), GatewayServer(database)
    first.env.pop("ADMIN_PASSWORD")
    second.env.pop("ADMIN_PASSWORD")
    with first:
        pass
    with second:
        pass
    match = re.search(r"admin user 'admin' with password: (\S+)", first.log)
    assert match and len(match.group(1)) >= 16
    assert "with password" not in second.log
    import sqlite3

    from werkzeug.security import check_password_hash

    (stored,) = sqlite3.connect(database).execute("SELECT password_hash FROM users WHERE username = 'admin'").fetchone()
    assert check_password_hash(stored, match.group(1))


def test_an_unreachable_database_is_one_clear_line_without_the_password(tmp_path):
    env = gateway_env(str(tmp_path / "x.db"), DATABASE_URL="postgres://janus:hunter2@127.0.0.1:1/janus")
    out = subprocess.run([MCP_GATEWAY, "-stdio"], input=b"", capture_output=True, env=env, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "mcp-gateway: cannot use the database postgresql+psycopg2://janus:***@127.0.0.1:1/janus"
    )
    assert "hunter2" not in out.stderr.decode()


def test_an_unwritable_audit_spool_directory_is_one_clear_line_and_no_server(tmp_path):
    (tmp_path / "a-file").write_text("")
    env = gateway_env(str(tmp_path / "janus.db"), AUDIT_SPOOL_DIR=str(tmp_path / "a-file" / "spool"), PORT="0")
    for args in ([], ["-stdio"]):
        out = subprocess.run(
            [MCP_GATEWAY, *args], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
        assert out.returncode == 2, out.stderr
        assert "configuration error: AUDIT_SPOOL_DIR" in out.stderr
        assert "is not a writable directory" in out.stderr and "Traceback" not in out.stderr
