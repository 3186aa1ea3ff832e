"""`mcp-cli`, the real console script, against a real gunicorn+gevent gateway and real upstreams on 127.0.0.1.

The README walk-throughs run as written (through bash); only addresses and ids are substituted.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
import requests

from tests.support.cli import ADMIN_PASSWORD, MCP_CLI, Cli, call_tool, tool_names
from tests.support.server import GatewayServer
from tests.support.stdio import MCP_GATEWAY, gateway_env
from tests.support.upstream import Upstream, echo, json_response
from tests.support.waiting import refused_port, wait_for

BANK_SECRET = "sk_secure_banking_token_558839"
DOG_IMAGE = {"message": "https://images.dog.ceo/breeds/terrier/n02093754_3839.jpg", "status": "success"}
WEATHER_TOKEN = "mcp_client_weather_dev_552"

# -- the README, verbatim ----------------------------------------------------------

BANK_CONNECTION = """./mcp-cli connection add \\
  --name "Accounts Database" \\
  --url "https://internal.bank.net/api/v1" \\
  --prefix "accounts_" \\
  --desc "Protected customer banking records database" \\
  --auth "bearer" \\
  --secret "prod/database/accounts-key"
"""
BANK_VAULT = """./mcp-cli vault set \\
  --key "prod/database/accounts-key" \\
  --val "sk_secure_banking_token_558839"
"""
BANK_ENDPOINT = """./mcp-cli endpoint add \\
  --conn-id "<connection-uuid>" \\
  --name "get_balance" \\
  --desc "Retrieve checking and savings balances for a client ID" \\
  --path "/balance/{{client_id}}" \\
  --method "GET" \\
  --schema '{"type":"object","properties":{"client_id":{"type":"string","description":"Client account identifier"}},"required":["client_id"]}'
"""
DOG_CONNECTION = """./mcp-cli connection add \\
  --name "Dog Ceo Pictures" \\
  --url "https://dog.ceo/api" \\
  --prefix "dog_" \\
  --desc "Generates random breed photos and dog images" \\
  --auth "none"
"""
DOG_ENDPOINT = """./mcp-cli endpoint add \\
  --conn-id "<dog-connection-uuid>" \\
  --name "random_image" \\
  --desc "Fetch a random dog picture URL" \\
  --path "/breeds/image/random" \\
  --method "GET"
"""
WEATHER_TOKEN_ADD = """./mcp-cli token add \\
  --name "Weather Team Token" \\
  --token "mcp_client_weather_dev_552" \\
  --role "developer" \\
  --scopes "weather_*"
"""
WEATHER_STDIO = """export MCP_GATEWAY_TOKEN=mcp_client_weather_dev_552
echo '{"jsonrpc":"2.0","method":"tools/list","id":1}' | ./mcp-gateway -stdio
"""
WEATHER_STDIO_RESPONSE = {
    "jsonrpc": "2.0",
    "result": {
        "tools": [
            {
                "name": "weather_get_forecast",
                "description": "Retrieve real-time weather and forecast data for coordinates",
                "inputSchema": {
                    "properties": {
                        "current_weather": {"type": "boolean"},
                        "latitude": {"type": "number"},
                        "longitude": {"type": "number"},
                    },
                    "required": ["latitude", "longitude"],
                    "type": "object",
                },
            }
        ]
    },
    "id": 1,
}
VERIFY_HEAD = [
    "Running Gateway Component Diagnostics...",
    "=========================================",
    "[1/5] Checking Gateway Server Connectivity... OK",
    "[2/5] Verifying Admin Credentials Token... OK (Token Verified)",
]
UUID = re.compile(r"^[0-9a-f-]{32,36}$")


# -- fixtures --------------------------------------------------------------------


@dataclass
class Site:
    gateway: GatewayServer
    bank: Upstream
    dog: Upstream
    misc: Upstream
    admin: Cli
    ids: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    all_tools_token: str = ""

    @property
    def url(self) -> str:
        return self.gateway.url


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One gateway for the module, with the banking and Dog CEO walk-throughs run once through the CLI."""
    root = tmp_path_factory.mktemp("mcp-cli")
    bank, dog, misc = Upstream(), Upstream(), Upstream()
    bank.route("/api/v1", lambda r: json_response({"error": "missing credentials"}, 401))
    bank.route("/api/v1/balance/", echo)
    dog.route("/api", lambda r: json_response({"status": "success"}))
    dog.route("/api/breeds/image/random", lambda r: json_response(DOG_IMAGE))
    misc.route("/", lambda r: json_response({"service": "misc"}))
    misc.route("/weather/forecast", echo)
    misc.route("/stripe/charges", echo)
    misc.route("/inventory/", echo)
    for upstream in (bank, dog, misc):
        upstream.start()
    # Every request looks at the change counter, so "the next tools/list" is exact, not eventual.
    # Every test logs in afresh from 127.0.0.1: well past the default per-address sign-in rate.
    gateway = GatewayServer(
        str(root / "gateway.db"), WEB_CONCURRENCY="2", CATALOG_REFRESH_SECONDS="0", LOGIN_RATE_PER_IP="1000"
    ).start()
    admin = Cli(root / "admin-home")
    admin.login(gateway.url)
    site = Site(gateway=gateway, bank=bank, dog=dog, misc=misc, admin=admin)
    try:
        _run_reference_walkthroughs(site)
        yield site
    finally:
        gateway.stop()
        for upstream in (bank, dog, misc):
            upstream.stop()


def _run_reference_walkthroughs(site: Site) -> None:
    admin, out, ids = site.admin, site.outputs, site.ids
    out["bank_connection"] = admin.shell(BANK_CONNECTION.replace("https://internal.bank.net", site.bank.url))
    ids["bank"] = out["bank_connection"].stdout.strip()
    out["bank_vault"] = admin.shell(BANK_VAULT)
    out["bank_endpoint"] = admin.shell(BANK_ENDPOINT.replace("<connection-uuid>", ids["bank"]))
    ids["balance"] = out["bank_endpoint"].stdout.strip()
    out["dog_connection"] = admin.shell(DOG_CONNECTION.replace("https://dog.ceo", site.dog.url))
    ids["dog"] = out["dog_connection"].stdout.strip()
    out["dog_endpoint"] = admin.shell(DOG_ENDPOINT.replace("<dog-connection-uuid>", ids["dog"]))
    ids["random_image"] = out["dog_endpoint"].stdout.strip()
    created = admin.ok("token", "add", "--name", "Operations", "--scopes", "*").stdout.splitlines()
    site.all_tools_token = created[1]


@pytest.fixture
def cli(tmp_path):
    return Cli(tmp_path / "home")


@pytest.fixture
def admin(site, tmp_path):
    """A fresh home, logged in as the bootstrap admin."""
    user = Cli(tmp_path / "admin-home")
    user.login(site.url)
    return user


def _rows(table_text: str, first_cell: str) -> list[str]:
    return [line for line in table_text.splitlines() if line.startswith(first_cell)]


# -- login and the session cache -----------------------------------------------------


def test_login_reads_the_password_from_stdin_and_caches_the_session_in_a_private_file(site, cli):
    result = cli.run("login", "admin", "--addr", site.url, input=ADMIN_PASSWORD + "\n")

    assert result.returncode == 0, result.stderr
    assert f"Logged in to {site.url} as admin" in result.stderr
    cached = json.loads(cli.cache_file.read_text())
    assert set(cached) == {"addr", "token", "username", "expires_at"}
    assert cached["addr"] == site.url and cached["username"] == "admin" and cached["token"].count(".") == 2
    assert stat.S_IMODE(cli.cache_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_dir.stat().st_mode) == 0o700
    assert [p.name for p in cli.config_dir.iterdir()] == ["cli.json"]  # no temp files left behind
    # Later commands need no --addr: the cached login names the gateway.
    assert cli.ok("connection", "list").stdout.startswith("ID")


def test_without_xdg_config_home_the_session_lives_in_dot_config(site, tmp_path):
    cli = Cli(tmp_path / "home", xdg=False)
    cli.login(site.url)

    assert (tmp_path / "home" / ".config" / "mcp-gateway" / "cli.json").exists()
    assert cli.ok("vault", "list").returncode == 0


def test_mcp_gateway_addr_picks_the_gateway_and_a_session_is_never_sent_to_another_one(site, cli):
    cli.login(site.url)
    elsewhere = f"http://127.0.0.1:{refused_port()}"

    from_env = cli.run("status", env={"MCP_GATEWAY_ADDR": elsewhere})

    assert from_env.returncode == 1
    assert from_env.stderr.strip() == f"Error: not logged in: run mcp-cli login <username> --addr {elsewhere}"
    assert cli.ok("status", env={"MCP_GATEWAY_ADDR": site.url}).returncode == 0


def _cached_token(user: Cli) -> dict[str, str]:
    return {"Authorization": "Bearer " + json.loads(user.cache_file.read_text())["token"]}


def test_logout_ends_the_session_on_the_gateway_and_forgets_it(site, admin):
    headers = _cached_token(admin)
    assert requests.get(site.url + "/api/v1/status", headers=headers, timeout=30).status_code == 200

    result = admin.ok("logout")

    assert f"the session is over on {site.url}" in result.stderr
    assert not admin.cache_file.exists()
    assert admin.run("connection", "list").returncode == 1
    # A copy of the token taken before is worthless now, on every worker.
    for _ in range(4):
        assert requests.get(site.url + "/api/v1/status", headers=headers, timeout=30).status_code == 401


def test_logout_works_when_the_gateway_already_ended_the_session(site, admin):
    assert requests.post(site.url + "/api/v1/logout", headers=_cached_token(admin), timeout=30).status_code == 204

    result = admin.ok("logout")

    assert f"the session is over on {site.url}" in result.stderr  # 204 again: logging out twice is fine
    assert not admin.cache_file.exists()


def test_logout_from_an_unreachable_gateway_forgets_the_session_and_says_it_may_still_be_valid(cli):
    cli.config_dir.mkdir(parents=True)
    gone = f"http://127.0.0.1:{refused_port()}"
    cli.cache_file.write_text(
        json.dumps({"addr": gone, "token": "a.b.c", "username": "admin", "expires_at": "2099-01-01T00:00:00Z"})
    )

    result = cli.run("logout")

    assert result.returncode == 1
    assert "could not end it on the gateway" in result.stderr and "stays valid there until 2099" in result.stderr
    assert not cli.cache_file.exists()


# -- the README walk-throughs ----------------------------------------------------------


def test_banking_walkthrough_exposes_only_the_scoped_tool_and_injects_the_vault_secret(site):
    out, ids = site.outputs, site.ids
    assert UUID.match(ids["bank"]) and out["bank_connection"].stdout == ids["bank"] + "\n"
    assert "Accounts Database" in out["bank_connection"].stderr
    assert out["bank_vault"].stdout == "" and BANK_SECRET not in out["bank_vault"].stderr
    assert UUID.match(ids["balance"]) and "accounts_get_balance" in out["bank_endpoint"].stderr
    connection = next(c for c in site.admin.json("connection", "list") if c["id"] == ids["bank"])
    assert connection | {"base_url": "https://internal.bank.net/api/v1"} == connection | {
        "name": "Accounts Database",
        "base_url": "https://internal.bank.net/api/v1",
        "prefix": "accounts_",
        "description": "Protected customer banking records database",
        "auth_type": "bearer",
        "auth_secret_ref": "prod/database/accounts-key",
        "enabled": True,
    }
    endpoint = next(e for e in site.admin.json("endpoint", "list") if e["id"] == ids["balance"])
    assert endpoint["path_template"] == "/balance/{{client_id}}" and endpoint["method"] == "GET"
    assert endpoint["input_schema"]["required"] == ["client_id"]

    lines = site.admin.ok(
        "token", "add", "--name", "Banking Developers", "--role", "developer", "--scopes", "accounts_*"
    ).stdout.splitlines()
    assert len(lines) == 2 and UUID.match(lines[0])
    banking_token = lines[1]

    assert tool_names(site.url, banking_token) == ["accounts_get_balance"]
    answer = call_tool(site.url, banking_token, "accounts_get_balance", {"client_id": "C-1001"})
    assert answer["result"]["isError"] is False, answer
    seen = site.bank.seen[-1]
    assert seen.path == "/api/v1/balance/C-1001"
    assert seen.headers["authorization"] == "Bearer sk_secure_banking_token_558839"


def test_dog_ceo_walkthrough_returns_the_image_url_json(site):
    assert UUID.match(site.ids["dog"]) and UUID.match(site.ids["random_image"])

    answer = call_tool(site.url, site.all_tools_token, "dog_random_image", {})

    assert answer["result"]["isError"] is False, answer
    assert json.loads(answer["result"]["content"][0]["text"]) == DOG_IMAGE
    assert site.dog.seen[-1].path == "/api/breeds/image/random"


def test_weather_token_sees_only_weather_tools_and_calling_another_answers_method_not_found(site, admin):
    weather = admin.ok(
        "connection", "add", "--name", "Weather", "--url", site.misc.url + "/weather", "--prefix", "weather_"
    ).stdout.strip()
    admin.ok(
        "endpoint",
        "add",
        "--conn-id",
        weather,
        "--name",
        "get_forecast",
        "--path",
        "/forecast",
        "--method",
        "GET",
        "--desc",
        "Retrieve real-time weather and forecast data for coordinates",
        "--schema",
        '{"type":"object","properties":{"latitude":{"type":"number"},"longitude":{"type":"number"},'
        '"current_weather":{"type":"boolean"}},"required":["latitude","longitude"]}',
    )
    stripe = admin.ok(
        "connection", "add", "--name", "Stripe", "--url", site.misc.url + "/stripe", "--prefix", "stripe_"
    ).stdout.strip()
    admin.ok("endpoint", "add", "--conn-id", stripe, "--name", "list_charges", "--path", "/charges")

    created = admin.shell(WEATHER_TOKEN_ADD)

    assert UUID.match(created.stdout.strip()) and len(created.stdout.splitlines()) == 1  # the value was ours
    # The reference's stdio example, against the same database and metrics directory as the server.
    env = gateway_env(
        site.gateway.env["DATABASE_PATH"], PROMETHEUS_MULTIPROC_DIR=site.gateway.env["PROMETHEUS_MULTIPROC_DIR"]
    )
    stdio = subprocess.run(
        ["bash", "-ec", WEATHER_STDIO.replace("./mcp-gateway", MCP_GATEWAY)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert stdio.returncode == 0, stdio.stderr
    response = json.loads(stdio.stdout)
    response["result"]["tools"] = [
        {k: t[k] for k in ("name", "description", "inputSchema")} for t in response["result"]["tools"]
    ]
    assert response == WEATHER_STDIO_RESPONSE
    assert tool_names(site.url, WEATHER_TOKEN) == ["weather_get_forecast"]
    for other in ("stripe_list_charges", "accounts_get_balance", "dog_random_image"):
        assert call_tool(site.url, WEATHER_TOKEN, other, {"client_id": "1"})["error"]["code"] == -32601
    assert (
        call_tool(site.url, WEATHER_TOKEN, "weather_get_forecast", {"latitude": 52.5, "longitude": 13.4})["result"][
            "isError"
        ]
        is False
    )


# -- verify, status, metrics, logs -----------------------------------------------------


def test_verify_prints_the_reference_report_with_a_401_target_shown_as_reachable(site, admin):
    connections = admin.json("connection", "list")
    tools = admin.json("endpoint", "list")
    keys = admin.json("vault", "list")

    result = admin.ok("verify")

    lines = result.stdout.splitlines()
    assert lines[:4] == VERIFY_HEAD
    assert lines[4] == (
        f"[3/5] Querying System Database Schema... OK ({len(connections)} Connections, {len(tools)} Tools Registered)"
    )
    assert lines[5] == f"[4/5] Testing Vault Secret Integration... OK ({len(keys)} Secret Keys Available)"
    assert lines[6] == "[5/5] Verifying Target API Connectivity..."
    assert lines[7].split() == ["Name", "Target", "URL", "Status", "Notes"]
    assert lines[8].split() == ["----", "----------", "------", "-----"]
    assert len(lines) == 9 + len(connections)
    # Columns line up: every cell starts where its header does.
    starts = [lines[7].index(h) for h in ("Name", "Target URL", "Status", "Notes")]
    bank_url = (site.bank.url + "/api/v1")[:21] + "..."
    assert _rows(result.stdout, "Accounts Database") == [
        "Accounts Database".ljust(starts[1])
        + bank_url.ljust(starts[2] - starts[1])
        + "OK".ljust(starts[3] - starts[2])
        + "HTTP 401 Unauthorized"
    ]
    dog_row = _rows(result.stdout, "Dog Ceo Pictures")[0]
    assert dog_row[starts[2] :].split(None, 1) == ["OK", "HTTP 200 OK"]
    assert dog_row[starts[1] : starts[2]].strip() == (site.dog.url + "/api")[:21] + "..."


def test_verify_marks_an_unreachable_target_fail_and_exits_1(site, admin):
    gone = f"http://127.0.0.1:{refused_port()}"
    dead = admin.ok("connection", "add", "--name", "Gone Service", "--url", gone, "--prefix", "gone_").stdout.strip()
    try:
        result = admin.run("verify")
    finally:
        admin.ok("connection", "delete", "--id", dead)

    assert result.returncode == 1
    assert re.search(
        r"^\[5/5\] Verifying Target API Connectivity\.\.\. FAIL \(1 of \d+ failing\)$", result.stdout, re.M
    )
    assert _rows(result.stdout, "Gone Service")[0].split()[-3:] == ["FAIL", "connection", "refused"]


def test_verify_without_a_session_fails_at_the_credentials_step(site, cli):
    result = cli.run("--addr", site.url, "verify")

    assert result.returncode == 1
    assert result.stdout.splitlines()[2:] == [
        "[1/5] Checking Gateway Server Connectivity... OK",
        "[2/5] Verifying Admin Credentials Token... "
        f"FAIL (not logged in: run mcp-cli login <username> --addr {site.url})",
    ]


def test_verify_against_an_unreachable_gateway_fails_at_the_first_step(cli):
    addr = f"http://127.0.0.1:{refused_port()}"

    result = cli.run("--addr", addr, "verify")

    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        f"[1/5] Checking Gateway Server Connectivity... FAIL (cannot reach the gateway at {addr}: connection refused)"
    )


def test_status_shows_the_port_vault_provider_and_mtls(site, admin):
    lines = admin.ok("status").stdout.splitlines()

    fields = {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert fields["Active port"] == str(site.gateway.port)
    assert fields["Vault provider"] == "local"
    assert fields["mTLS"] == "disabled" and fields["TLS"] == "disabled"
    assert fields["Gateway"].startswith(site.url + " (Janus ")
    assert re.fullmatch(r"\d+ connections, \d+ tools, \d+ client tokens, \d+ active MCP sessions", fields["Catalog"])
    assert admin.json("status")["vault_provider"] == "local"


def _counter(metrics_stdout: str, labels: str) -> int:
    pattern = re.compile(r"^mcp_tool_execution_count_total\s+" + re.escape(labels) + r"\s+(\d+)$", re.M)
    found = pattern.search(metrics_stdout)
    return int(found.group(1)) if found else 0


def test_metrics_prints_the_reference_table_with_the_tool_execution_counter(site, admin):
    labels = 'status="success",tool_name="dog_random_image"'
    before = _counter(admin.ok("--addr", site.url, "metrics").stdout, labels)

    call_tool(site.url, site.all_tools_token, "dog_random_image", {})
    result = admin.ok("--addr", site.url, "metrics")  # /metrics with the admin session of `mcp-cli login`

    lines = result.stdout.splitlines()
    assert lines[:2] == ["MCP Gateway Monitoring Telemetry Stats", "======================================"]
    assert re.fullmatch(r"Metric Identifier\s+Labels / Tags\s+Value", lines[2])
    assert lines[3].split() == ["-----------------", "-------------", "-----"]
    assert _counter(result.stdout, labels) == before + 1
    assert re.search(
        r'^mcp_tool_execution_latency_seconds\s+quantile="0\.9",tool_name="dog_random_image"\s+[\d.e-]+$',
        result.stdout,
        re.M,
    )
    assert all(not line.startswith("#") for line in lines)


def test_metrics_without_a_login_says_which_login_it_needs(site, cli):
    result = cli.run("--addr", site.url, "metrics")

    assert result.returncode == 1
    assert result.stderr == (
        f"Error: {site.url}/metrics needs an admin session: run mcp-cli login <username> --addr {site.url}\n"
    )


def test_logs_lists_the_latest_tool_executions_newest_first(site, admin):
    call_tool(site.url, site.all_tools_token, "accounts_get_balance", {"client_id": "C-7"})

    # Audit rows are written in batches off the request path: poll for ours.
    lines = wait_for(lambda: _newest_log_is(admin, "accounts_get_balance"), timeout=10, what="the audit row")

    assert lines[0].split() == ["Time", "(UTC)", "Token", "Tool", "Status", "HTTP", "Duration", "ms", "Error"]
    newest = lines[2].split()
    assert newest[2:6] == ["Operations", "accounts_get_balance", "success", "200"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", newest[0]) and newest[-1] == "-"
    assert len(lines) - 2 <= 100
    assert admin.json("logs")["per_page"] == 100


def _newest_log_is(admin: Cli, tool: str) -> list[str] | None:
    lines = admin.ok("logs").stdout.splitlines()
    return lines if len(lines) > 2 and lines[2].split()[3] == tool else None


# -- catalog changes ---------------------------------------------------------------


def test_connection_and_endpoint_modify_and_delete_take_effect(site, admin):
    conn = admin.ok(
        "connection",
        "add",
        "--name",
        "Inventory",
        "--url",
        site.misc.url + "/inventory",
        "--prefix",
        "inventory_",
        "--desc",
        "Stock levels",
    ).stdout.strip()
    schema = '{"type":"object","properties":{"sku":{"type":"string"}},"required":["sku"]}'
    ep = admin.ok(
        "endpoint", "add", "--conn-id", conn, "--name", "get_item", "--path", "/items/{{sku}}", "--schema", schema
    ).stdout.strip()

    admin.ok(
        "connection",
        "modify",
        "--id",
        conn,
        "--name",
        "Warehouse",
        "--prefix",
        "warehouse_",
        "--url",
        site.misc.url + "/inventory/v2",
    )
    admin.ok(
        "endpoint",
        "modify",
        "--id",
        ep,
        "--name",
        "lookup_item",
        "--path",
        "/sku/{{sku}}",
        "--method",
        "POST",
        "--desc",
        "Look an item up",
    )

    table = admin.ok("connection", "list").stdout
    assert _rows(table, conn)[0].split()[1:4] == ["Warehouse", "warehouse_", site.misc.url + "/inventory/v2"]
    endpoints = admin.ok("endpoint", "list", "--conn-id", conn).stdout.splitlines()
    assert endpoints[2].split() == [ep, "warehouse_lookup_item", "POST", "/sku/{{sku}}", "Warehouse", "yes"]
    assert "warehouse_lookup_item" in tool_names(site.url, site.all_tools_token)

    admin.ok("endpoint", "delete", "--id", ep)
    assert admin.json("endpoint", "list", "--conn-id", conn) == []
    admin.ok("connection", "delete", "--id", conn)
    assert conn not in admin.ok("connection", "list").stdout
    missing = admin.run("connection", "delete", "--id", conn)
    assert missing.returncode == 1 and f"connection '{conn}' not found (HTTP 404 not_found)" in missing.stderr


def test_endpoint_bulk_changes_several_endpoints_and_names_the_ids_it_did_not_find(site, admin):
    conn = admin.ok("connection", "add", "--name", "Bulk", "--url", site.misc.url, "--prefix", "bulk_").stdout.strip()
    ids = [
        admin.ok("endpoint", "add", "--conn-id", conn, "--name", f"t{i}", "--path", "/t").stdout.strip()
        for i in range(3)
    ]
    disabled = admin.ok("endpoint", "bulk", "--action", "disable", "--id", ids[0], "--id", ids[1])
    assert disabled.stdout == "" and disabled.stderr == "2 endpoints disabled.\n"
    listed = admin.json("endpoint", "list", "--conn-id", conn)
    assert [e["enabled"] for e in listed] == [False, False, True]
    assert admin.json("endpoint", "bulk", "--action", "enable", "--id", ids[0]) == {
        "action": "enable",
        "changed": 1,
        "not_found": [],
    }

    missing = admin.run("endpoint", "bulk", "--action", "delete", "--id", ids[2], "--id", "no-such-id")
    assert missing.returncode == 1
    assert missing.stderr == "1 endpoint deleted.\nError: no endpoint has these ids: no-such-id\n"
    names = tool_names(site.url, site.all_tools_token)
    assert "bulk_t0" in names and "bulk_t1" not in names and "bulk_t2" not in names  # disabled, deleted
    usage = admin.run("endpoint", "bulk", "--action", "explode", "--id", ids[0])
    assert usage.returncode == 2 and "'explode' is not one of 'enable', 'disable', 'delete'" in usage.stderr
    assert admin.run("endpoint", "bulk", "--action", "enable").returncode == 2  # no --id
    admin.ok("connection", "delete", "--id", conn)


def test_endpoint_list_follows_the_cursor_past_the_apis_largest_page(site, admin):
    from janus.extensions import db
    from janus.models import Endpoint
    from tests.conftest import make_app

    conn = admin.ok("connection", "add", "--name", "Many", "--url", site.misc.url, "--prefix", "many_").stdout.strip()
    app = make_app({"DATABASE_PATH": site.gateway.env["DATABASE_PATH"]})  # the gateway's own SQLite file
    with app.app_context():
        db.session.add_all(
            Endpoint(connection_id=conn, tool_name=f"t{i:04d}", path_template="/t", input_schema={"type": "object"})
            for i in range(1_005)  # the API answers at most 1000 a page
        )
        db.session.commit()
        db.engine.dispose()
    try:
        listed = admin.json("endpoint", "list", "--conn-id", conn)
        assert [e["tool_name"] for e in listed] == [f"t{i:04d}" for i in range(1_005)]
    finally:
        admin.ok("connection", "delete", "--id", conn)


def test_disabling_a_connection_removes_its_tools_from_the_next_tools_list_without_a_restart(site, admin):
    conn = admin.ok(
        "connection", "add", "--name", "Ledger", "--url", site.misc.url, "--prefix", "ledger_"
    ).stdout.strip()
    admin.ok("endpoint", "add", "--conn-id", conn, "--name", "entries", "--path", "/entries")
    assert "ledger_entries" in tool_names(site.url, site.all_tools_token)

    admin.ok("connection", "modify", "--id", conn, "--enabled", "false")

    assert "ledger_entries" not in tool_names(site.url, site.all_tools_token)
    admin.ok("connection", "modify", "--id", conn, "--enabled", "true")
    assert "ledger_entries" in tool_names(site.url, site.all_tools_token)


def test_vault_lists_names_only_and_reads_a_missing_value_from_stdin(site, admin):
    admin.ok("vault", "set", "--key", "ci/first", "--val", "first-secret-value")
    admin.ok("vault", "set", "--key", "ci/second", input="second-secret-value\n")

    listed = admin.ok("vault", "list").stdout
    assert {"ci/first", "ci/second", "prod/database/accounts-key"} <= set(listed.splitlines())
    assert "secret-value" not in listed and BANK_SECRET not in listed

    admin.ok("vault", "delete", "--key", "ci/second")
    assert "ci/second" not in admin.ok("vault", "list").stdout.splitlines()
    assert admin.run("vault", "delete", "--key", "ci/second").returncode == 1


def test_token_add_prints_the_id_then_the_generated_value_and_list_never_shows_values(site, admin):
    lines = admin.ok("token", "add", "--name", "Scripted", "--scopes", "dog_*").stdout.splitlines()

    token_id, value = lines
    assert UUID.match(token_id) and value.startswith("mcp_")
    assert tool_names(site.url, value) == ["dog_random_image"]
    listed = admin.ok("token", "list").stdout
    row = _rows(listed, token_id)[0].split()
    assert row[1:4] == ["Scripted", "developer", "dog_*"] and value not in listed
    admin.ok("token", "delete", "--id", token_id)
    assert token_id not in admin.ok("token", "list").stdout


def test_a_tokens_own_rate_limit_is_set_with_add_changed_with_limit_and_reset_to_the_default(site, admin):
    token_id = admin.ok("token", "add", "--name", "Limited", "--scopes", "dog_*", "--rate", "5", "--burst", "10")
    token_id = token_id.stdout.splitlines()[0]
    shown = json.loads(admin.ok("--json", "token", "list").stdout)
    assert [(t["rate_per_second"], t["rate_burst"]) for t in shown if t["id"] == token_id] == [(5, 10)]
    changed = json.loads(admin.ok("--json", "token", "limit", "--id", token_id, "--rate", "0").stdout)
    assert (changed["rate_per_second"], changed["rate_burst"]) == (0, 10)
    reset = json.loads(
        admin.ok("--json", "token", "limit", "--id", token_id, "--rate", "default", "--burst", "default").stdout
    )
    assert (reset["rate_per_second"], reset["rate_burst"]) == (None, None)
    admin.ok("token", "delete", "--id", token_id)


def test_json_output_is_the_apis_json(site, admin):
    data = json.loads(admin.ok("connection", "list", "--json").stdout)

    assert any(c["id"] == site.ids["bank"] and c["prefix"] == "accounts_" for c in data)
    endpoints = json.loads(admin.ok("--json", "endpoint", "list").stdout)
    assert any(e["id"] == site.ids["balance"] and e["exposed_name"] == "accounts_get_balance" for e in endpoints)


# -- errors ------------------------------------------------------------------------


def test_commands_need_a_login_first(site, cli):
    result = cli.run("--addr", site.url, "connection", "list")

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"Error: not logged in: run mcp-cli login <username> --addr {site.url}\n"


def test_a_wrong_password_is_refused_and_nothing_is_cached(site, cli):
    result = cli.run("login", "admin", "--addr", site.url, input="not-the-password\n")

    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: login to {site.url} as 'admin' failed: ")
    assert "HTTP 401" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not cli.cache_file.exists()


def test_an_unreachable_gateway_is_named_in_one_line(cli):
    addr = f"http://127.0.0.1:{refused_port()}"

    for args in (("login", "admin", "--addr", addr), ("--addr", addr, "metrics")):
        result = cli.run(*args, input="whatever\n")
        assert result.returncode == 1
        assert result.stderr == f"Error: cannot reach the gateway at {addr}: connection refused\n"


def test_an_expired_cached_session_asks_for_a_new_login(site, admin):
    cached = json.loads(admin.cache_file.read_text())
    admin.cache_file.write_text(json.dumps(cached | {"expires_at": "2020-01-01T00:00:00Z"}))

    result = admin.run("connection", "list")

    assert result.returncode == 1
    assert result.stderr == (
        f"Error: session expired at 2020-01-01T00:00:00Z: run mcp-cli login admin --addr {site.url}\n"
    )


def test_a_session_the_gateway_rejects_asks_for_a_new_login(site, admin):
    cached = json.loads(admin.cache_file.read_text())
    admin.cache_file.write_text(json.dumps(cached | {"token": "not.a.jwt"}))

    result = admin.run("token", "list")

    assert result.returncode == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: session no longer valid (")
    assert result.stderr.endswith(f"): run mcp-cli login admin --addr {site.url}\n")


def test_validation_errors_show_the_servers_message(site, admin):
    bad_url = admin.run("connection", "add", "--name", "Bad", "--url", "ftp://files.example")
    bad_prefix = admin.run("connection", "add", "--name", "Bad", "--url", site.misc.url, "--prefix", "Bad")
    clash = admin.run("connection", "add", "--name", "Other Accounts", "--url", site.misc.url, "--prefix", "accounts_")
    reserved = admin.run("connection", "add", "--name", "Ops", "--url", site.misc.url, "--prefix", "admin_ops_")

    assert bad_url.returncode == 1 and bad_url.stderr == (
        "Error: base_url must be an absolute http:// or https:// URL with a host, got 'ftp://files.example' "
        "(HTTP 400 validation_error)\n"
    )
    assert bad_prefix.returncode == 1 and "prefix 'Bad' is invalid" in bad_prefix.stderr
    assert clash.returncode == 1 and "(HTTP 409 conflict)" in clash.stderr and "accounts_" in clash.stderr
    assert reserved.returncode == 1 and reserved.stderr == (
        "Error: prefix 'admin_ops_' is reserved for Janus's built-in admin tools (no prefix may start with 'admin_') "
        "(HTTP 400 validation_error)\n"
    )


def test_invalid_schema_json_is_a_usage_error(site, admin):
    result = admin.run(
        "endpoint",
        "add",
        "--conn-id",
        site.ids["dog"],
        "--name",
        "broken",
        "--path",
        "/x",
        "--schema",
        "{type: object}",
    )

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("Error: Invalid value for '--schema': not valid JSON: ")
    assert len(result.stderr.splitlines()) == 1
    assert "broken" not in admin.ok("endpoint", "list").stdout


def test_missing_options_and_nothing_to_change_are_usage_errors(admin):
    assert admin.run("connection", "add", "--name", "No URL").returncode == 2
    nothing = admin.run("connection", "modify", "--id", "x")
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr
    assert admin.run("connection", "modify", "--id", "x", "--enabled", "maybe").returncode == 2


# -- packaging ---------------------------------------------------------------------


def test_mcp_cli_imports_nothing_of_the_server_side():
    probe = (
        "import sys, janus.cli.mcp_cli; "
        "print([m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy') "
        "or m.startswith(('janus.models', 'janus.services', 'janus.extensions'))])"
    )

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_same_group_is_flask_mcp_cli(tmp_path):
    from tests.conftest import make_app

    app = make_app({"DATABASE_PATH": str(tmp_path / "unused.db")})

    result = app.test_cli_runner().invoke(args=["mcp-cli", "--help"])

    assert result.exit_code == 0 and "connection" in result.output and "verify" in result.output
    assert MCP_CLI.endswith("mcp-cli")


def test_mcp_cli_offers_exactly_the_audit_statuses_the_server_records():
    from janus.cli.mcp_cli import LOG_STATUSES
    from janus.services.audit_statuses import STATUSES

    assert LOG_STATUSES == STATUSES
