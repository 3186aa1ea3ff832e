"""A large real description, not written by us: GitHub's REST API (npm @octokit/openapi, ~13 MB of JSON, 1,000+
operations; scripts/install-openapi-fixtures installs it). Uploaded through the admin API: a dry-run of all of it,
then a selection applied, then planned again (all unchanged); the times are printed (`pytest -s`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from janus.schemas.endpoint import check_input_schema
from janus.services.openapi_convert import convert
from janus.services.openapi_documents import bundle_from_texts
from tests.conftest import IN_CI

GITHUB = (
    Path(__file__).resolve().parents[2]
    / "tools/openapi-fixtures/node_modules/@octokit/openapi/generated/api.github.com.json"
)
URL = "/api/v1/import/openapi"


@pytest.fixture(scope="module")
def github_text() -> str:
    if not GITHUB.is_file():
        message = f"{GITHUB} is missing: run scripts/install-openapi-fixtures (scripts/test does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return GITHUB.read_text()


def test_every_converted_github_operation_is_an_endpoint_the_service_accepts(github_text):
    conversion = convert(bundle_from_texts({"api.github.com.json": github_text}), "gh_")
    assert len(conversion.proposals) > 1000
    assert conversion.base_url == "https://api.github.com"
    names = [p.tool_name for p in conversion.proposals]
    assert len(set(names)) == len(names) and max(len("gh_" + n) for n in names) <= 64
    for proposal in conversion.proposals:
        check_input_schema(proposal.input_schema)
    # Every operation is accounted for: a tool or skipped with a reason.
    spec = json.loads(github_text)
    operations = sum(
        1
        for item in spec["paths"].values()
        for m in item
        if m in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    )
    assert len(conversion.proposals) + len(conversion.skipped) == operations
    assert all(s.reason for s in conversion.skipped)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_github_dry_run_of_all_and_apply_of_a_selection_take_seconds(api, admin, github_text):
    started = time.perf_counter()
    plan = api.post(URL, headers=admin, json={"spec": github_text, "prefix": "gh_", "dry_run": True})
    dry_run = time.perf_counter() - started
    assert plan.status_code == 200, plan.json
    assert plan.json["counts"]["added"] > 1000 and plan.json["connection"]["base_url"] == "https://api.github.com"
    started = time.perf_counter()
    applied = api.post(URL, headers=admin, json={"spec": github_text, "prefix": "gh_", "include": ["issues"]})
    apply = time.perf_counter() - started
    assert applied.status_code == 200, applied.json
    count = len(applied.json["applied"])
    assert count > 50
    assert len(api.get("/api/v1/endpoints", headers=admin).json["items"]) == count
    started = time.perf_counter()
    again = api.post(URL, headers=admin, json={"spec": github_text, "prefix": "gh_", "dry_run": True}).json
    assert again["counts"]["unchanged"] == count
    replan = time.perf_counter() - started
    # Reported, not asserted (no timing thresholds in tests): `pytest -s` shows them.
    print(f"github: dry-run of all {dry_run:.2f}s; apply of {count} tools {apply:.2f}s; re-plan {replan:.2f}s")


def test_a_large_import_does_not_stop_the_calls_its_worker_serves(github_text, tmp_path):
    """One gevent worker serves tool calls while it imports GitHub's description: reading, converting, planning
    and applying run in a child process (janus.services.off_process), and the imported tools are live on the
    worker when its answer comes. Before, the whole conversion (seconds of pure CPU) ran on the loop and every
    call waited it out; then in a thread, which still shared the interpreter's lock with the calls."""
    import threading

    import requests

    from tests.support.http_gateway import WEATHER, initialize, mcp_headers, start_http_gateway, stop_http_gateway

    password = "large import test password 42"
    gw = start_http_gateway(
        tmp_path,
        WEB_CONCURRENCY="1",
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=password,
        MAX_REQUEST_BYTES=str(40 * 2**20),
    )
    try:
        session_id = initialize(gw.url)
        headers = mcp_headers(WEATHER, **{"Mcp-Session-Id": session_id, "MCP-Protocol-Version": "2025-11-25"})
        login = requests.post(gw.url + "/api/v1/login", json={"username": "admin", "password": password}, timeout=30)
        admin = {"Authorization": "Bearer " + login.json()["token"]}
        issued = requests.post(
            gw.url + "/api/v1/tokens", headers=admin, json={"name": "github", "scopes": "gh_*"}, timeout=30
        ).json()["token"]
        github = mcp_headers(
            issued, **{"Mcp-Session-Id": initialize(gw.url, issued), "MCP-Protocol-Version": "2025-11-25"}
        )
        calls: list[tuple[float, float]] = []
        failures: list[str] = []
        done = threading.Event()

        def caller() -> None:
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
            call["params"] = {"name": "weather_get_station", "arguments": {"id": "7"}}
            with requests.Session() as http:
                while not done.is_set() and len(calls) < 20_000:  # bounded in count; the import bounds the time
                    started = time.monotonic()
                    reply = http.post(gw.url + "/mcp", headers=headers, json=call, timeout=120)
                    if reply.status_code != 200 or reply.json()["result"]["isError"]:
                        failures.append(reply.text[:200])
                    calls.append((started, time.monotonic()))

        # Encoded before the calls start: 13 MB of JSON written here would hold this process's GIL, and the
        # calling thread with it, and count against the gateway.
        body = json.dumps(
            {"spec": github_text, "prefix": "gh_", "name": "GitHub", "base_url": gw.upstream.url}
        ).encode()
        thread = threading.Thread(target=caller, daemon=True)
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        reply = requests.post(
            gw.url + URL, headers={**admin, "Content-Type": "application/json"}, data=body, timeout=600
        )
        ended = time.monotonic()
        done.set()
        thread.join(120)
        listed = requests.post(
            gw.url + "/mcp", headers=github, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, timeout=60
        ).json()["result"]["tools"]
    finally:
        stop_http_gateway(gw)
    assert reply.status_code == 200, reply.text[:500]
    assert len(reply.json()["applied"]) > 1000
    assert failures == []
    # Written by the child, live on this worker at once (its first page of tools/list has them).
    assert any(t["name"].startswith("gh_") for t in listed), [t["name"] for t in listed][:10]
    took = ended - started
    during = [(s, e) for s, e in calls if started <= s and e <= ended]
    longest = max(e - s for s, e in calls if e >= started and s <= ended)
    print(f"import {took:.2f} s; {len(during)} calls answered meanwhile, the longest {longest * 1000:.0f} ms")
    assert len(during) >= 20, f"{len(during)} calls answered during a {took:.1f} s import"
    assert longest < took / 3, f"a call waited {longest:.2f} s of a {took:.2f} s import"
