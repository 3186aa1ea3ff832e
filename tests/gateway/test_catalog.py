"""The in-process catalog: scope filtering, deterministic order, and freshness without per-call queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from janus.extensions import db
from janus.gateway.catalog import Catalog, CatalogSnapshot, Principal, TokenRecord, hash_token, scopes_allow
from janus.gateway.specs import ConnectionSpec, ToolSpec
from janus.models import Connection, Endpoint
from janus.runtime import get_runtime
from tests.support.catalog import add_connection, add_endpoint, add_token, update
from tests.support.waiting import wait_for

CONN = ConnectionSpec(id="c", name="C", base_url="http://127.0.0.1:9")
KEY = bytes(range(32))


def _tool(name: str, method: str = "GET") -> ToolSpec:
    return ToolSpec(name=name, endpoint_id=name, description=name, method=method, path_template="/x", connection=CONN)


@pytest.mark.parametrize(
    "scopes, name, allowed",
    [
        (("weather_*",), "weather_get_forecast", True),
        (("weather_*",), "stripe_charge", False),
        (("weather_get_*", "billing_list"), "billing_list", True),
        (("*",), "anything", True),
        ((), "anything", False),
        (None, "anything", True),
        (("Weather_*",), "weather_x", False),  # globs are case-sensitive, like tool names
    ],
)
def test_scope_globs_decide_visibility(scopes, name, allowed):
    assert scopes_allow(scopes, name) is allowed


def test_listing_is_sorted_filtered_and_annotated():
    snapshot = CatalogSnapshot(
        version=1, tools=(_tool("b_two", "DELETE"), _tool("a_one"), _tool("b_one", "PUT")), tokens={}
    )
    listing = snapshot.listing(("b_*",))
    assert [t["name"] for t in listing.tools] == ["b_one", "b_two"]
    assert listing.tools[0]["annotations"]["idempotentHint"] is True
    assert listing.tools[1]["annotations"]["destructiveHint"] is True
    assert snapshot.listing(None).tools[0]["annotations"]["readOnlyHint"] is True
    assert snapshot.listing(("b_*",)) is listing  # cached per scope set


def test_inactive_tokens_see_nothing():
    now = datetime.now(UTC)
    tokens = {
        hash_token("live", KEY): TokenRecord("1", "live", "developer", ("*",)),
        hash_token("off", KEY): TokenRecord("2", "off", "developer", ("*",), enabled=False),
        hash_token("old", KEY): TokenRecord("3", "old", "developer", ("*",), expires_at=now - timedelta(seconds=1)),
    }
    snapshot = CatalogSnapshot(version=1, tools=(_tool("a"),), tokens=tokens)
    assert snapshot.scopes_for(Principal(hash_token("live", KEY))) == ("*",)
    for raw in ("off", "old", "unknown"):
        assert snapshot.scopes_for(Principal(hash_token(raw, KEY))) == ()
    assert snapshot.scopes_for(Principal(None)) is None


def test_catalog_probes_at_most_once_per_interval_and_reloads_only_on_change():
    clock = [0.0]
    version = [1]
    loads, probes = [], []

    def load():
        loads.append(version[0])
        return CatalogSnapshot(version=version[0], tools=(), tokens={})

    def probe():
        probes.append(clock[0])
        return version[0]

    catalog = Catalog(load, probe, refresh_seconds=0.5, clock=lambda: clock[0])
    for _ in range(100):
        catalog.current()
    assert (len(loads), len(probes)) == (1, 0)
    clock[0] = 0.6
    catalog.current()
    assert (len(loads), len(probes)) == (1, 1)
    version[0] = 2
    clock[0] = 0.7
    assert catalog.current().version == 1  # inside the interval: no query at all
    clock[0] = 1.2
    assert catalog.current().version == 2
    assert loads == [1, 2]


def test_a_failed_probe_keeps_serving_the_cached_catalog():
    calls = {"n": 0}

    def probe():
        calls["n"] += 1
        raise OSError("database went away")

    clock = [0.0]
    catalog = Catalog(
        lambda: CatalogSnapshot(version=5, tools=(_tool("a"),), tokens={}), probe, 0.5, clock=lambda: clock[0]
    )
    assert catalog.current().version == 5
    clock[0] = 1.0
    assert catalog.current().version == 5 and calls["n"] == 1


def test_runtime_catalog_reflects_database_changes_on_both_backends(app):
    conn_id = add_connection(app, "Weather", "http://127.0.0.1:9", "weather_")
    ep_id = add_endpoint(app, conn_id, "get_forecast", "/forecast")
    add_endpoint(app, conn_id, "get_alerts", "/alerts")
    add_token(app, "W", "w" * 30, "weather_*")
    catalog = get_runtime(app).catalog
    principal = Principal(catalog.hash_token("w" * 30))

    def names():
        snap = catalog.current()
        return [t["name"] for t in snap.listing(snap.scopes_for(principal)).tools]

    assert names() == ["weather_get_alerts", "weather_get_forecast"]
    update(app, Endpoint, ep_id, enabled=False)
    wait_for(lambda: names() == ["weather_get_alerts"], timeout=5, what="disabled endpoint to vanish")
    update(app, Connection, conn_id, prefix="wx_")
    wait_for(lambda: names() == [], timeout=5, what="renamed prefix to leave the token's scope")


def test_serving_from_the_cache_runs_no_queries(app):
    conn_id = add_connection(app, "Weather", "http://127.0.0.1:9", "weather_")
    add_endpoint(app, conn_id, "get_forecast", "/forecast")
    app.config["CATALOG_REFRESH_SECONDS"] = 60
    app.extensions.pop("janus.runtime", None)
    runtime = get_runtime(app)
    runtime.catalog.current()
    statements = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(200):
            snap = runtime.catalog.current()
            snap.listing(None)
            snap.validator(snap.by_name["weather_get_forecast"])
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert statements == []


# -- names: the admin namespace and duplicates (issue 10, item 10) -------------------------------------------


def _named(name: str, connection: str) -> ToolSpec:
    conn = ConnectionSpec(id=connection, name=connection, base_url="http://127.0.0.1:9")
    return ToolSpec(
        name=name,
        endpoint_id=f"{connection}:{name}",
        description=name,
        method="GET",
        path_template="/x",
        connection=conn,
    )


def test_upstream_tools_in_the_admin_namespace_are_never_listed_and_the_log_names_them(caplog):
    tools = (
        _named("admin_status", "Old"),
        _named("Admin_tokens", "Old"),
        _named("ADMIN_x", "Old"),
        _named("administer", "Ops"),
        _named("lch_get", "LCH"),
    )
    snapshot = CatalogSnapshot(version=1, tools=tools, tokens={})
    assert [t["name"] for t in snapshot.listing(None).tools] == ["administer", "lch_get"]
    assert set(snapshot.by_name) == {"administer", "lch_get"}
    for name in ("admin_status", "Admin_tokens", "ADMIN_x"):
        assert f"tool {name} (connection 'Old') is not served: names starting with 'admin_' are reserved" in caplog.text


def test_one_name_registered_twice_is_listed_once_and_the_first_registered_wins(caplog):
    snapshot = CatalogSnapshot(version=1, tools=(_named("acc_get", "First"), _named("acc_get", "Second")), tokens={})
    assert [t["name"] for t in snapshot.listing(None).tools] == ["acc_get"]
    assert snapshot.by_name["acc_get"].connection.name == "First"
    assert (
        "tool acc_get of connection 'Second' is not served: connection 'First' registered that name first"
        in caplog.text
    )


def _ctx(backend, raw_token: str):
    from janus.mcp.server import RequestContext

    return RequestContext(
        caller=Principal(backend.catalog.hash_token(raw_token), transport="streamable"),
        session=None,
        protocol_version="2025-06-18",
        era="handshake",
        client_info=None,
        request_id=1,
        meta={},
    )


def test_rows_stored_before_the_name_rules_never_shadow_admin_tools_or_list_a_name_twice(app):
    # As a database from before the rules could hold them: an 'admin_' prefix, an empty one, a nested pair.
    legacy = add_connection(app, "Legacy Admin", "http://127.0.0.1:9", "admin_")
    add_endpoint(app, legacy, "status", "/status")
    bare = add_connection(app, "Bare", "http://127.0.0.1:9", "")
    add_endpoint(app, bare, "ADMIN_list_tokens", "/tokens")
    first = add_connection(app, "Accounts", "http://127.0.0.1:9", "acc_")
    add_endpoint(app, first, "ext_get", "/a")
    second = add_connection(app, "Accounts Ext", "http://127.0.0.1:9", "acc_ext_")
    add_endpoint(app, second, "get", "/b")
    add_token(app, "Root", "r" * 30, "*", role="admin")
    backend = get_runtime(app).backend

    names = [t["name"] for t in backend.list_tools(_ctx(backend, "r" * 30)).tools]

    assert len(names) == len(set(names)) and names == sorted(names)
    assert names.count("admin_status") == 1 and "acc_ext_get" in names and "ADMIN_list_tokens" not in names
    assert backend.catalog.current().by_name["acc_ext_get"].connection.name == "Accounts"  # registered first
    status = backend.call_tool(
        _ctx(backend, "r" * 30), "admin_status", {}
    )  # the built-in, not the unreachable upstream
    assert status["isError"] is False and "version" in status["structuredContent"]


def test_the_admin_tool_that_adds_connections_refuses_a_prefix_in_the_admin_namespace(app):
    add_token(app, "Root", "r" * 30, "*", role="admin")
    backend = get_runtime(app).backend
    result = backend.call_tool(
        _ctx(backend, "r" * 30),
        "admin_add_connection",
        {"name": "Ops", "base_url": "http://127.0.0.1:9", "prefix": "admin_ops_"},
    )
    assert result["isError"] is True
    assert result["content"][0]["text"] == (
        "prefix 'admin_ops_' is reserved for Janus's built-in admin tools (no prefix may start with 'admin_')"
    )
    assert [
        t["name"] for t in backend.list_tools(_ctx(backend, "r" * 30)).tools if not t["name"].startswith("admin_")
    ] == []


def test_a_certificate_names_the_token_bound_to_it_only_when_every_binding_of_that_token_holds():
    fp_a, fp_b, fp_c = "a" * 64, "b" * 64, "c" * 64
    tokens = {
        "h-fp": TokenRecord("1", "by fingerprint", "developer", ("*",), cert_fingerprint=fp_a),
        "h-subject": TokenRecord("2", "by subject", "developer", ("*",), cert_subject="CN=agent,O=Example"),
        "h-both": TokenRecord("3", "both", "developer", ("*",), cert_fingerprint=fp_b, cert_subject="CN=both"),
        "h-none": TokenRecord("4", "unbound", "developer", ("*",)),
    }
    snapshot = CatalogSnapshot(version=1, tools=(), tokens=tokens)
    assert snapshot.token_for_certificate(fp_a, "CN=whoever") == "h-fp"
    assert snapshot.token_for_certificate(fp_c, "CN=agent,O=Example") == "h-subject"
    assert snapshot.token_for_certificate(fp_b, "CN=both") == "h-both"
    # Fingerprint right, subject wrong (or the reverse): a token bound by both needs both.
    assert snapshot.token_for_certificate(fp_b, "CN=other") is None
    assert snapshot.token_for_certificate(fp_c, "CN=both") is None
    assert snapshot.token_for_certificate(fp_c, None) is None
    assert tokens["h-none"].certificate_matches(None, None) and not tokens["h-fp"].certificate_matches(None, None)


def test_a_snapshot_changed_in_place_validates_outputs_with_the_new_schema():
    """An incremental change (CatalogSnapshot.changed) carries the compiled output schemas of the tools it
    leaves alone and drops those of the tools it replaces; a snapshot built without them answered every
    call of a tool with an outputSchema with -32603 once a change had been applied."""
    from dataclasses import replace

    from janus.gateway import output_validation

    strict = replace(_tool("t"), output_schema={"type": "object", "required": ["a"]}, output_validation="strict")
    other = replace(_tool("u"), output_schema={"type": "object"}, output_validation="strict")
    before = CatalogSnapshot(version=1, tools=(strict, other), tokens={})
    answer = {"content": [], "structuredContent": {"a": 1}, "isError": False}
    assert output_validation.check(before.output_validators, strict, answer) == (answer, None)
    assert output_validation.check(before.output_validators, other, answer) == (answer, None)

    loose = replace(strict, output_schema={"type": "object", "required": ["b"]})
    after = before.changed(2, added=[(loose, ("", "c", "t"))])
    assert "u" in after.output_validators and "t" not in after.output_validators
    result, note = output_validation.check(after.output_validators, loose, answer)
    assert result["isError"] is True and note and "outputSchema" in note


def _counting_catalog(refresh_seconds: float, clock=None):
    """A catalog over a version the test moves, recording the threads its checks ran on; a check
    waits while `block` is clear, as one does on a locked database."""
    import threading

    state = {"version": 1, "probe_threads": [], "block": threading.Event()}
    state["block"].set()

    def load():
        return CatalogSnapshot(version=state["version"], tools=(_tool(f"t{state['version']}"),), tokens={})

    def probe():
        state["probe_threads"].append(threading.current_thread().name)
        state["block"].wait(10)
        return state["version"]

    return Catalog(load, probe, refresh_seconds=refresh_seconds, **({"clock": clock} if clock else {})), state


def test_with_a_refresher_a_change_arrives_in_the_background():
    catalog, state = _counting_catalog(refresh_seconds=0.05)
    assert catalog.current().version == 1  # the first load is the caller's: nothing to serve before it
    catalog.start_refresher()
    try:
        state["version"] = 2
        wait_for(lambda: catalog.current().version == 2, timeout=5, what="the refresher to apply the change")
        assert "janus-catalog-refresh" in state["probe_threads"]
    finally:
        catalog.stop_refresher()


def test_a_call_never_runs_the_catalogue_check_itself():
    """The defect: the one caller that found the check due ran it inline, so a check waiting on a
    locked database made that tool call wait too (the p99 of calls during a bulk registration)."""
    import threading

    clock = [0.0]
    catalog, state = _counting_catalog(refresh_seconds=30, clock=lambda: clock[0])
    catalog.current()
    catalog.start_refresher()  # asleep for 30 s of real time: only a caller could check now
    try:
        clock[0] = 100.0  # the check is long overdue
        state["block"].clear()  # and any check would hang, as on a locked database
        answered = threading.Event()
        threading.Thread(target=lambda: (catalog.current(), answered.set()), name="a-call", daemon=True).start()
        assert answered.wait(2), "a call waited for the catalogue check"
        assert state["probe_threads"] == []
    finally:
        state["block"].set()
        catalog.stop_refresher()


def test_invalidate_wakes_the_refresher_and_refresh_is_synchronous():
    catalog, state = _counting_catalog(refresh_seconds=60)  # only a wake-up can explain a prompt check
    catalog.current()
    catalog.start_refresher()
    try:
        state["version"] = 2
        catalog.invalidate()
        wait_for(lambda: catalog.current().version == 2, timeout=5, what="the woken refresher")
        state["version"] = 3
        assert catalog.refresh().version == 3  # the admin's own request sees its change at once
        assert catalog.current().version == 3
    finally:
        catalog.stop_refresher()


def test_a_server_worker_takes_a_whole_load_out_of_the_garbage_collectors_view(monkeypatch):
    """A full collection in a worker scanned the whole catalogue (120-150 ms for 10,000 tools, every call of
    the worker stopped); what a whole load builds lives until the next one, so it is frozen (gc.freeze)."""
    import gc
    import threading

    import janus.gateway.catalog as catalog_module

    assert catalog_module._freeze is gc.freeze
    frozen: list[int] = []
    this_thread = threading.current_thread()
    # Counted in this thread only: a refresher of another test's catalog in this process may load meanwhile.
    monkeypatch.setattr(
        catalog_module, "_freeze", lambda: frozen.append(1) if threading.current_thread() is this_thread else None
    )
    plain, _ = _counting_catalog(refresh_seconds=0.0)  # stdio, CLI, tests: the process's objects left alone
    plain.current()
    assert frozen == []
    catalog, state = _counting_catalog(refresh_seconds=60)
    catalog.start_refresher()  # a server worker: started before the first request loads the catalogue
    try:
        catalog.current()  # the first, whole load
        assert frozen == [1]
        catalog.current()
        assert frozen == [1]  # served from the snapshot: nothing loaded, nothing frozen
        state["version"] = 2
        catalog.refresh()  # no change log here: a whole load again
        assert frozen == [1, 1]
    finally:
        catalog.stop_refresher()


def test_without_a_refresher_the_caller_refreshes_on_access():
    catalog, state = _counting_catalog(refresh_seconds=0.0)
    catalog.current()
    state["version"] = 2
    assert catalog.current().version == 2  # stdio, CLI and tests: no background thread
    assert set(state["probe_threads"]) == {"MainThread"}


def test_server_workers_start_a_refresher_for_every_runtime(app, monkeypatch):
    import weakref

    import janus.runtime as runtime_module

    runtime = get_runtime(app)
    assert runtime.catalog._wake is None
    # Only this test's runtimes: the other tests' runtimes in this process keep refreshing on access.
    monkeypatch.setattr(runtime_module, "_ALL", weakref.WeakSet([runtime]))
    try:
        runtime_module.refresh_catalogs_in_background()
        assert runtime.catalog._wake is not None  # a runtime built before the hook ran
        app.extensions.pop("janus.runtime")
        assert get_runtime(app).catalog._wake is not None  # and one built after it
    finally:
        runtime_module._refresh_in_background = False
        get_runtime(app).close()
        runtime.close()


def test_a_miss_checks_again_at_once_but_a_flood_of_misses_costs_one_check_per_interval():
    """With a refresher, a snapshot may be up to CATALOG_REFRESH_SECONDS old: a token issued a moment ago on
    another worker was refused with 401 until this worker's next periodic check (the portal's token test
    met it in CI). A miss looks again at once; repeated misses within MISS_RECHECK_SECONDS share one check."""
    clock = [0.0]
    catalog, state = _counting_catalog(refresh_seconds=30, clock=lambda: clock[0])
    catalog.current()
    catalog.start_refresher()
    try:
        state["version"] = 2  # the change another worker made
        clock[0] = 1.0
        assert catalog.current().version == 1  # the refresher sleeps: calls read what it has
        assert catalog.after_miss().version == 2  # a miss looks again
        checks = len(state["probe_threads"])
        state["version"] = 3
        for _ in range(100):
            assert catalog.after_miss(max_age=0.05).version == 2  # the same instant: no new check
        assert len(state["probe_threads"]) == checks
        clock[0] = 1.1
        assert catalog.after_miss(max_age=0.05).version == 3
    finally:
        catalog.stop_refresher()


def test_a_zero_period_keeps_checking_on_every_access_even_in_a_server_worker():
    """CATALOG_REFRESH_SECONDS=0 means "check on every access": a disabled tool must vanish from the next
    list on every worker. With a refresher the other workers served it for up to a refresher's turn (the
    mcp-cli bulk-disable test met it in CI)."""
    catalog, state = _counting_catalog(refresh_seconds=0)
    catalog.current()
    catalog.start_refresher()
    state["version"] = 2
    assert catalog.current().version == 2
