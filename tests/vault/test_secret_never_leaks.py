"""End to end: a secret stored with `mcp-cli vault set` reaches the upstream and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import requests
from werkzeug.wrappers import Response

from tests.support.cli import ADMIN_PASSWORD, Cli
from tests.support.http_gateway import initialize, mcp_headers
from tests.support.server import GatewayServer
from tests.support.upstream import Upstream, json_response
from tests.support.waiting import wait_for

SECRET = "sk_secure_banking_token_558839"
BALANCE_SCHEMA = (
    '{"type":"object","properties":{"client_id":{"type":"string",'
    '"description":"Client account identifier"}},"required":["client_id"]}'
)


def test_the_banking_secret_reaches_the_upstream_and_appears_nowhere_else(tmp_path):
    bank = Upstream().start()
    bank.route("/api/v1/balance/", lambda r: json_response({"checking": 1200.5, "savings": 8800}))
    bank.route("/api/v1/broken", lambda r: json_response({"detail": "backend down"}, 500))
    # A 2xx "whoami" that reflects the credential: upper-cased and \u-escaped in a UTF-16 body, and in its reason.
    bank.route(
        "/api/v1/whoami",
        lambda r: Response(
            json.dumps({"you": r.headers["Authorization"].upper()}, ensure_ascii=False)
            .replace("_", "\\u005f")
            .encode("utf-16"),
            status=f"200 Hello {r.headers['Authorization']}",
            content_type="application/json; charset=utf-16",
        ),
    )
    database = tmp_path / "mcp-gateway.db"
    server = GatewayServer(str(database), LOG_LEVEL="DEBUG").start()
    seen_text: list[str] = []
    try:
        cli = Cli(tmp_path / "home")
        cli.login(server.url)
        conn = cli.ok(
            "connection",
            "add",
            "--name",
            "Accounts Database",
            "--url",
            bank.url + "/api/v1",
            "--prefix",
            "accounts_",
            "--desc",
            "Protected customer banking records database",
            "--auth",
            "bearer",
            "--secret",
            "prod/database/accounts-key",
        ).stdout.strip()
        seen_text.append(cli.ok("vault", "set", "--key", "prod/database/accounts-key", "--val", SECRET).stderr)
        cli.ok(
            "endpoint",
            "add",
            "--conn-id",
            conn,
            "--name",
            "get_balance",
            "--desc",
            "Balances",
            "--path",
            "/balance/{{client_id}}",
            "--method",
            "GET",
            "--schema",
            BALANCE_SCHEMA,
        )
        cli.ok("endpoint", "add", "--conn-id", conn, "--name", "broken", "--desc", "Fails", "--path", "/broken")
        cli.ok("endpoint", "add", "--conn-id", conn, "--name", "whoami", "--desc", "Echoes", "--path", "/whoami")
        lines = cli.ok("token", "add", "--name", "Bank", "--role", "developer", "--scopes", "accounts_*").stdout.split()
        token = lines[1]

        session = initialize(server.url, token)
        for name, arguments in (
            ("accounts_get_balance", {"client_id": "C-1"}),
            ("accounts_broken", {}),
            ("accounts_whoami", {}),
        ):
            reply = requests.post(
                server.url + "/mcp",
                timeout=30,
                headers=mcp_headers(token, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}),
                data=json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 2,
                        "method": "tools/call",
                        "params": {"name": name, "arguments": arguments},
                    }
                ),
            )
            seen_text.append(reply.text)
        assert bank.seen[0].headers["authorization"] == f"Bearer {SECRET}"

        jwt = requests.post(
            server.url + "/api/v1/login", json={"username": "admin", "password": ADMIN_PASSWORD}, timeout=10
        ).json()["token"]
        admin = {"Authorization": f"Bearer {jwt}"}
        wait_for(
            lambda: (
                requests.get(server.url + "/api/v1/audit/tool-calls", headers=admin, timeout=10).json()["total"] == 3
            ),
            what="the three calls to be audited",
        )
        for path in (
            "/api/v1/connections",
            "/api/v1/endpoints",
            "/api/v1/tokens",
            "/api/v1/vault/keys",
            "/api/v1/audit/tool-calls",
            "/api/v1/audit/admin?per_page=500",
            "/api/v1/status",
            "/api/v1/verify",
            "/api/openapi.json",
            "/metrics",
        ):
            headers = {"Authorization": f"Bearer {token}"} if path == "/api/openapi.json" else admin
            response = requests.get(server.url + path, headers=headers, timeout=30)
            assert response.status_code == 200, path
            seen_text.append(response.text)
        for args in (
            ("vault", "list"),
            ("logs",),
            ("verify",),
            ("connection", "list"),
            ("--json", "connection", "list"),
        ):
            result = cli.run(*args)
            seen_text.extend([result.stdout, result.stderr])
        assert (
            "prod/database/accounts-key"
            in requests.get(server.url + "/api/v1/vault/keys", headers=admin, timeout=10).text
        )
    finally:
        server.stop()
        bank.stop()
    seen_text.append(server.log)
    stored = [p for p in tmp_path.iterdir() if p.is_file()]  # database (+ WAL), vault file, key file, locks
    assert any(p.name == "secrets.json" for p in stored)
    assert any("[redacted]" in text for text in seen_text)  # the whoami answer was passed on, redacted
    for text in seen_text:
        assert SECRET not in text and SECRET.upper() not in text
    for path in stored:
        assert SECRET.encode() not in Path(path).read_bytes(), path.name
