"""Replicas on PostgreSQL (issue 14, item 3): what crossing replicas costs and how failures heal.

Starts REPLICAS real `mcp-gateway` masters (gunicorn, 2 gevent workers each) on their own ports,
sharing one fresh PostgreSQL database and the Secret's keys (tests/support/replicas.py), and measures:

- POST→event: a legacy SSE stream on A, each `POST /messages` sent alternately to A itself (the
  baseline) and to B (the answer crosses replicas over LISTEN/NOTIFY); p50/p95/max.
- change propagation: an endpoint disabled/enabled through B's admin API, until A's open GET /mcp
  stream gets `notifications/tools/list_changed` and until four tools/list in a row on A agree; p50/max.
- SIGKILL of one replica while THREADS clients call tools round-robin on all of them: errors on the
  survivors and on the victim, the survivors' first answer after the kill, the victim's restart time.
- a PostgreSQL restart (`pg_ctl stop -m fast`, PG_DOWN seconds, start) under the same load: tool-call
  errors, what database-bound requests got meanwhile, time until they are served again on every replica.
- audit rows vs calls answered with a result, over the whole run (every call has its own argument).

PostgreSQL is a private cluster started here (tests/support/private_postgres.py; as root it runs as the
`postgres` user), so it can be restarted; `--pg-url` uses an existing server instead and skips the
restart. Every loop is bounded in count and time; only 127.0.0.1 (and a Unix socket) is contacted.

    PYTHONPATH=$PWD .venv/bin/python bench/replicas.py [--replicas 3] [--messages 200] [--changes 10]
        [--load-seconds 8] [--threads 3] [--pg-down 3] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support, run from anywhere

from janus.gateway.tool_backend import arguments_digest
from tests.support.http_gateway import WEATHER, initialize, mcp_headers
from tests.support.http_streams import RawStream, initialize_legacy, listed_tools, open_legacy, post_legacy
from tests.support.replicas import (
    CALL_TOOL,
    LoadLoop,
    Outcome,
    ReplicaSet,
    database_bound_requests,
    fresh_database,
    percentile,
    served,
)

FORECAST = "weather_get_forecast"
rows: list[tuple[str, str]] = []  # (measure, value): the table printed at the end


def note(measure: str, value: str) -> None:
    rows.append((measure, value))
    print(f"  {measure}: {value}", flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def spread(samples: list[float]) -> str:
    return f"p50 {ms(percentile(samples, 0.5))}, p95 {ms(percentile(samples, 0.95))}, max {ms(max(samples))} (n={len(samples)})"


def post_to_event(group: ReplicaSet, messages: int) -> None:
    a, b = group[0], group[1]
    stream, endpoint = open_legacy(a.url, WEATHER)
    same: list[float] = []
    cross: list[float] = []
    try:
        initialize_legacy(a.url, endpoint, stream, WEATHER)
        for i in range(messages):
            target, samples = (a, same) if i % 2 == 0 else (b, cross)  # interleaved: same noise for both
            message = {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": CALL_TOOL, "arguments": {"id": f"bench-sse-{i}"}},
            }
            started = time.perf_counter()
            if post_legacy(target.url, endpoint, message, WEATHER).status_code != 202:
                raise SystemExit("a POST /messages was refused")
            answer = stream.next_json(timeout=15)
            samples.append(time.perf_counter() - started)
            if answer.get("id") != i:
                raise SystemExit(f"answer out of order: {answer}")
    finally:
        stream.close()
    note("POST→event, POST on A (same replica)", spread(same))
    note("POST→event, POST on B (across replicas)", spread(cross))


def change_propagation(group: ReplicaSet, changes: int) -> None:
    a, b = group[0], group[1]
    admin = group.admin_token(b)
    assert group.catalog is not None
    endpoint_id = group.catalog.endpoints[FORECAST]
    session_id = initialize(a.url)
    stream = RawStream(
        a.url,
        "GET",
        "/mcp",
        mcp_headers(WEATHER, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"}),
    )
    notified: list[float] = []
    listed: list[float] = []
    try:
        stream.wait_open()
        deadline = time.monotonic() + 10
        while stream.comments < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(changes):
            enabled = i % 2 == 1  # disable, enable, disable, ...
            started = time.monotonic()
            patched = requests.patch(
                f"{b.url}/api/v1/endpoints/{endpoint_id}",
                json={"enabled": enabled},
                headers={"Authorization": f"Bearer {admin}"},
                timeout=15,
            )
            if patched.status_code != 200:
                raise SystemExit(f"PATCH on B failed: {patched.status_code} {patched.text}")
            event = json.loads(stream.next(timeout=15)[1])
            if event.get("method") != "notifications/tools/list_changed":
                raise SystemExit(f"unexpected event on A's stream: {event}")
            notified.append(time.monotonic() - started)
            agreeing = 0
            while agreeing < 4 and time.monotonic() < started + 15:
                agreeing = agreeing + 1 if (FORECAST in listed_tools(a.url, WEATHER)) is enabled else 0
            if agreeing < 4:
                raise SystemExit("A's tools/list never reflected the change")
            listed.append(time.monotonic() - started)
        if changes % 2 == 1:  # leave it enabled
            requests.patch(
                f"{b.url}/api/v1/endpoints/{endpoint_id}",
                json={"enabled": True},
                headers={"Authorization": f"Bearer {admin}"},
                timeout=15,
            ).close()
    finally:
        stream.close()
    note("change on B → list_changed on A's stream", spread(notified))
    note("change on B → 4 tools/list on A agree", spread(listed))


def describe(outcomes: list[Outcome]) -> str:
    kinds: dict[str, int] = {}
    for o in outcomes:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"


def sigkill(group: ReplicaSet, seconds: float, threads: int) -> list[Outcome]:
    victim = group.replicas[-1]
    survivors = [r.name for r in group.replicas[:-1]]
    with LoadLoop(group.replicas, threads=threads, max_calls=20_000, seconds=seconds, label="kill") as load:
        time.sleep(seconds / 3)
        killed_at = time.monotonic()
        victim.kill_hard()
        time.sleep(seconds / 3)
    outcomes = load.stop()
    after = [o for o in outcomes if o.replica in survivors and o.kind == "result" and o.ended >= killed_at]
    note("SIGKILL: calls", f"{len(outcomes)} on {len(group.replicas)} replicas, {threads} clients round-robin")
    note("SIGKILL: survivors' outcomes", describe([o for o in outcomes if o.replica in survivors]))
    note("SIGKILL: victim's outcomes", describe([o for o in outcomes if o.replica == victim.name]))
    if after:
        note("SIGKILL: first survivor answer after the kill", ms(min(o.ended for o in after) - killed_at))
    started = time.monotonic()
    victim.start()
    note("SIGKILL: victim restarted, healthy after", ms(time.monotonic() - started))
    return outcomes


def pg_restart(group: ReplicaSet, pg, seconds: float, threads: int, down_for: float) -> list[Outcome]:
    admin = group.admin_token(group[0])
    down: list[tuple[str, int, str | None, str]] = []
    with LoadLoop(
        group.replicas, threads=threads, max_calls=20_000, seconds=seconds + down_for + 60, label="pg"
    ) as load:
        time.sleep(seconds / 2)
        stopped_at = time.monotonic()
        pg.stop("fast")
        while time.monotonic() < stopped_at + down_for:
            for replica in group.replicas:
                down.extend(database_bound_requests(replica, admin))
            time.sleep(0.2)
        pg.start()
        back_at = time.monotonic()
        pending = list(group.replicas)
        while pending and time.monotonic() < back_at + 60:
            pending = [r for r in pending if not served(database_bound_requests(r, admin))]
        recovered = time.monotonic() - back_at
        time.sleep(seconds / 2)
    outcomes = load.stop()
    during = [o for o in outcomes if stopped_at <= o.started <= back_at]
    statuses: dict[str, int] = {}
    for _, status, retry_after, _ in down:
        key = f"{status}" + (" + Retry-After" if retry_after else "")
        statuses[key] = statuses.get(key, 0) + 1
    note("PG restart: PostgreSQL down", f"{back_at - stopped_at:.1f} s (pg_ctl stop -m fast … start)")
    note("PG restart: tool calls while down", describe(during))
    note("PG restart: tool calls in all", describe(outcomes))
    note("PG restart: database-bound requests while down", ", ".join(f"{k}: {v}" for k, v in statuses.items()))
    note(
        "PG restart: served again on every replica after",
        ms(recovered) if not pending else f"not within 60 s ({[r.name for r in pending]})",
    )
    return outcomes


def audit_check(group: ReplicaSet, outcomes: list[Outcome], wait: float = 20.0) -> None:
    expected = {arguments_digest(o.arguments) for o in outcomes if o.kind == "result"}
    deadline = time.monotonic() + wait
    while True:
        counts = group.audit_counts()
        missing = sum(1 for d in expected if counts.get(d, 0) == 0)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    twice = sum(1 for d in expected if counts.get(d, 0) > 1)
    note(
        "audit rows vs answered calls",
        f"{len(expected) - missing} of {len(expected)} (missing {missing}, twice {twice})",
    )
    if missing:
        where: dict[str, int] = {}
        for o in outcomes:
            if o.kind == "result" and counts.get(arguments_digest(o.arguments), 0) == 0:
                key = f"{o.label} phase, replica {o.replica}"
                where[key] = where.get(key, 0) + 1
        note("answered calls without an audit row", ", ".join(f"{k}: {v}" for k, v in sorted(where.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=3, help="gateway replicas (2-8, default 3)")
    parser.add_argument("--messages", type=int, default=200, help="legacy SSE POSTs (half to A, half to B)")
    parser.add_argument("--changes", type=int, default=10, help="admin-API changes on B (default 10)")
    parser.add_argument("--load-seconds", type=float, default=8.0, help="each load phase (max 60)")
    parser.add_argument("--threads", type=int, default=3, help="load clients (default 3)")
    parser.add_argument("--pg-down", type=float, default=3.0, help="seconds PostgreSQL stays down (max 30)")
    parser.add_argument("--pg-url", help="an existing server (postgresql://user@host:port/db): no restart phase")
    args = parser.parse_args()
    if not 2 <= args.replicas <= 8:
        parser.error("--replicas must be between 2 and 8")
    load_seconds = min(args.load_seconds, 60.0)
    pg_down = min(args.pg_down, 30.0)

    with ExitStack() as stack:
        pg = None
        if args.pg_url:
            url = stack.enter_context(fresh_database(args.pg_url, prefix="janus_bench_replicas"))
        else:
            from tests.support.private_postgres import PrivatePostgres, available

            reason = available()
            if reason is not None:
                raise SystemExit(f"no private PostgreSQL cluster here ({reason}); use --pg-url")
            pg = stack.enter_context(PrivatePostgres())
            url = pg.create_database("janus_bench")
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="janus-bench-replicas-")))
        group = ReplicaSet(tmp, url, count=args.replicas)
        group.seed()
        started = time.monotonic()
        stack.enter_context(group)
        note("start", f"{args.replicas} replicas × 2 workers healthy in {time.monotonic() - started:.1f} s")
        post_to_event(group, min(args.messages, 2000))
        change_propagation(group, min(args.changes, 100))
        outcomes = sigkill(group, load_seconds, args.threads)
        if pg is not None:
            outcomes += pg_restart(group, pg, load_seconds, args.threads, pg_down)
        audit_check(group, outcomes)

    width = max(len(m) for m, _ in rows)
    print("\n| " + "measure".ljust(width) + " | value |\n|" + "-" * (width + 2) + "|-------|")
    for measure, value in rows:
        print(f"| {measure.ljust(width)} | {value} |")


if __name__ == "__main__":
    main()
