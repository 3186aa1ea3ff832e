"""Replicas on PostgreSQL, proven (issue 14, item 3): separate gunicorn masters (2 gevent workers each)
on their own ports share one PostgreSQL database and the Secret's keys, as a Kubernetes Deployment runs
them behind a Service without session affinity.

A handshake session opened on one replica is served by the others; a legacy SSE stream on A hears the
answers to POSTs sent to B; a change made through B's admin API is in effect on A and reaches A's open
streams; a replica SIGKILLed under load leaves the others serving, and every call answered with a
result has its audit row; PostgreSQL restarted under load (a private cluster) costs tool calls nothing,
database-bound requests fail clearly meanwhile and are served again without restarting Janus, and no
answered call's audit row is lost. Timings are recorded, not asserted (CI is noisy): bench/replicas.py
reports them.

Two assertions need the audit spool work (branch `spool`: the SIGKILLed replica's last audit rows, and
503 + Retry-After on database errors): without janus.services.audit_spool a failure of either is an
expected failure naming its count; with it, a plain failure.
"""

from __future__ import annotations

import itertools
import json
import time

import anyio
import httpx2
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import create_engine, text

from janus.gateway.tool_backend import arguments_digest
from tests.conftest import IN_CI, PG_BASE_URL
from tests.support.http_gateway import WEATHER, mcp_headers
from tests.support.http_streams import RawStream, initialize_legacy, listed_tools, open_legacy, post_legacy
from tests.support.replicas import (
    CALL_TOOL,
    LoadLoop,
    ReplicaSet,
    database_bound_requests,
    fresh_database,
    served,
    sqlalchemy_url,
    stateless_call,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgres

LIST_CHANGED = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
FORECAST = "weather_get_forecast"


def _reachable(url: str) -> None:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        if IN_CI:
            pytest.fail(f"PostgreSQL at {url} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def postgres():
    """(database URL, cluster) for this module: a private PostgreSQL cluster when one can run here, so the
    last test may restart it (the shared server on :5432 must stay up for everyone); else a database of
    this module's own on the shared server, and no cluster (the restart test is skipped)."""
    from tests.support.private_postgres import PrivatePostgres, available

    if available() is None:
        with PrivatePostgres() as pg:
            yield pg.create_database("janus_replicas"), pg
        return
    _reachable(PG_BASE_URL)
    with fresh_database(PG_BASE_URL) as url:
        yield url, None


@pytest.fixture(scope="module")
def replicas(postgres, tmp_path_factory):
    """Three replicas on the module's database."""
    with ReplicaSet(tmp_path_factory.mktemp("replicas"), postgres[0], count=3) as group:
        yield group


def _session_headers(session_id: str) -> dict[str, str]:
    return mcp_headers(WEATHER, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"})


# -- sessions and streams cross replicas ----------------------------------------------------------


class RoundRobin(httpx2.AsyncBaseTransport):
    """A balancer without stickiness: each request of the SDK client goes to the next replica."""

    def __init__(self, ports: list[int]) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self._ports = itertools.cycle(ports)
        self.served: list[tuple[int, str, str]] = []  # (port, HTTP method, JSON-RPC method or "")

    async def handle_async_request(self, request):
        port = next(self._ports)
        request.url = request.url.copy_with(port=port)
        method = ""
        if request.method == "POST":
            method = json.loads(request.content or b"{}").get("method", "")
        self.served.append((port, request.method, method))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_a_handshake_session_opened_on_one_replica_is_served_by_the_others(replicas):
    a, b, c = replicas
    balancer = RoundRobin([a.port, b.port, c.port])

    async def main():
        async with (
            httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {WEATHER}"}, timeout=30) as http,
            Client(streamable_http_client(a.url + "/mcp", http_client=http), mode="legacy") as client,
        ):
            listed = await client.list_tools()
            # Six in a row: wherever the SDK's own GET stream request falls among them, each replica gets one.
            results = [await client.call_tool(CALL_TOOL, {"id": f"sdk-{i}"}) for i in range(6)]
            return client.protocol_version, listed, results

    version, listed, results = anyio.run(main)
    assert version == "2025-11-25"
    assert {tool.name for tool in listed.tools} == {CALL_TOOL, FORECAST}
    assert [r.structured_content["path"] for r in results] == [f"/stations/sdk-{i}" for i in range(6)]
    # The session was opened on one replica and its requests were spread over all three.
    posts = [(port, method) for port, verb, method in balancer.served if verb == "POST"]
    assert posts[0][1] == "initialize"
    assert {port for port, method in posts if method == "tools/call"} == {a.port, b.port, c.port}

    # And by hand: a session initialized on A, then used on B and C.
    opened = requests.post(
        a.url + "/mcp",
        headers=mcp_headers(WEATHER),
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        timeout=15,
    )
    session_id = opened.headers["Mcp-Session-Id"]
    initialized = requests.post(
        b.url + "/mcp",
        headers=_session_headers(session_id),
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        timeout=15,
    )
    assert initialized.status_code == 202
    for replica in (b, c):
        answer = requests.post(
            replica.url + "/mcp",
            headers=_session_headers(session_id),
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": CALL_TOOL, "arguments": {"id": f"by-hand-{replica.name}"}},
            },
            timeout=15,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["structuredContent"]["path"] == f"/stations/by-hand-{replica.name}"
    # Ended on C: over on A too (DELETE waits out the other replicas' session caches before its 204).
    assert requests.delete(c.url + "/mcp", headers=_session_headers(session_id), timeout=15).status_code == 204
    after = requests.post(
        a.url + "/mcp",
        headers=_session_headers(session_id),
        json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"},
        timeout=15,
    )
    assert after.status_code == 404


def test_a_legacy_sse_stream_on_one_replica_receives_answers_to_posts_sent_to_another(replicas):
    a, b, c = replicas
    stream, endpoint = open_legacy(a.url, WEATHER)
    try:
        initialize_legacy(b.url, endpoint, stream, WEATHER)  # the handshake itself crosses replicas
        latencies = []
        for i in range(20):
            target = (b, c)[i % 2]
            message = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": CALL_TOOL, "arguments": {"id": f"sse-{i}"}},
            }
            started = time.monotonic()
            assert post_legacy(target.url, endpoint, message, WEATHER).status_code == 202
            answer = stream.next_json(timeout=15)
            latencies.append(time.monotonic() - started)
            assert answer["id"] == i and answer["result"]["structuredContent"]["path"] == f"/stations/sse-{i}"
        assert stream.pending() == []
    finally:
        stream.close()
    print(f"POST on B/C -> event on A: p50 {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms")


# -- a change made on one replica -------------------------------------------------------------------


def _open_get_stream(replica, session_replica) -> RawStream:
    """GET /mcp on `replica` for a session initialized on `session_replica`."""
    from tests.support.http_gateway import initialize

    session_id = initialize(session_replica.url)
    stream = RawStream(replica.url, "GET", "/mcp", _session_headers(session_id))
    stream.wait_open()
    assert stream.status == 200, stream.status
    wait_for(lambda: stream.comments >= 1, what="the GET stream to open")
    return stream


def _set_enabled(replica, token: str, endpoint_id: str, enabled: bool) -> None:
    response = requests.patch(
        f"{replica.url}/api/v1/endpoints/{endpoint_id}",
        json={"enabled": enabled},
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is enabled


def test_a_change_made_on_one_replica_is_in_effect_on_the_others_and_reaches_their_streams(replicas):
    a, b, c = replicas
    forecast = replicas.catalog.endpoints[FORECAST]
    admin = replicas.admin_token(b)
    # Minted by B, accepted by A: the replicas share JWT_SECRET and the sign-in lives in the database.
    assert requests.get(a.url + "/api/v1/endpoints", headers={"Authorization": f"Bearer {admin}"}, timeout=15).ok
    for replica in (a, c):
        wait_for(lambda r=replica: FORECAST in listed_tools(r.url, WEATHER), what=f"{FORECAST} on {replica.name}")
    get_stream = _open_get_stream(a, c)
    sse_stream, endpoint = open_legacy(a.url, WEATHER)
    try:
        initialize_legacy(a.url, endpoint, sse_stream, WEATHER)
        changed = time.monotonic()
        _set_enabled(b, admin, forecast, False)
        took = {}
        for replica in (a, c):
            wait_for(
                lambda r=replica: all(FORECAST not in listed_tools(r.url, WEATHER) for _ in range(4)),
                timeout=10,
                interval=0.02,
                what=f"{FORECAST} to leave {replica.name}'s tools/list",
            )
            took[replica.name] = time.monotonic() - changed
        refused = stateless_call(requests, a.url, {}, tool=FORECAST).json()
        assert refused["error"]["code"] == -32602 and refused["error"]["data"] == {"reason": "unknown_tool"}, refused
        # A's open streams hear of it: a handshake session's GET stream and a legacy SSE stream.
        assert json.loads(get_stream.next(timeout=10)[1]) == LIST_CHANGED
        assert json.loads(sse_stream.next(timeout=10)[1]) == LIST_CHANGED

        _set_enabled(b, admin, forecast, True)  # and back: the streams hear that too
        assert json.loads(get_stream.next(timeout=10)[1]) == LIST_CHANGED
        assert json.loads(sse_stream.next(timeout=10)[1]) == LIST_CHANGED
        wait_for(lambda: FORECAST in listed_tools(a.url, WEATHER), what=f"{FORECAST} back on A")
    finally:
        get_stream.close()
        sse_stream.close()
    print("disable on B in effect on: " + ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in took.items()))


# -- a replica killed under load ----------------------------------------------------------------------


def test_sigkill_of_one_replica_under_load_leaves_the_others_serving_and_answered_calls_audited(replicas):
    a, b, c = replicas
    victim = c
    with LoadLoop([a, b, c], threads=3, max_calls=1500, seconds=60) as load:
        wait_for(lambda: len(load.answered(victim.name)) >= 15, timeout=30, what="calls answered by the victim")
        kill_began = time.monotonic()
        victim.kill_hard()
        killed_at = time.monotonic()  # every process of the victim is gone
        wait_for(
            lambda: len(load.answered("A", after=killed_at)) >= 30 and len(load.answered("B", after=killed_at)) >= 30,
            timeout=30,
            what="the surviving replicas to keep answering",
        )
    outcomes = load.stop()
    by_replica = {name: [o for o in outcomes if o.replica == name] for name in "ABC"}
    # The survivors answered every call, before and after the kill.
    for name in "AB":
        assert {o.kind for o in by_replica[name]} == {"result"}, [o for o in by_replica[name] if o.kind != "result"]
    # The killed replica: answers until the kill; then clear connection errors, never a hang.
    before = [o for o in by_replica["C"] if o.ended < kill_began]
    after = [o for o in by_replica["C"] if o.started > killed_at]
    assert before and {o.kind for o in before} == {"result"}
    assert after and {o.kind for o in after} == {"connection"}, {o.kind for o in after}
    assert all(o.kind in ("result", "connection") for o in by_replica["C"])  # a call in flight at the kill

    expected = {arguments_digest(o.arguments): o for o in outcomes if o.kind == "result"}

    def audited_on(names: str) -> dict[str, int]:
        counts = replicas.audit_counts()
        return {d: counts.get(d, 0) for d, o in expected.items() if o.replica in names}

    # Every call a survivor answered has exactly one audit row (its writer commits within ~0.2 s).
    wait_for(
        lambda: all(count >= 1 for count in audited_on("AB").values()),
        timeout=20,
        what="the survivors' audit rows",
    )
    assert set(audited_on("AB").values()) == {1}
    # Nothing audited twice: every call of this module carries its own argument.
    assert all(count == 1 for count in replicas.audit_counts().values())

    # The killed replica comes back on its own data directory, and serves again.
    victim.start()
    answer = stateless_call(requests, victim.url, {"id": "after-restart"})
    assert answer.json()["result"]["structuredContent"]["path"] == "/stations/after-restart"
    # Every call the killed replica answered with a result has its audit row too: the records were in its
    # spool (AUDIT_SPOOL_DIR, in its data directory) before the answers left, and the restarted replica
    # replays what the SIGKILL left there.
    try:
        wait_for(
            lambda: all(count >= 1 for count in audited_on("C").values()),
            timeout=15,
            what="the killed replica's audit rows",
        )
    except AssertionError:
        lost = sorted(o.n for d, o in expected.items() if o.replica == "C" and audited_on("C")[d] == 0)
        raise AssertionError(f"answered calls of the SIGKILLed replica without an audit row: {lost}") from None
    assert set(audited_on("C").values()) == {1}


# -- PostgreSQL restarted under load ----------------------------------------------------------------


def test_a_postgresql_restart_under_load_fails_database_calls_clearly_and_recovers_without_restarting_janus(
    replicas, postgres
):
    """Last in the module: it stops the module's PostgreSQL cluster, then starts it again."""
    cluster = postgres[1]
    if cluster is None:
        from tests.support.private_postgres import available

        pytest.skip(f"no private PostgreSQL cluster to restart: {available()}")
    pids = {r.name: r.server.proc.pid for r in replicas}
    admin = replicas.admin_token(replicas[0])
    assert all(served(database_bound_requests(r, admin)) for r in replicas)
    with LoadLoop(replicas.replicas, threads=3, max_calls=3000, seconds=90, pause=0.01, label="pg") as load:
        wait_for(lambda: len(load.answered()) >= 30, timeout=30, what="calls before the restart")
        stopped_at = time.monotonic()
        cluster.stop("fast")
        down = []  # what the database-bound requests got while PostgreSQL was down
        while time.monotonic() < stopped_at + 3:
            for replica in replicas:
                down.extend(database_bound_requests(replica, admin))
            time.sleep(0.2)
        cluster.start()
        back_at = time.monotonic()
        for replica in replicas:
            wait_for(
                lambda r=replica: served(database_bound_requests(r, admin)),
                timeout=60,
                interval=0.1,
                what=f"replica {replica.name} to use the restarted database",
            )
        recovered_at = time.monotonic()
        wait_for(
            lambda: all(len(load.answered(r.name, after=recovered_at)) >= 10 for r in replicas),
            timeout=30,
            what="calls after the restart",
        )
    outcomes = load.stop()
    print(
        f"PostgreSQL down {back_at - stopped_at:.1f} s; database-bound requests served again on every replica "
        f"{(recovered_at - back_at) * 1000:.0f} ms after it was back; tool calls {len(outcomes)}, "
        f"answered {sum(o.kind == 'result' for o in outcomes)}"
    )
    # Janus was never restarted: the same gunicorn masters served throughout.
    assert {r.name: r.server.proc.pid for r in replicas} == pids and all(r.alive for r in replicas)
    # Tool calls are served from each process's cached catalog: the outage cost them nothing.
    assert {o.kind for o in outcomes} == {"result"}, [o for o in outcomes if o.kind != "result"][:5]
    expected = {arguments_digest(o.arguments) for o in outcomes}

    def audited() -> dict[str, int]:
        counts = replicas.audit_counts()
        return {d: counts.get(d, 0) for d in expected}

    # No audit row of an answered call lost (the writer outlasts the outage), none written twice.
    wait_for(lambda: all(audited().values()), timeout=30, what="every answered call's audit row")
    assert set(audited().values()) == {1}
    # While it was down, what needs the database failed clearly and at once: a status, never a hang.
    assert down and all(status != 0 for _, status, _, _ in down), down[:4]
    clear = [a for a in down if (a[1] == 503 and a[2]) or (a[1] == 200 and '"error"' in a[3])]  # or JSON-RPC error
    unclear = [answer for answer in down if answer not in clear]
    assert not unclear, unclear[:4]
