"""`mcp-cli connection modify|delete` and the impact preview, against a real gateway: --dry-run prints what
the change would do to live clients and changes nothing; the change itself adds a one-line summary on stderr
and keeps its output (stdout, --json) as before."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import tool_names

BOT = "mcp_cli_impact_invoices_bot_7731"


@pytest.fixture
def billing(admin):
    conn = admin.json("connection", "add", "--name", "Billing", "--url", "http://127.0.0.1:9", "--prefix", "billing_")
    for tool in ("get_invoice", "list_invoices"):
        admin.ok("endpoint", "add", "--conn-id", conn["id"], "--name", tool, "--path", f"/{tool}")
    admin.ok("token", "add", "--name", "Invoices bot", "--token", BOT, "--scopes", "billing_*")
    yield conn
    admin.run("connection", "delete", "--id", conn["id"])
    for token in admin.json("token", "list"):
        admin.run("token", "delete", "--id", token["id"])


def _prefix(admin, conn_id):
    return next(c["prefix"] for c in admin.json("connection", "list") if c["id"] == conn_id)


def test_modify_dry_run_prints_the_impact_and_changes_nothing(gateway, admin, billing):
    shown = admin.ok("connection", "modify", "--id", billing["id"], "--prefix", "pay_", "--dry-run")
    assert shown.stdout.splitlines()[:2] == [
        "Impact: 2 tools renamed (2 served now); 1 of 1 active token loses tools; 1 token scope stops matching any tool.",
        "Prefix: billing_ -> pay_",
    ]
    assert "  billing_get_invoice -> pay_get_invoice" in shown.stdout.splitlines()
    assert "Invoices bot" in shown.stdout and "billing_*" in shown.stdout
    as_json = admin.json("connection", "modify", "--id", billing["id"], "--prefix", "pay_", "--dry-run")
    assert as_json["counts"]["renamed"] == 2 and as_json["tokens"][0]["dead_scopes"] == ["billing_*"]
    assert _prefix(admin, billing["id"]) == "billing_"
    assert tool_names(gateway.url, BOT) == ["billing_get_invoice", "billing_list_invoices"]  # clients unaffected
    # A refused change is refused by the dry run too, with the same message and nothing changed.
    refused = admin.run("connection", "modify", "--id", billing["id"], "--prefix", "Pay", "--dry-run")
    assert refused.returncode != 0 and "prefix 'Pay' is invalid" in refused.stderr and refused.stdout == ""


def test_modify_says_what_it_did_on_stderr_and_keeps_its_output(gateway, admin, billing):
    changed = admin.ok("--json", "connection", "modify", "--id", billing["id"], "--prefix", "pay_")
    assert json.loads(changed.stdout)["prefix"] == "pay_"  # stdout: the connection, as before
    assert changed.stderr.strip() == (
        "Impact: 2 tools renamed (2 served now); 1 of 1 active token loses tools; 1 token scope stops matching any tool."
    )
    assert tool_names(gateway.url, BOT) == []  # what the preview said: billing_* now matches nothing
    plain = admin.ok("connection", "modify", "--id", billing["id"], "--desc", "Invoices")
    assert plain.stdout == "" and plain.stderr.strip() == f"Connection 'Billing' ({billing['id']}) updated."


def test_delete_dry_run_then_delete(gateway, admin, billing):
    shown = admin.ok("connection", "delete", "--id", billing["id"], "--dry-run")
    assert shown.stdout.startswith("Impact: 2 tools removed (2 served now); 1 of 1 active token loses tools;")
    assert "Removed served tools (2):" in shown.stdout
    assert _prefix(admin, billing["id"]) == "billing_"
    gone = admin.ok("connection", "delete", "--id", billing["id"])
    assert gone.stderr.splitlines() == [
        f"Connection {billing['id']} deleted.",
        "Impact: 2 tools removed (2 served now); 1 of 1 active token loses tools; "
        "1 token scope stops matching any tool.",
    ]
    assert all(c["id"] != billing["id"] for c in admin.json("connection", "list"))
    missing = admin.run("connection", "delete", "--id", billing["id"], "--dry-run")
    assert missing.returncode != 0 and "not found" in missing.stderr
