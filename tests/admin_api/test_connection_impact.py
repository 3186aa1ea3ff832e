"""The impact preview over the API: POST …/impact and ?dry_run=true on PATCH and DELETE answer what a change
would do to live clients and write nothing; without dry_run both work as before, the audit row with the counts."""

from __future__ import annotations

import pytest

from tests.admin_api.conftest import assert_refused, audit_rows, create, snapshot

URL = "/api/v1/connections"


@pytest.fixture
def billing(api, admin):
    conn = create(
        api, admin, URL, {"name": "Billing", "base_url": "https://billing.example.test", "prefix": "billing_"}
    )
    crm = create(api, admin, URL, {"name": "CRM", "base_url": "https://crm.example.test", "prefix": "crm_"})
    for connection, tool in ((conn, "get_invoice"), (conn, "list_invoices"), (crm, "get_customer")):
        create(
            api,
            admin,
            "/api/v1/endpoints",
            {"connection_id": connection["id"], "tool_name": tool, "path_template": "/x"},
        )
    for name, scopes in (
        ("Invoices bot", ["billing_*"]),
        ("Reader", ["*_get_*"]),
        ("Exact", ["billing_list_invoices"]),
    ):
        create(api, admin, "/api/v1/tokens", {"name": name, "scopes": scopes})
    return conn


def test_the_preview_of_a_new_prefix_lists_renamed_tools_and_cut_off_tokens_and_writes_nothing(
    app, api, admin, billing
):
    before = snapshot(app)
    response = api.post(f"{URL}/{billing['id']}/impact", headers=admin, json={"prefix": "pay_"})
    assert response.status_code == 200, response.json
    impact = response.json
    assert snapshot(app) == before  # not a row, not an audit entry, not a catalogue change
    assert impact["connection"] == {"id": billing["id"], "name": "Billing", "prefix": "billing_", "enabled": True}
    assert impact["changes"] == {"prefix": {"from": "billing_", "to": "pay_"}}
    assert [(r["from"], r["to"], r["live"]) for r in impact["renamed"]] == [
        ("billing_get_invoice", "pay_get_invoice", True),
        ("billing_list_invoices", "pay_list_invoices", True),
    ]
    # "*_get_*" still matches pay_get_invoice: the reader is not affected.
    assert [(t["name"], t["tools_lost"], t["dead_scopes"]) for t in impact["tokens"]] == [
        ("Invoices bot", 2, ["billing_*"]),
        ("Exact", 1, ["billing_list_invoices"]),
    ]
    assert impact["summary"].startswith("Impact: 2 tools renamed (2 served now); 2 of 3 active tokens lose tools")
    # The same question as the change itself: PATCH ?dry_run=true answers the same, and still writes nothing.
    dry = api.patch(f"{URL}/{billing['id']}?dry_run=true", headers=admin, json={"prefix": "pay_"})
    assert (dry.status_code, dry.json) == (200, impact)
    assert snapshot(app) == before


def test_without_dry_run_the_change_is_made_as_before_and_its_audit_row_carries_the_counts(app, api, admin, billing):
    preview = api.patch(f"{URL}/{billing['id']}?dry_run=false", headers=admin, json={"prefix": "pay_"})
    assert preview.status_code == 200 and preview.json["prefix"] == "pay_"  # dry_run=false: the change itself
    [row] = [r for r in audit_rows(app, "connection.update") if r.target_id == billing["id"]]
    assert row.details["impact"]["renamed"] == 2 and row.details["impact"]["tokens_losing_tools"] == 2
    assert row.details["after"]["prefix"] == "pay_"


def test_disable_and_delete_previews_then_the_delete_itself(app, api, admin, billing):
    before = snapshot(app)
    disabled = api.post(f"{URL}/{billing['id']}/impact", headers=admin, json={"action": "disable"}).json
    assert disabled == api.patch(f"{URL}/{billing['id']}?dry_run=true", headers=admin, json={"enabled": False}).json
    assert disabled["hidden"] == ["billing_get_invoice", "billing_list_invoices"]
    assert {t["name"]: t["tools_lost"] for t in disabled["tokens"]} == {"Invoices bot": 2, "Reader": 1, "Exact": 1}
    deleted = api.delete(f"{URL}/{billing['id']}?dry_run=1", headers=admin)
    assert deleted.status_code == 200 and deleted.json["action"] == "delete" and deleted.json["counts"]["removed"] == 2
    assert deleted.json == api.post(f"{URL}/{billing['id']}/impact", headers=admin, json={"action": "delete"}).json
    assert snapshot(app) == before
    assert api.delete(f"{URL}/{billing['id']}", headers=admin).status_code == 204
    [row] = audit_rows(app, "connection.delete")
    assert row.details["impact"] == deleted.json["counts"]


@pytest.mark.parametrize(
    "body, status, message, error",
    [
        ([], 400, "request body must be a JSON object", "bad_request"),
        ({"action": "rename"}, 400, "action must be one of update, disable, delete", None),
        ({"action": ["delete"]}, 400, "action must be one of update, disable, delete", None),
        ({"action": "delete", "prefix": "pay_"}, 400, "a delete preview takes no other fields; got prefix", None),
        ({"action": "disable", "enabled": False}, 400, "a disable preview takes no other fields; got enabled", None),
        (
            {"prefix": "Pay"},
            400,
            "prefix 'Pay' is invalid: use lower-case letters, digits and '_', start with a letter and end with '_' "
            "(e.g. 'billing_')",
            None,
        ),
        (
            {"prefix": "crm_x_"},
            409,
            "prefix 'crm_x_' clashes with connection 'CRM' (prefix 'crm_'): tool names could collide",
            None,
        ),
    ],
    ids=[
        "array",
        "unknown-action",
        "action-not-text",
        "delete-with-fields",
        "disable-with-fields",
        "bad-prefix",
        "clash",
    ],
)
def test_a_bad_preview_is_refused_with_its_reason(app, api, admin, billing, body, status, message, error):
    url = f"{URL}/{billing['id']}/impact"
    assert_refused(app, api, "POST", url, admin, body, status=status, message=message, error=error)


def test_an_unknown_connection_and_a_bad_dry_run_value_are_refused_and_nothing_changes(app, api, admin, billing):
    for method, url in (
        ("POST", f"{URL}/nope/impact"),
        ("PATCH", f"{URL}/nope?dry_run=true"),
        ("DELETE", f"{URL}/nope?dry_run=true"),
    ):
        body = {"action": "delete"} if method == "POST" else ({} if method == "PATCH" else None)
        assert_refused(app, api, method, url, admin, body, status=404, message="connection 'nope' not found")
    for method, body in (("PATCH", {"prefix": "pay_"}), ("DELETE", None)):
        url = f"{URL}/{billing['id']}?dry_run=maybe"  # not a yes/no: refused rather than guessed either way
        assert_refused(app, api, method, url, admin, body, status=400, message="dry_run must be true or false")


def test_a_viewer_may_not_preview_even_as_a_dry_run(app, api, viewer, billing):
    forbidden = "user 'vera' has role 'viewer'; this needs role 'admin'"
    for method, url, body in (
        ("POST", f"{URL}/{billing['id']}/impact", {"action": "delete"}),
        ("PATCH", f"{URL}/{billing['id']}?dry_run=true", {"prefix": "pay_"}),
        ("DELETE", f"{URL}/{billing['id']}?dry_run=true", None),
    ):
        assert_refused(app, api, method, url, viewer, body, status=403, message=forbidden)
