"""Connections over the API: CRUD, every validation rule, conflicts, and the audit trail."""

from __future__ import annotations

import pytest

from tests.admin_api.conftest import assert_refused, audit_rows, create, snapshot

URL = "/api/v1/connections"
ALLOWED = (
    "auth_secret_ref, auth_type, base_url, breaker_cooldown_seconds, breaker_threshold, description, enabled, "
    "name, prefix, redaction, retries, timeout_seconds"
)
BAD_URL = "base_url must be an absolute http:// or https:// URL with a host, got {!r}"


@pytest.fixture
def billing(api, admin):
    return create(
        api,
        admin,
        URL,
        {
            "name": "Billing",
            "base_url": "https://billing.example.test/v1/",
            "prefix": "billing_",
            "auth_type": "bearer",
            "auth_secret_ref": "prod/billing",
        },
    )


def test_a_created_connection_is_answered_201_with_location_listed_and_read_back(app, api, admin):
    response = api.post(URL, headers=admin, json={"name": "Weather API", "base_url": "https://wx.example.test/"})
    assert response.status_code == 201
    conn = response.json
    assert response.headers["Location"].endswith(f"{URL}/{conn['id']}")
    assert conn | {"id": "", "created_at": "", "updated_at": ""} == {
        "id": "",
        "name": "Weather API",
        "base_url": "https://wx.example.test",
        "prefix": "weather_api_",
        "description": "",
        "auth_type": "none",
        "auth_secret_ref": None,
        "enabled": True,
        "timeout_seconds": 30.0,
        "retries": 0,
        "breaker_threshold": 5,
        "breaker_cooldown_seconds": 30.0,
        "redaction": None,
        "endpoint_count": 0,
        "created_at": "",
        "updated_at": "",
    }
    assert api.get(f"{URL}/{conn['id']}", headers=admin).json == conn
    assert api.get(URL, headers=admin).json["items"] == [conn]


def test_a_patch_changes_only_the_fields_given_and_audits_before_and_after(app, api, admin, billing):
    response = api.patch(f"{URL}/{billing['id']}", headers=admin, json={"description": "Invoices", "enabled": False})
    assert response.status_code == 200
    changed = response.json
    assert changed | {"updated_at": ""} == billing | {"description": "Invoices", "enabled": False, "updated_at": ""}
    [row] = audit_rows(app, "connection.update")
    assert (row.actor, row.target_type, row.target_id) == ("root", "connection", billing["id"])
    assert row.details["before"]["description"] == "" and row.details["before"]["enabled"] is True
    assert row.details["after"]["description"] == "Invoices" and row.details["after"]["enabled"] is False


def test_create_and_delete_are_audited_and_delete_answers_204_then_404(app, api, admin, billing):
    [created] = audit_rows(app, "connection.create")
    assert (created.actor, created.target_id, created.details) == ("root", billing["id"], {"after": billing})
    response = api.delete(f"{URL}/{billing['id']}", headers=admin)
    assert (response.status_code, response.data) == (204, b"")
    [deleted] = audit_rows(app, "connection.delete")
    assert deleted.details == {"before": billing}
    assert api.get(f"{URL}/{billing['id']}", headers=admin).status_code == 404
    assert api.get(URL, headers=admin).json["items"] == []


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_unknown_connection_id_answers_404(app, api, admin, method):
    assert_refused(
        app,
        api,
        method,
        f"{URL}/nope",
        admin,
        {} if method == "PATCH" else None,
        status=404,
        message="connection 'nope' not found",
    )


OK = {"name": "Ledger", "base_url": "https://ledger.example.test"}


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"base_url": "https://x.example.test"}, 400, "name is required"),
        ({**OK, "name": "   "}, 400, "name must not be empty"),
        ({**OK, "name": 5}, 400, "name must be a string"),
        ({**OK, "name": "n" * 201}, 400, "name must be at most 200 characters"),
        ({**OK, "name": "Led\u0000ger"}, 400, "name must not contain NUL characters"),
        ({**OK, "name": "Billing"}, 409, "a connection named 'Billing' already exists"),
        ({"name": "Ledger"}, 400, "base_url is required"),
        ({**OK, "base_url": "/v1/ledger"}, 400, BAD_URL.format("/v1/ledger")),
        ({**OK, "base_url": "ledger.example.test"}, 400, BAD_URL.format("ledger.example.test")),
        ({**OK, "base_url": "ftp://ledger.example.test"}, 400, BAD_URL.format("ftp://ledger.example.test")),
        ({**OK, "base_url": "https://"}, 400, BAD_URL.format("https://")),
        (
            {**OK, "base_url": "https://user:pw@ledger.example.test"},
            400,
            "base_url must not contain credentials; use auth_type and a vault secret reference",
        ),
        (
            {**OK, "base_url": "https://apikey@ledger.example.test"},
            400,
            "base_url must not contain credentials; use auth_type and a vault secret reference",
        ),
        ({**OK, "base_url": "http://[::1"}, 400, "base_url 'http://[::1' is not a valid URL"),
        (
            {**OK, "base_url": "http://ledger.example.test:99999"},
            400,
            "base_url 'http://ledger.example.test:99999' is not a valid URL",
        ),
        (
            {**OK, "base_url": "https://ledger.example.test/?key=1"},
            400,
            "base_url must not contain a query string or fragment",
        ),
        (
            {**OK, "prefix": "Ledger_"},
            400,
            "prefix 'Ledger_' is invalid: use lower-case letters, digits and '_', start "
            "with a letter and end with '_' (e.g. 'billing_')",
        ),
        (
            {**OK, "prefix": "ledger"},
            400,
            "prefix 'ledger' is invalid: use lower-case letters, digits and '_', start "
            "with a letter and end with '_' (e.g. 'billing_')",
        ),
        (
            {**OK, "prefix": "1ledger_"},
            400,
            "prefix '1ledger_' is invalid: use lower-case letters, digits and '_', start "
            "with a letter and end with '_' (e.g. 'billing_')",
        ),
        (
            {**OK, "prefix": "admin_"},
            400,
            "prefix 'admin_' is reserved for Janus's built-in admin tools (no prefix may start with 'admin_')",
        ),
        (
            {**OK, "prefix": "admin_tools_"},
            400,
            "prefix 'admin_tools_' is reserved for Janus's built-in admin tools (no prefix may start with 'admin_')",
        ),
        (
            {"name": "Admin Console", "base_url": OK["base_url"]},
            400,  # the default prefix would be admin_console_
            "prefix 'admin_console_' is reserved for Janus's built-in admin tools (no prefix may start with 'admin_')",
        ),
        (
            {**OK, "prefix": "billing_ext_"},
            409,
            "prefix 'billing_ext_' clashes with connection 'Billing' (prefix 'billing_'): tool names could collide",
        ),
        (
            {**OK, "prefix": "billing_"},
            409,
            "prefix 'billing_' clashes with connection 'Billing' (prefix 'billing_'): tool names could collide",
        ),
        (
            {"name": "Billing Archive", "base_url": OK["base_url"]},
            409,  # the default prefix, billing_archive_, nests too
            "prefix 'billing_archive_' clashes with connection 'Billing' (prefix 'billing_'): tool names could collide",
        ),
        (
            {**OK, "auth_type": "magic"},
            400,
            "auth_type 'magic' is unknown; expected one of none, bearer, basic, custom_headers, oauth2_client_credentials",
        ),
        ({**OK, "auth_type": "basic"}, 400, "auth_type 'basic' needs a vault secret reference (auth_secret_ref)"),
        (
            {**OK, "auth_type": "bearer", "auth_secret_ref": "  "},
            400,
            "auth_type 'bearer' needs a vault secret reference (auth_secret_ref)",
        ),
        ({**OK, "timeout_seconds": 0}, 400, "timeout_seconds must be between 0.1 and 600"),
        ({**OK, "timeout_seconds": 10**400}, 400, "timeout_seconds must be between 0.1 and 600"),
        ({**OK, "timeout_seconds": "30"}, 400, "timeout_seconds must be a number"),
        ({**OK, "timeout_seconds": True}, 400, "timeout_seconds must be a number"),
        ({**OK, "enabled": "yes"}, 400, "enabled must be true or false"),
        ({**OK, "colour": "blue"}, 400, f"unknown field(s): colour; allowed: {ALLOWED}"),
    ],
    ids=lambda v: v if isinstance(v, int) else None,
)
def test_an_invalid_connection_is_refused_with_a_specific_message_and_nothing_stored(
    app, api, admin, billing, body, status, message
):
    assert_refused(app, api, "POST", URL, admin, body, status=status, message=message)


def test_a_prefix_that_an_existing_prefix_starts_with_clashes_too(app, api, admin):
    create(api, admin, URL, {"name": "Accounts Ext", "base_url": "https://acc.example.test", "prefix": "acc_ext_"})
    message = "prefix 'acc_' clashes with connection 'Accounts Ext' (prefix 'acc_ext_'): tool names could collide"
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        {"name": "Accounts", "base_url": "https://acc.example.test", "prefix": "acc_"},
        status=409,
        message=message,
    )
    other = create(api, admin, URL, {"name": "Other", "base_url": "https://o.example.test", "prefix": "other_"})
    assert_refused(app, api, "PATCH", f"{URL}/{other['id']}", admin, {"prefix": "acc_"}, status=409, message=message)


def test_a_name_with_an_unpaired_surrogate_is_refused(app, api, admin):
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        raw='{"name": "x\\ud800", "base_url": "https://x.example.test"}',
        status=400,
        message="name must be valid Unicode text (no unpaired surrogates)",
    )


def test_a_timeout_of_infinity_is_not_a_number(app, api, admin):
    assert_refused(
        app,
        api,
        "POST",
        URL,
        admin,
        raw='{"name": "x", "base_url": "https://x.test", "timeout_seconds": Infinity}',
        status=400,
        message="timeout_seconds must be a number",
    )


@pytest.fixture
def ledger(api, admin, billing):
    return create(api, admin, URL, {"name": "Ledger", "base_url": "https://ledger.example.test", "prefix": "ledger_"})


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"name": "Billing"}, 409, "a connection named 'Billing' already exists"),
        ({"name": None}, 400, "name is required"),
        (
            {"prefix": "billing_x_"},
            409,
            "prefix 'billing_x_' clashes with connection 'Billing' (prefix 'billing_'): tool names could collide",
        ),
        ({"prefix": None}, 400, "prefix is required"),
        ({"base_url": "mailto:x@example.test"}, 400, BAD_URL.format("mailto:x@example.test")),
        ({"auth_type": "bearer"}, 400, "auth_type 'bearer' needs a vault secret reference (auth_secret_ref)"),
        ({"timeout_seconds": -1}, 400, "timeout_seconds must be between 0.1 and 600"),
        ({"timeout_seconds": None}, 400, "timeout_seconds must be a number"),
        ({"enabled": None}, 400, "enabled must be true or false"),
        ({"id": "other"}, 400, f"unknown field(s): id; allowed: {ALLOWED}"),
    ],
)
def test_an_invalid_patch_is_refused_and_the_connection_is_unchanged(app, api, admin, ledger, body, status, message):
    assert_refused(app, api, "PATCH", f"{URL}/{ledger['id']}", admin, body, status=status, message=message)
    assert api.get(f"{URL}/{ledger['id']}", headers=admin).json == ledger


def test_removing_the_secret_reference_of_an_authenticated_connection_is_refused(app, api, admin, billing):
    assert_refused(
        app,
        api,
        "PATCH",
        f"{URL}/{billing['id']}",
        admin,
        {"auth_secret_ref": None},
        status=400,
        message="auth_type 'bearer' needs a vault secret reference (auth_secret_ref)",
    )


def test_null_in_an_optional_create_field_means_its_default(app, api, admin):
    conn = create(
        api,
        admin,
        URL,
        {
            **OK,
            "prefix": None,
            "description": None,
            "auth_type": None,
            "auth_secret_ref": None,
            "enabled": None,
            "timeout_seconds": None,
        },
    )
    assert (conn["prefix"], conn["description"], conn["auth_type"], conn["enabled"], conn["timeout_seconds"]) == (
        "ledger_",
        "",
        "none",
        True,
        30.0,
    )


def test_a_connection_may_keep_its_own_prefix_and_name_when_patched(app, api, admin, billing):
    response = api.patch(f"{URL}/{billing['id']}", headers=admin, json={"name": "Billing", "prefix": "billing_"})
    assert response.status_code == 200


def test_every_refused_field_of_a_body_is_reported_by_name_and_nothing_is_stored(app, api, admin):
    """The schema (janus.schemas.connection) checks every field; the answer names each refusal."""
    before = snapshot(app)
    answer = api.post(
        "/api/v1/connections",
        headers=admin,
        json={"name": "", "base_url": "ftp://x", "timeout_seconds": 0, "auth_type": "kerberos"},
    )
    assert answer.status_code == 400
    assert answer.json == {
        "error": "validation_error",
        "message": "name must not be empty",
        "fields": {
            "name": "name must not be empty",
            "base_url": "base_url must be an absolute http:// or https:// URL with a host, got 'ftp://x'",
            "auth_type": "auth_type 'kerberos' is unknown; expected one of none, bearer, basic, custom_headers, "
            "oauth2_client_credentials",
            "timeout_seconds": "timeout_seconds must be between 0.1 and 600",
        },
    }
    assert snapshot(app) == before
