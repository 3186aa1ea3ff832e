"""The impact preview of a connection change (janus.services.connections.impact): what a new prefix, a
disable or a delete does to live clients, matched as the gateway matches scopes, with nothing written."""

from __future__ import annotations

import contextlib
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from janus.extensions import db
from janus.gateway.catalog import TokenRecord, scopes_allow
from janus.models import CATALOG_COUNTER, AdminAuditLog, CatalogChange, ChangeCounter, ClientToken, Connection, Endpoint
from janus.services import connection_impact, connections
from janus.services.errors import Conflict, NotFound, ValidationError
from tests.support.catalog import add_connection, add_endpoint, add_token

TOKENS = {
    # name: (scopes, role)
    "exact": ("billing_get_invoice", "developer"),
    "own glob": ("billing_*", "developer"),
    "both glob": ("*_get_*", "developer"),  # billing_get_invoice and crm_get_customer
    "star": ("*", "developer"),
    "mixed": ("billing_list_invoices,crm_*", "developer"),
    "dormant": ("billing_void_invoice", "developer"),  # a disabled endpoint only: sees nothing today
    "newcomer": ("pay_*", "developer"),
    "other": ("crm_*", "developer"),
}


@pytest.fixture
def catalog(app):
    billing = add_connection(app, "Billing", "http://127.0.0.1:9", "billing_")
    add_endpoint(app, billing, "get_invoice", "/invoices/{{id}}")
    add_endpoint(app, billing, "list_invoices", "/invoices")
    add_endpoint(app, billing, "void_invoice", "/void", method="POST", enabled=False)
    crm = add_connection(app, "CRM", "http://127.0.0.1:9", "crm_")
    add_endpoint(app, crm, "get_customer", "/customers/{{id}}")
    ids = {
        name: add_token(app, name, f"mcp_{i:030d}", scopes, role)
        for i, (name, (scopes, role)) in enumerate(TOKENS.items())
    }
    # Neither is checked: the gateway accepts neither today.
    add_token(app, "switched off", "mcp_off_000000000000000000000000", "billing_*", enabled=False)
    add_token(
        app,
        "expired",
        "mcp_old_000000000000000000000000",
        "billing_*",
        expires_at=datetime.now(UTC) - timedelta(days=1),
    )
    return {"billing": billing, "crm": crm, "tokens": ids}


def _by_name(result):
    return {t["name"]: (t["tools_lost"], t["tools_gained"], t["dead_scopes"]) for t in result["tokens"]}


def _state(app) -> tuple:
    """Everything a preview could write: rows, the change counter and log, the connection and its tools."""
    with app.app_context():
        return (
            db.session.scalar(select(func.count(AdminAuditLog.id))),
            db.session.scalar(select(func.count(CatalogChange.id))),
            db.session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == CATALOG_COUNTER)),
            db.session.execute(select(Connection.prefix, Connection.enabled, Connection.updated_at)).all(),
            db.session.execute(select(Endpoint.tool_name, Endpoint.definition_version, Endpoint.updated_at)).all(),
            db.session.scalar(select(func.count(ClientToken.id))),
        )


def test_a_new_prefix_renames_every_tool_and_names_the_tokens_it_cuts_off(app, catalog):
    before = _state(app)
    with app.app_context():
        result = connections.impact(catalog["billing"], {"prefix": "pay_"})
    assert _state(app) == before  # nothing written, no catalogue change recorded
    assert result["action"] == "update" and result["changes"] == {"prefix": {"from": "billing_", "to": "pay_"}}
    assert result["renamed"] == [
        {"from": "billing_get_invoice", "to": "pay_get_invoice", "live": True},
        {"from": "billing_list_invoices", "to": "pay_list_invoices", "live": True},
        {"from": "billing_void_invoice", "to": "pay_void_invoice", "live": False},
    ]
    assert result["hidden"] == [] and result["shown"] == []
    assert _by_name(result) == {
        "own glob": (2, 0, ["billing_*"]),
        "exact": (1, 0, ["billing_get_invoice"]),
        "mixed": (1, 0, ["billing_list_invoices"]),  # crm_* still matches: only the exact name dies
        "newcomer": (0, 2, []),  # pay_* now matches the two served tools
    }  # "*_get_*" still matches pay_get_invoice, "*" everything: not affected
    assert [t["name"] for t in result["tokens"]] == ["own glob", "exact", "mixed", "newcomer"]  # most lost first
    assert result["counts"] == {
        "tools": 3,
        "live_tools": 2,
        "renamed": 3,
        "renamed_live": 2,
        "hidden": 0,
        "shown": 0,
        "removed": 0,
        "tokens_checked": len(TOKENS),  # the disabled and the expired token are not
        "tokens_affected": 4,
        "tokens_losing_tools": 3,
        "tokens_gaining_tools": 1,
        "dead_scopes": 3,
    }
    assert result["affects_clients"] is True
    assert result["summary"] == (
        "Impact: 3 tools renamed (2 served now); 3 of 8 active tokens lose tools; 1 of 8 active tokens gains tools; "
        "3 token scopes stop matching any tool."
    )


def test_disabling_hides_the_served_tools_and_a_glob_matching_another_connection_stays_alive(app, catalog):
    before = _state(app)
    with app.app_context():
        disabled = connections.impact(catalog["billing"], {"action": "disable"})
        same = connections.impact(catalog["billing"], {"enabled": False})
    assert _state(app) == before
    assert disabled == same
    assert disabled["changes"] == {"enabled": {"from": True, "to": False}} and disabled["renamed"] == []
    assert disabled["hidden"] == ["billing_get_invoice", "billing_list_invoices"]  # void_invoice was hidden already
    assert _by_name(disabled) == {
        "own glob": (2, 0, ["billing_*"]),
        "star": (2, 0, []),  # loses both, but "*" still matches crm_get_customer
        "both glob": (1, 0, []),
        "exact": (1, 0, ["billing_get_invoice"]),
        "mixed": (1, 0, ["billing_list_invoices"]),
    }
    assert disabled["counts"]["hidden"] == 2 and disabled["counts"]["tokens_losing_tools"] == 5


def test_deleting_removes_every_tool_and_enabling_shows_them_again(app, catalog):
    with app.app_context():
        deleted = connections.impact(catalog["billing"], {"action": "delete"})
        assert connections.delete_impact(catalog["billing"]) == deleted
    assert deleted["action"] == "delete" and deleted["changes"] == {}
    assert deleted["counts"]["removed"] == 3 and deleted["hidden"] == ["billing_get_invoice", "billing_list_invoices"]
    assert _by_name(deleted)["star"] == (2, 0, [])
    assert deleted["summary"].startswith("Impact: 3 tools removed (2 served now); 5 of 8 active tokens lose tools")
    with app.app_context():
        connections.update_connection("root", catalog["billing"], {"enabled": False})
        enabled = connections.impact(catalog["billing"], {"enabled": True})
    assert enabled["shown"] == ["billing_get_invoice", "billing_list_invoices"] and enabled["hidden"] == []
    assert _by_name(enabled)["own glob"] == (0, 2, [])


def test_a_change_that_touches_no_tool_affects_nobody(app, catalog):
    with app.app_context():
        result = connections.impact(catalog["billing"], {"description": "new words", "prefix": "billing_"})
    assert result["changes"] == {} and result["tokens"] == [] and result["affects_clients"] is False
    assert result["summary"] == "Impact: no served tool is renamed, hidden or shown, and no active token is affected."


def test_an_admin_tokens_scope_that_matches_the_admin_tools_does_not_die(app):
    only = add_connection(app, "Only", "http://127.0.0.1:9", "only_")
    add_endpoint(app, only, "ping", "/ping")
    add_token(app, "developer star", "mcp_dev_000000000000000000000000", "*")
    add_token(app, "admin star", "mcp_adm_000000000000000000000000", "*", role="admin")
    with app.app_context():
        result = connections.impact(only, {"action": "disable"})
    # "*" matched only_ping; afterwards it matches nothing a developer can see, but still the admin tools.
    assert _by_name(result) == {"admin star": (1, 0, []), "developer star": (1, 0, ["*"])}


def test_the_preview_refuses_what_the_change_would_refuse(app, catalog):
    before = _state(app)
    with app.app_context():
        with pytest.raises(Conflict, match="clashes with connection 'CRM'"):
            connections.impact(catalog["billing"], {"prefix": "crm_x_"})  # names could collide: refused as PATCH is
        with pytest.raises(ValidationError, match="prefix 'Nope' is invalid") as bad:
            connections.impact(catalog["billing"], {"prefix": "Nope"})
        assert bad.value.field == "prefix"
        with pytest.raises(ValidationError, match="prefix is required"):
            connections.impact(catalog["billing"], {"prefix": None})
        with pytest.raises(ValidationError, match="action must be one of update, disable, delete"):
            connections.impact(catalog["billing"], {"action": "rename"})
        with pytest.raises(ValidationError, match="a delete preview takes no other fields; got prefix"):
            connections.impact(catalog["billing"], {"action": "delete", "prefix": "pay_"})
        with pytest.raises(ValidationError, match="unknown"):
            connections.impact(catalog["billing"], {"colour": "blue"})
        with pytest.raises(NotFound, match="connection 'nope' not found"):
            connections.impact("nope", {"action": "delete"})
    assert _state(app) == before


def test_the_confirmed_change_records_its_impact_counts_in_the_audit_row(app, catalog):
    with app.app_context():
        preview = connections.impact(catalog["billing"], {"prefix": "pay_"})
        connections.update_connection("alice", catalog["billing"], {"prefix": "pay_"})
        connections.update_connection("alice", catalog["billing"], {"description": "no tool changes"})
        gone = connections.delete_impact(catalog["billing"])
        connections.delete_connection("alice", catalog["billing"])
        rows = db.session.scalars(
            select(AdminAuditLog).where(AdminAuditLog.target_id == catalog["billing"]).order_by(AdminAuditLog.id)
        ).all()
    by_action = [(r.action, (r.details or {}).get("impact")) for r in rows]
    assert by_action == [
        ("connection.update", preview["counts"]),
        ("connection.update", None),  # a change that renames, hides or shows nothing has no impact
        ("connection.delete", gone["counts"]),
    ]


# -- the matcher and the cost ---------------------------------------------------------------------


GLOBS = [
    "*",
    "",
    "b*",
    "billing_*",
    "billing_get_invoice",
    "billing_?et_*",
    "[b]illing_*",
    "billing_[!l]*",
    "billing_[",
    "*invoice*",
    "*_get_*",
    "crm_*",
    "billing",
    "billing_get_invoice_x",
    "?",
    "billing_*s",
    "*voi*",
    "*_[",
    "?illing*",
    "*[",
    "*g[e]t*",
    "*_get_*_x",
    "billing_*_invoice",
    "*invoices",
]
NAMES = [
    "billing_get_invoice",
    "billing_list_invoices",
    "billing_[",
    "billing_",
    "b",
    "crm_get_customer",
    "billing_get_invoice_x",
    "billing_void_invoice",
]


@pytest.mark.parametrize("glob", GLOBS, ids=[f"glob-{i}" for i in range(len(GLOBS))])
def test_the_narrowed_search_finds_exactly_what_the_gateway_matcher_matches(glob):
    names = connection_impact.Names((name, i) for i, name in enumerate(NAMES))
    expected = {i for i, name in enumerate(NAMES) if scopes_allow((glob,), name)}
    assert set(names.matching(glob)) == expected
    assert names.mask(glob) == sum(1 << i for i in expected)
    assert names.any(glob) is bool(expected)


def _checked_pair_by_pair(tools, before, after, tokens, others, builtins):
    """What compute() should say, by trying every scope of every token on every tool's name."""

    def live(state, scopes):
        if not state.exists or not state.enabled:
            return set()
        return {i for i, t in enumerate(tools) if t.enabled and scopes_allow(scopes, state.prefix + t.tool_name)}

    expected = {}
    for token in tokens:
        had, has = live(before, token.scopes), live(after, token.scopes)
        elsewhere = others + (builtins if token.role == "admin" else [])
        dead = [
            s
            for s in token.scopes
            if live(before, (s,)) and not live(after, (s,)) and not any(scopes_allow((s,), n) for n in elsewhere)
        ]
        if had - has or has - had or dead:
            expected[token.name] = (len(had - has), len(has - had), dead)
    return expected


def test_random_catalogues_agree_with_checking_every_token_against_every_tool():
    rng = random.Random(20260515)  # noqa: S311 - reproducible test data, not secrets
    pool = ["*", "a*", "a_*", "b_a*", "*1", "?_*", "[ab]_*", "x_*", "b_b3", "a_a2", "*_[!a]*", "*a*", "*_b?"]
    for _ in range(200):
        tools = [connection_impact.Tool(f"{rng.choice('ab_')}{i}", rng.random() < 0.8) for i in range(8)]
        others = [f"{rng.choice(['x_', 'a_'])}{rng.choice('ab_')}{i}" for i in range(4)]
        tokens = [
            TokenRecord(str(i), f"t{i}", rng.choice(["developer", "admin"]), tuple(rng.sample(pool, 2)))
            for i in range(10)
        ]
        before = connection_impact.State(rng.choice(["a_", "b_"]), rng.random() < 0.8)
        after = connection_impact.State(rng.choice(["a_", "b_"]), rng.random() < 0.5, exists=rng.random() < 0.8)
        result = connection_impact.compute(tools, before, after, tokens, others.copy, ["admin_status"])
        assert _by_name(result) == _checked_pair_by_pair(tools, before, after, tokens, others, ["admin_status"])


@contextlib.contextmanager
def _counting_queries(engine):
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_a_thousand_tools_and_a_thousand_tokens_take_a_few_queries_and_a_narrowed_search(sqlite_app, monkeypatch):
    app = sqlite_app
    with app.app_context():
        big = Connection(name="Big", base_url="http://127.0.0.1:9", prefix="big_")
        other = Connection(name="Other", base_url="http://127.0.0.1:9", prefix="other_")
        db.session.add_all([big, other])
        db.session.flush()
        db.session.add_all(
            [Endpoint(connection_id=big.id, tool_name=f"tool_{i:04d}", path_template="/t") for i in range(1000)]
            + [Endpoint(connection_id=other.id, tool_name=f"tool_{i:04d}", path_template="/t") for i in range(1000)]
        )
        shapes = [
            lambda i: f"big_tool_{i:04d}",  # exact
            lambda i: f"big_tool_{i % 100:03d}*",  # a glob over ten tools
            lambda i: "big_*",
            lambda i: "*",
            lambda i: f"other_tool_{i:04d},big_tool_{(i * 7) % 1000:04d}",
            lambda i: f"*_tool_{i:04d}",  # matches this and the other connection
            lambda i: f"*tool_{i:04d}*",  # a leading wildcard, a distinct glob per token
        ]
        db.session.add_all(
            [
                ClientToken(name=f"t{i:04d}", token_hash=f"{i:064x}", scopes=shapes[i % len(shapes)](i))
                for i in range(1000)
            ]
        )
        db.session.commit()
        big_id = big.id
    tried = []
    counted = connection_impact.scope_matcher

    def counting(glob):
        matches = counted(glob)
        return lambda name: tried.append(name) or matches(name)

    monkeypatch.setattr(connection_impact, "scope_matcher", counting)
    with app.app_context():
        with _counting_queries(db.engine) as statements:
            started = time.perf_counter()
            renamed = connections.impact(big_id, {"prefix": "huge_"})
            took = time.perf_counter() - started
        assert len(statements) <= 5, statements  # the connection, the prefix check, its tools, tokens, others
        disabled = connections.impact(big_id, {"action": "disable"})
    assert renamed["counts"]["renamed"] == 1000 and renamed["counts"]["tokens_checked"] == 1000
    assert disabled["counts"]["hidden"] == 1000 and disabled["counts"]["tokens_losing_tools"] == 1000
    # Every token loses tools but those with "*" or a "*tool_NNNN…" glob (huge_tool_NNNN still matches).
    assert renamed["counts"]["tokens_losing_tools"] == sum(1 for i in range(1000) if i % 7 not in (3, 5, 6))
    # Each distinct scope tried on the names that could match it, not 1,000 tokens × 1,000 tools × 2 names
    # (and "*" on all of them, once): ~9,000 tries here.
    assert len(tried) < 20_000, len(tried)
    assert took < 3, took  # ~0.15 s on the shared test machine; checking every pair took ~1.8 s
