"""Security Vault page: key names are listed, values go in and never come back out, read-only and outages are clear."""

from __future__ import annotations

import html
import json
import logging
import re

from sqlalchemy import select

from janus.extensions import db
from janus.models import AdminAuditLog
from janus.services import vault_keys
from janus.vault import app_vault
from tests.support.catalog import add_connection

SECRET = "sk_live_portal-secret-value-7f3a9c"
FIELD_ERRORS = re.compile(r'<p class="error" id="e-(\w+)" role="alert">([^<]*)</p>')


def _keys(app) -> list[str]:
    with app.app_context():
        return vault_keys.list_keys()


def test_a_stored_secret_reaches_the_vault_but_no_page_response_log_or_audit_row(admin, caplog):
    bodies = []
    with caplog.at_level(logging.DEBUG):
        reply = admin.post("/vault/secrets", {"key": "prod/billing/api-key", "value": SECRET})
        bodies.append(reply.get_data(as_text=True))
        assert reply.status_code == 303 and reply.headers["Location"] == "/vault"
        page = admin.get("/vault")
        bodies.append(page.get_data(as_text=True))
        bodies.append(
            admin.post("/vault/secrets", {"key": "prod/other", "value": SECRET}, htmx=True).get_data(as_text=True)
        )
        bodies.append(admin.post("/vault/secrets", {"key": "", "value": SECRET}, htmx=True).get_data(as_text=True))
        bodies.append(admin.post("/vault/secrets", {"key": "", "value": SECRET}).get_data(as_text=True))
        bodies.append(admin.get("/vault/delete?key=prod/other").get_data(as_text=True))
    with admin.app.app_context():
        assert app_vault(admin.app).get("prod/billing/api-key") == SECRET
        audit = [
            (r.action, json.dumps(r.details), r.target_id)
            for r in db.session.scalars(
                select(AdminAuditLog).where(AdminAuditLog.target_type == "vault_key").order_by(AdminAuditLog.id)
            )
        ]
    listing = bodies[1]
    assert "prod/billing/api-key" in listing and "••••••" in listing and "Secret prod/billing/api-key stored" in listing
    assert all(SECRET not in body for body in bodies)
    assert [(a, key) for a, _, key in audit] == [("vault.set", "prod/billing/api-key"), ("vault.set", "prod/other")]
    assert all(SECRET not in d for _, d, _ in audit)
    assert SECRET not in caplog.text
    assert 'type="password"' in listing and re.search(r'id="f-value"[^>]*autocomplete="off"', listing)


def test_deleting_a_key_asks_first_and_removes_it_from_the_vault(admin):
    for key in ("prod/a", "prod/b"):
        assert admin.post("/vault/secrets", {"key": key, "value": SECRET}).status_code == 303
    add_connection(admin.app, "Billing", "http://127.0.0.1:9", "billing_", auth_type="bearer", auth_secret_ref="prod/a")
    confirm = admin.get("/vault/delete?key=prod/a").get_data(as_text=True)  # the no-JavaScript confirmation page
    assert "Delete the secret <code>prod/a</code>?" in confirm and "Billing use it" in confirm
    assert "Billing" in admin.get("/vault").get_data(as_text=True)  # the key table says who uses a key
    reply = admin.post("/vault/delete?key=prod/a", htmx=True)
    assert reply.status_code == 200 and reply.headers["HX-Redirect"] == "/vault"
    assert _keys(admin.app) == ["prod/b"]
    assert admin.post("/vault/delete", {"key": "prod/a"}).status_code == 404  # already gone: a page, not a 500
    with admin.app.app_context():
        actions = [r.action for r in db.session.scalars(select(AdminAuditLog).order_by(AdminAuditLog.id))]
    assert actions[-1] == "vault.delete"


def test_a_bad_key_or_empty_value_is_shown_next_to_its_field_with_422(admin):
    cases = [
        ({"key": "", "value": SECRET}, "key", "key must be a non-empty name"),
        ({"key": "bad\x01key", "value": SECRET}, "key", "without control characters"),
        ({"key": "x" * 600, "value": SECRET}, "key", "at most 512 characters"),
        ({"key": "prod/ok", "value": ""}, "value", "value must not be empty"),
    ]
    for form, field, message in cases:
        for htmx in (False, True):
            reply = admin.post("/vault/secrets", form, htmx=htmx)
            page = reply.get_data(as_text=True)
            assert reply.status_code == 422, (form, page)
            shown = {k: html.unescape(v) for k, v in FIELD_ERRORS.findall(page)}
            assert message in shown.get(field, ""), (field, shown)
            assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true"', page, re.S)
            assert ("<html" in page) is not htmx and SECRET not in page
    assert _keys(admin.app) == []


def test_the_page_shows_the_provider_and_its_settings_but_no_key_material(admin):
    admin.app.config["VAULT_ENCRYPTION_KEY"] = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUY="
    page = admin.get("/vault").get_data(as_text=True)
    assert "Local encrypted file" in page and admin.app.config["VAULT_LOCAL_PATH"] in page
    assert "from VAULT_ENCRYPTION_KEY" in page and admin.app.config["VAULT_ENCRYPTION_KEY"] not in page
    admin.app.config.update(
        VAULT_PROVIDER="aws",
        AWS_REGION="eu-west-1",
        AWS_SECRETS_PREFIX="janus/",
        AWS_SECRETS_ENDPOINT_URL="https://user:pa55word@vpce.example/",
    )
    with admin.app.app_context():
        info = vault_keys.provider_info()
    shown = {s["name"]: s["value"] for s in info["settings"]}
    assert (info["name"], shown["AWS_REGION"], shown["AWS_SECRETS_PREFIX"]) == (
        "AWS Secrets Manager",
        "eu-west-1",
        "janus/",
    )
    assert shown["AWS_SECRETS_ENDPOINT_URL"] == "https://…@vpce.example/"  # credentials in a URL are dropped


def test_a_read_only_vault_disables_the_controls_and_the_server_refuses(admin):
    assert admin.post("/vault/secrets", {"key": "prod/kept", "value": SECRET}).status_code == 303
    admin.app.config["VAULT_READ_ONLY"] = True
    page = admin.get("/vault").get_data(as_text=True)
    assert "prod/kept" in page and "read-only" in page
    assert re.search(r"<fieldset[^>]*disabled", page) and re.search(r"<button[^>]*disabled[^>]*>Delete", page)
    assert 'hx-post="/vault/delete' not in page
    for url, form in (
        ("/vault/secrets", {"key": "prod/new", "value": SECRET}),
        ("/vault/delete", {"key": "prod/kept"}),
    ):
        for htmx in (False, True):
            reply = admin.post(url, form, htmx=htmx)
            assert reply.status_code == 403 and "VAULT_READ_ONLY=true" in reply.get_data(as_text=True)
    assert _keys(admin.app) == ["prod/kept"]


def test_a_provider_that_is_down_gives_a_clear_message_not_a_500(admin):
    admin.app.config.update(VAULT_PROVIDER="gcp", GOOGLE_CLOUD_PROJECT="")
    page = admin.get("/vault")
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "The vault provider is not answering" in text
    assert "set GOOGLE_CLOUD_PROJECT" in text and "Google Secret Manager" in text
    reply = admin.post("/vault/secrets", {"key": "prod/x", "value": SECRET}, htmx=True)
    body = reply.get_data(as_text=True)
    assert reply.status_code == 502 and "GOOGLE_CLOUD_PROJECT" in body and SECRET not in body
    assert 'class="error" role="alert"' in body


def test_a_viewer_sees_the_key_names_but_cannot_store_or_delete(viewer, admin):
    assert admin.post("/vault/secrets", {"key": "prod/seen", "value": SECRET}).status_code == 303
    page = viewer.get("/vault").get_data(as_text=True)
    assert "prod/seen" in page and 'id="vault-form"' not in page and "Delete" not in page
    for url, form in (
        ("/vault/secrets", {"key": "prod/new", "value": SECRET}),
        ("/vault/delete", {"key": "prod/seen"}),
    ):
        reply = viewer.post(url, form)
        assert reply.status_code == 403 and "only admins may change" in reply.get_data(as_text=True)
    assert viewer.get("/vault/delete?key=prod/seen").status_code == 403
    assert _keys(viewer.app) == ["prod/seen"]


def test_the_page_shows_the_gateways_security_settings_without_secrets(admin):
    admin.app.config.update(OIDC_ISSUER="https://idp.example/realms/corp", TLS_CERT_PATH="", CLIENT_CA_PATH="")
    html = admin.get("/vault").get_data(as_text=True)
    assert "SSO CONFIGURED" in html and "https://idp.example/realms/corp" in html
    assert "UNENCRYPTED (HTTP)" in html and "MTLS DISABLED" in html
    assert "How to configure vault providers" in html and "AZURE_KEYVAULT_URL=" in html
    assert admin.app.config["JWT_SECRET"] not in html and "OIDC_CLIENT_SECRET=" not in html


def test_the_database_setting_never_shows_a_password(portal_app):
    from janus.services.status import settings_overview

    with portal_app.test_request_context():
        portal_app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg2://janus:s3cret-pw@db.internal:5432/janus"
        shown = {s["label"]: s for s in settings_overview()}
    assert "s3cret-pw" not in repr(shown) and "db.internal:5432/janus" in shown["Database"]["value"]
