"""The official TypeScript MCP SDK clients against a real gateway, over every transport each one offers.

Two client packages, pinned in tools/ts-clients (installed by scripts/install-ts-clients, run on the Node 22
of tools/conformance):

* `@modelcontextprotocol/sdk` 1.32.2 (v1): StdioClientTransport, StreamableHTTPClientTransport and
  SSEClientTransport; the handshake era only (it offers 2025-11-25 down to 2024-10-07); cancels a request by
  sending `notifications/cancelled`.
* `@modelcontextprotocol/client` 2.4.0 (2.x): the same three transports; `versionNegotiation` `legacy` (the
  default: the 2025-11-25 handshake), `auto` (probes with `server/discover`, falls back to `initialize`) or
  pinned to `2026-07-28`; cancels by aborting the request's own POST stream on a 2026-07-28 Streamable HTTP
  connection, and by `notifications/cancelled` everywhere else (the handshake era, stdio).

tools/ts-clients/drive.mjs runs one client and reports everything on stdout as JSON lines: command results,
onprogress callbacks, notification handlers, and every JSON-RPC message and HTTP exchange on the wire. Real
parts only: the gateway under gunicorn+gevent with two workers (tests/support/http_gateway.py), `mcp-gateway
-stdio` processes on the same database, a real upstream on 127.0.0.1, endpoints added with the real `mcp-cli`.

The cancellation tests hold Janus to issue 11 item 2.1: `notifications/cancelled` routed across workers,
the upstream wait stopped (the upstream sees its connection closed), no result, audit status `cancelled`, and
on 2026-07-28 Streamable HTTP the closed request stream counting as the cancellation.

Without Node or the installed clients the tests skip locally and fail in CI (CI=true).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from tests.support.catalog import add_connection, add_endpoint
from tests.support.cli import Cli
from tests.support.http_gateway import WEATHER, mcp_headers, start_http_gateway, stateless_meta, stop_http_gateway
from tests.support.stdio import MCP_GATEWAY, gateway_env
from tests.support.upstream import HeldUntilDisconnect, Upstream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
TS_CLIENTS = REPO / "tools" / "ts-clients"
DRIVER = TS_CLIENTS / "drive.mjs"
NODE = REPO / "tools" / "conformance" / "node_modules" / "node" / "bin" / "node"
PACKAGES = {"@modelcontextprotocol/sdk": "1.32.2", "@modelcontextprotocol/client": "2.4.0"}
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

HANDSHAKE = "2025-11-25"
STATELESS = "2026-07-28"
# Extra gateway settings for stdio processes, matching the module's HTTP gateway.
STDIO_SETTINGS = {"TOOLS_PAGE_SIZE": "2", "PROGRESS_INTERVAL_SECONDS": "0.3", "CATALOG_REFRESH_SECONDS": "0.2"}


def _missing_clients() -> str | None:
    if not NODE.exists():
        return f"{NODE} is missing: run scripts/install-conformance"
    for package, version in PACKAGES.items():
        manifest = TS_CLIENTS / "node_modules" / package / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
            return f"{package} {version} is not installed in {TS_CLIENTS}: run scripts/install-ts-clients"
    return None


@pytest.fixture(scope="module", autouse=True)
def _clients_installed():
    problem = _missing_clients()
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)


# -- which client, over which transport, in which era ------------------------------------------


@dataclass(frozen=True)
class Variant:
    sdk: str  # v1 = @modelcontextprotocol/sdk, v2 = @modelcontextprotocol/client
    transport: str  # stdio | http | sse
    mode: str = "legacy"  # v2's versionNegotiation: legacy | auto | a pinned revision

    def __str__(self) -> str:
        return self.slug

    @property
    def slug(self) -> str:
        return "_".join([self.sdk, self.transport] + ([] if self.mode == "legacy" else [self.mode.replace("-", "")]))

    @property
    def stateless(self) -> bool:
        return self.mode != "legacy"

    @property
    def version(self) -> str:
        return STATELESS if self.stateless else HANDSHAKE


V1_STDIO = Variant("v1", "stdio")
V1_HTTP = Variant("v1", "http")
V1_SSE = Variant("v1", "sse")
V2_STDIO = Variant("v2", "stdio")
V2_STDIO_PINNED = Variant("v2", "stdio", STATELESS)  # pinned: no probe, the 2026-07-28 era at once
V2_HTTP = Variant("v2", "http")
V2_HTTP_AUTO = Variant("v2", "http", "auto")  # probes with server/discover and goes stateless
V2_SSE = Variant("v2", "sse")
EVERY = [V1_STDIO, V1_HTTP, V1_SSE, V2_STDIO, V2_STDIO_PINNED, V2_HTTP, V2_HTTP_AUTO, V2_SSE]
OVER_HTTP = [V1_HTTP, V1_SSE, V2_HTTP, V2_HTTP_AUTO, V2_SSE]


class TsClient:
    """One tools/ts-clients/drive.mjs process: commands go in on stdin, events come back as JSON lines."""

    def __init__(self, variant: Variant, url: str, stdio_env: dict[str, str] | None, token: str = WEATHER) -> None:
        config = {"sdk": variant.sdk, "transport": variant.transport, "mode": variant.mode, "url": url, "token": token}
        if variant.transport == "stdio":
            config.update(command=MCP_GATEWAY, args=["-stdio"], env=stdio_env)
        self.variant = variant
        self.proc = subprocess.Popen(
            [str(NODE), str(DRIVER), json.dumps(config)],
            cwd=TS_CLIENTS,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.events: list[dict] = []
        self.stderr_lines: list[str] = []
        self._tags = count(1)
        self._lock = threading.Lock()
        self._pumps = (
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        )
        for pump in self._pumps:
            pump.start()
        try:
            self.event(lambda e: e["event"] == "ready", what="the driver to start")
        except BaseException:
            self.close()
            raise

    def _pump_stdout(self) -> None:
        for line in self.proc.stdout:
            with self._lock:
                self.events.append(json.loads(line))

    def _pump_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def describe(self) -> str:
        tail = "".join(self.stderr_lines[-40:])
        return (
            f"{self.variant}: events\n"
            + "\n".join(json.dumps(e)[:300] for e in self.snapshot()[-30:])
            + f"\nstderr:\n{tail}"
        )

    # -- commands ----------------------------------------------------------------------------

    def send(self, op: str, **fields) -> str:
        tag = f"{op}-{next(self._tags)}"
        self.proc.stdin.write(json.dumps({"op": op, "tag": tag, **fields}) + "\n")
        self.proc.stdin.flush()
        return tag

    def outcome(self, tag: str, timeout: float = 30.0) -> dict:
        """The `done` or `error` event of the command tagged `tag`."""
        return self.event(
            lambda e: e["event"] in ("done", "error") and e.get("tag") == tag, timeout, what=f"the outcome of {tag}"
        )

    def do(self, op: str, timeout: float = 30.0, **fields):
        """Run a command and return its result; its failure fails the test."""
        outcome = self.outcome(self.send(op, **fields), timeout)
        assert outcome["event"] == "done", f"{op} failed: {outcome['error']}\n{self.describe()}"
        return outcome["result"]

    # -- what happened -------------------------------------------------------------------------

    def event(self, predicate: Callable[[dict], bool], timeout: float = 20.0, what: str = "an event") -> dict:
        def found():
            if self.proc.poll() is not None and not any(predicate(e) for e in self.snapshot()):
                raise AssertionError(f"the driver exited with {self.proc.returncode}")
            return next((e for e in self.snapshot() if predicate(e)), None)

        try:
            return wait_for(found, timeout=timeout, what=f"{self.variant}: {what}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe()}") from None

    def of(self, kind: str, **match) -> list[dict]:
        return [e for e in self.snapshot() if e["event"] == kind and all(e.get(k) == v for k, v in match.items())]

    def sent(self, method: str | None = None) -> list[dict]:
        return [e["message"] for e in self.of("sent") if method is None or e["message"].get("method") == method]

    def received(self) -> list[dict]:
        return [e["message"] for e in self.of("recv")]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        try:
            self.proc.stdin.close()  # a no-op if closed above
        except OSError:  # the driver is gone: nothing left to flush to
            pass
        # Our ends of its output pipes, once the pumps have read them to the end (else a ResourceWarning).
        for pump, pipe in zip(self._pumps, (self.proc.stdout, self.proc.stderr), strict=True):
            pump.join(5)
            if not pump.is_alive():  # never close a file another thread is reading
                pipe.close()


# -- the gateway, shared by the module ---------------------------------------------------------


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    gateway = start_http_gateway(
        tmp_path_factory.mktemp("ts-clients"), TOOLS_PAGE_SIZE=STDIO_SETTINGS["TOOLS_PAGE_SIZE"]
    )
    # Three weather tools from the fixture and three more: at two a page, listings take at least three pages.
    for name in ("page_filler_a", "page_filler_b", "page_filler_c"):
        add_endpoint(gateway.app, gateway.weather_connection, name, "/forecast")
    yield gateway
    stop_http_gateway(gateway)


@pytest.fixture(scope="module")
def admin_cli(gw, tmp_path_factory) -> Cli:
    """`mcp-cli`, logged in to the module's gateway once (its own HOME)."""
    cli = Cli(tmp_path_factory.mktemp("cli-home"))
    cli.login(gw.url)
    return cli


@pytest.fixture
def clients(gw):
    """Start TS clients against the module's gateway (stdio ones run `mcp-gateway -stdio` on its database)."""
    started: list[TsClient] = []
    stdio_env = gateway_env(gw.server.env["DATABASE_PATH"], WEATHER, **STDIO_SETTINGS)

    def start(variant: Variant) -> TsClient:
        client = TsClient(variant, gw.url, stdio_env)
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


def weather_tools(gw) -> set[str]:
    """Every tool the WEATHER token (`weather_*`) may see, from the database."""
    from janus.extensions import db
    from janus.models import Connection, Endpoint

    with gw.app.app_context():
        rows = db.session.execute(
            select(Connection.prefix, Endpoint.tool_name)
            .join(Endpoint.connection)
            .where(Connection.enabled.is_(True), Endpoint.enabled.is_(True))
        ).all()
        db.session.remove()
    return {prefix + name for prefix, name in rows if (prefix + name).startswith("weather_")}


def listed_names(url: str) -> list[str]:
    """Every page of a stateless tools/list over fresh connections (so either worker may answer any page)."""
    names, cursor = [], None
    for _page in range(100):
        params = {"_meta": stateless_meta(), **({"cursor": cursor} if cursor else {})}
        response = requests.post(
            url + "/mcp",
            timeout=10,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params},
            headers=mcp_headers(
                WEATHER, **{"MCP-Protocol-Version": STATELESS, "Mcp-Method": "tools/list", "Connection": "close"}
            ),
        )
        result = response.json()["result"]
        names += [tool["name"] for tool in result["tools"]]
        cursor = result.get("nextCursor")
        if not cursor:
            return names
    raise AssertionError("more than 100 pages")


def wait_listed_everywhere(gw, predicate: Callable[[list[str]], bool], what: str) -> None:
    """Until five full listings in a row satisfy `predicate`: every worker's catalog cache has caught up."""
    wait_for(lambda: all(predicate(listed_names(gw.url)) for _ in range(5)), timeout=10, interval=0.1, what=what)


def audit_statuses(gw, tool_name: str) -> list[str]:
    from janus.extensions import db
    from janus.models import ToolCallLog

    with gw.app.app_context():
        statuses = db.session.scalars(
            select(ToolCallLog.status).where(ToolCallLog.tool_name == tool_name).order_by(ToolCallLog.id)
        ).all()
        db.session.remove()
    return list(statuses)


def _connect(client: TsClient) -> dict:
    connected = client.do("connect")
    assert connected["protocolVersion"] == client.variant.version, connected
    return connected


# -- 1. listing across pages -------------------------------------------------------------------


@pytest.mark.parametrize("variant", EVERY, ids=str)
def test_a_listing_walks_every_page_and_names_every_tool_once(gw, clients, variant):
    expected = weather_tools(gw)
    wait_listed_everywhere(gw, lambda names: set(names) == expected, what="every worker's catalog")
    client = clients(variant)
    _connect(client)

    names = client.do("list")["names"]

    assert len(names) == len(set(names)), names
    assert set(names) == expected
    pages = client.sent("tools/list")
    assert len(pages) >= 3 and len(pages) == -(-len(expected) // 2)  # TOOLS_PAGE_SIZE=2: one request a page
    assert "cursor" not in pages[0].get("params", {}) and all(p["params"]["cursor"] for p in pages[1:])
    if variant.stateless:  # every 2026-07-28 request carries its revision in _meta
        assert all(p["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == STATELESS for p in pages)


# -- 2. a call reaches the upstream and its answer comes back ----------------------------------


@pytest.mark.parametrize("variant", EVERY, ids=str)
def test_a_call_returns_what_the_upstream_answered(gw, clients, variant):
    client = clients(variant)
    _connect(client)

    result = client.do("call", name="weather_get_forecast", arguments={"latitude": 1.5, "longitude": 2})

    assert result.get("isError") is not True, result
    echoed = result["structuredContent"]
    assert (echoed["method"], echoed["path"]) == ("GET", "/forecast")
    assert echoed["args"] == {"latitude": ["1.5"], "longitude": ["2"]}
    assert json.loads(result["content"][0]["text"]) == echoed


# -- 3. progress while the upstream is slow ----------------------------------------------------


@pytest.mark.parametrize("variant", EVERY, ids=str)
def test_a_slow_call_reports_progress_before_its_result(gw, clients, variant):
    client = clients(variant)
    _connect(client)
    gw.release.clear()
    try:
        tag = client.send("call", name="weather_slow_report", progress=True)
        # PROGRESS_INTERVAL_SECONDS=0.3: ticks arrive while the upstream holds the answer back.
        wait_for(lambda: len(client.of("progress", tag=tag)) >= 2, timeout=20, what="two progress callbacks")
        assert not client.of("done", tag=tag)
    finally:
        gw.release.set()
    outcome = client.outcome(tag)

    assert outcome["event"] == "done", client.describe()
    assert outcome["result"]["structuredContent"] == {"slow": "done"}
    values = [e["progress"] for e in client.of("progress", tag=tag)]
    assert values == sorted(values) and len(set(values)) == len(values)
    # On the wire: the call carried a progress token, and its notifications came before its response.
    call = client.sent("tools/call")[-1]
    token = call["params"]["_meta"]["progressToken"]
    wire = client.received()
    answer_at = next(i for i, m in enumerate(wire) if m.get("id") == call["id"] and "result" in m)
    ticks_at = [
        i
        for i, m in enumerate(wire)
        if m.get("method") == "notifications/progress" and m["params"]["progressToken"] == token
    ]
    assert len(ticks_at) >= 2 and max(ticks_at) < answer_at


# -- 4. list_changed while connected -----------------------------------------------------------


@pytest.mark.parametrize("variant", EVERY, ids=str)
def test_an_endpoint_added_with_mcp_cli_reaches_a_connected_client_as_list_changed(gw, clients, admin_cli, variant):
    client = clients(variant)
    _connect(client)
    if variant.stateless:
        # 2026-07-28 has no unsolicited stream: the client opens subscriptions/listen.
        assert client.do("listen")["honoredFilter"] == {"toolsListChanged": True}
    elif variant.transport == "http":
        # The handshake era's standalone GET stream, which the client opens after `initialized`.
        client.event(
            lambda e: e["event"] == "http" and e["method"] == "GET" and e["status"] == 200,
            what="the standalone GET stream",
        )
    name = f"ts_{variant.slug}_alerts"

    admin_cli.ok(
        "endpoint",
        "add",
        "--conn-id",
        gw.weather_connection,
        "--name",
        name,
        "--path",
        "/forecast",
        "--desc",
        "added while a TS client listens",
    )

    note = client.event(lambda e: e["event"] == "notification", timeout=20, what="notifications/tools/list_changed")
    assert note["method"] == "notifications/tools/list_changed"
    # A listing after the notice names the new tool (a worker's catalog may lag CATALOG_REFRESH_SECONDS).
    wait_for(
        lambda: f"weather_{name}" in client.do("list")["names"],
        timeout=10,
        interval=0.2,
        what=f"weather_{name} in a new listing",
    )


# -- 5. ending a Streamable HTTP session -------------------------------------------------------


@pytest.mark.parametrize("variant", [V1_HTTP, V2_HTTP], ids=str)
def test_terminate_session_deletes_it_and_the_gateway_refuses_it_afterwards(gw, clients, variant):
    client = clients(variant)
    session_id = _connect(client)["sessionId"]
    assert session_id
    client.do("call", name="weather_get_station", arguments={"id": "before-delete"})

    ended = client.do("terminate")

    assert ended == {"terminated": session_id, "sessionIdAfter": None}
    [delete] = client.of("http", method="DELETE")
    assert (delete["status"], delete["session"]) == (204, session_id)
    # Fresh connections, so either worker may take each one: every one finds the session gone.
    headers = mcp_headers(
        WEATHER, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": HANDSHAKE, "Connection": "close"}
    )
    statuses = [
        requests.post(
            gw.url + "/mcp", headers=headers, timeout=10, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [404] * 6


# -- 6. a gateway restart under a connected client ---------------------------------------------


@pytest.fixture(scope="module")
def restart_gw(tmp_path_factory):
    gateway = start_http_gateway(tmp_path_factory.mktemp("ts-restart"))
    yield gateway
    stop_http_gateway(gateway)


@pytest.mark.parametrize("variant", OVER_HTTP, ids=str)
def test_clients_carry_on_across_a_gateway_restart(restart_gw, variant):
    client = TsClient(variant, restart_gw.url, None)
    try:
        connected = _connect(client)
        client.do("call", name="weather_get_station", arguments={"id": "before"})

        restart_gw.server.stop()
        restart_gw.server.start()  # same port, same database

        if variant.transport == "sse":
            # The legacy SSE session lives as long as its GET stream, and the restart cut that stream:
            # the client learns it, and carries on with a new connection and session.
            client.event(
                lambda e: e["event"] in ("transport_closed", "transport_error"),
                what="the client to notice the stream is gone",
            )
            client.do("reconnect")
        after = client.do("call", name="weather_get_station", arguments={"id": "after"})

        assert after["structuredContent"]["path"] == "/stations/after"
        if variant.transport == "http" and not variant.stateless:
            # Sessions live in the database: the same session goes on, on the restarted gateway.
            last_post = client.of("http", method="POST")[-1]
            assert (last_post["status"], last_post["session"]) == (200, connected["sessionId"])
    finally:
        client.close()


def test_a_standalone_stream_reopened_during_shutdown_is_refused_not_held_open(tmp_path):
    gateway = start_http_gateway(tmp_path)
    client = TsClient(V1_HTTP, gateway.url, None)
    try:
        _connect(client)
        client.event(
            lambda e: e["event"] == "http" and e["method"] == "GET" and e["status"] == 200,
            what="the standalone GET stream",
        )

        gateway.server.proc.send_signal(signal.SIGTERM)

        # v1 reopens a standalone stream that ended cleanly straight away (a cut one too, after a delay).
        gets = wait_for(lambda: client.of("http", method="GET")[1:], timeout=30, what="the answer to the reopened GET")
        assert gets[0]["status"] != 200, "a standalone stream was opened on a worker that is shutting down"
    finally:
        client.close()
        stop_http_gateway(gateway)


# -- 7. cancellation ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def held_connection(gw) -> str:
    """A connection whose upstream waits are long (120 s), so only a cancellation ends them early."""
    return add_connection(gw.app, "Held", gw.upstream.url, "weather_held_", timeout_seconds=120)


@pytest.mark.parametrize("variant", [V1_STDIO, V1_HTTP, V1_SSE, V2_HTTP, V2_HTTP_AUTO, V2_STDIO_PINNED], ids=str)
def test_an_aborted_call_ends_its_upstream_request_gets_no_result_and_is_audited_cancelled(
    gw, clients, held_connection, variant
):
    endpoint = f"hold_{variant.slug}"
    tool = f"weather_held_{endpoint}"  # this test's own tool: its audit rows are its own
    held = HeldUntilDisconnect()
    gw.upstream.route(f"/hold/{variant.slug}", held)
    add_endpoint(gw.app, held_connection, endpoint, f"/hold/{variant.slug}")
    wait_listed_everywhere(gw, lambda names: tool in names, what=f"{tool} on every worker")
    client = clients(variant)
    try:
        _connect(client)
        tag = client.send("call", name=tool, abortable=True)
        assert held.arrived.wait(20), client.describe()
        [call] = [m for m in client.sent("tools/call") if m["params"]["name"] == tool]

        client.send("abort", call=tag, reason="aborted by the test")

        # The SDK gives up on the call at once: its promise rejects with the abort's reason.
        outcome = client.outcome(tag)
        assert outcome["event"] == "error" and "aborted by the test" in outcome["error"]["message"], outcome
        # How each client cancels: a 2026-07-28 Streamable HTTP client closes the request's stream,
        # every other one sends notifications/cancelled naming the request.
        cancels = [m for m in client.sent("notifications/cancelled") if m["params"]["requestId"] == call["id"]]
        assert len(cancels) == (0 if variant.stateless and variant.transport == "http" else 1)
        # (a) the gateway stops waiting: the upstream sees its connection closed.
        assert held.disconnected.wait(10), f"the upstream request of {tool} was never closed"
        # (c) the call is audited as cancelled.
        wait_for(
            lambda: audit_statuses(gw, tool) == ["cancelled"], timeout=10, what=f"a cancelled audit row for {tool}"
        )
        # (b) no answer to that request ever reaches the client, and the connection goes on serving.
        later = client.do("call", name="weather_get_station", arguments={"id": "after-cancel"})
        assert later["structuredContent"]["path"] == "/stations/after-cancel"
        assert not [m for m in client.received() if m.get("id") == call["id"]]
        assert not client.of("done", tag=tag)
    finally:
        held.release.set()  # whatever happened, the upstream handler returns and the gateway's wait ends


def test_the_held_upstream_route_tells_a_closed_connection_from_a_released_one():
    """The instrument the cancellation tests rely on: a caller that hangs up is seen as a disconnect."""
    upstream = Upstream().start()
    try:
        dropped, kept = HeldUntilDisconnect(), HeldUntilDisconnect()
        upstream.route("/dropped", dropped)
        upstream.route("/kept", kept)
        caller = socket.create_connection((upstream.host, upstream.port), timeout=10)
        caller.sendall(b"GET /dropped HTTP/1.1\r\nHost: upstream\r\n\r\n")
        assert dropped.arrived.wait(10)
        caller.close()
        assert dropped.disconnected.wait(10)

        answer = {}
        waiter = threading.Thread(
            target=lambda: answer.update(response=requests.get(upstream.url + "/kept", timeout=30).json()), daemon=True
        )
        waiter.start()
        assert kept.arrived.wait(10)
        kept.release.set()
        waiter.join(10)
        assert answer["response"] == {"held": "released"} and not kept.disconnected.is_set()
    finally:
        upstream.stop()
