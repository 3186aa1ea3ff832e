"""Security Vault in Debian's chromium against a real gunicorn+gevent gateway (screenshots in test-artifacts/)."""

from __future__ import annotations

import pytest

from janus.vault import create_vault
from tests.support.browser import browser_page, screenshot
from tests.support.portal import portal_gateway, sign_in
from tests.support.server import GatewayServer

PASSWORD = "browser test password 42"
SECRET = "sk_live_browser-vault-value-41d9"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("portal-vault")
    server = portal_gateway(tmp, PASSWORD, workers=2)
    server.secrets_path = tmp / "secrets.json"
    yield server
    server.stop()


def test_an_admin_stores_a_secret_sees_only_its_name_and_deletes_it(gateway):
    base = gateway.url
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD)
        page.get_by_role("link", name="Security Vault").click()
        page.get_by_text("Local encrypted file (AES-256-GCM)").wait_for()
        assert str(gateway.secrets_path) in page.content()

        page.get_by_label("Secret value / API token").fill(SECRET)
        page.get_by_role("button", name="Store secret securely").click()
        error = page.locator("#e-key")
        error.wait_for()
        assert "key must be a non-empty name" in error.inner_text()
        assert page.get_by_label("Secret key reference path").get_attribute("aria-invalid") == "true"
        assert page.get_by_label("Secret value / API token").input_value() == ""  # a refusal never echoes the value
        assert [e for e in browser.console_errors if "422" not in e] == []  # the refused form itself
        browser.console_errors.clear()

        page.get_by_label("Secret key reference path").fill("prod/internal-billing/api-key")
        page.get_by_label("Secret value / API token").fill(SECRET)
        page.get_by_role("button", name="Store secret securely").click()
        page.get_by_role("status").filter(has_text="Secret prod/internal-billing/api-key stored").wait_for()
        row = page.locator("#vault-keys tr", has_text="prod/internal-billing/api-key")
        assert "••••••" in row.inner_text() and SECRET not in page.content()
        assert page.get_by_label("Secret value / API token").input_value() == ""
        screenshot(page, "portal-vault")

        page.once("dialog", lambda confirm: confirm.accept())
        row.get_by_role("link", name="Delete").click()
        page.get_by_role("status").filter(has_text="Secret prod/internal-billing/api-key deleted").wait_for()
        assert row.count() == 0 and "No secrets registered" in page.locator("#vault-keys").inner_text()
        assert browser.console_errors == [] and browser.page_errors == []
    browser.assert_requests_only_to(base)
    assert SECRET not in gateway.log and SECRET.encode() not in gateway.secrets_path.read_bytes()  # encrypted at rest


@pytest.fixture(scope="module")
def read_only_gateway(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("portal-vault-ro")
    # Written before the read-only gateway starts, as an operator managing the store elsewhere would.
    create_vault(
        {
            "VAULT_PROVIDER": "local",
            "VAULT_LOCAL_PATH": str(tmp / "secrets.json"),
            "VAULT_ENCRYPTION_KEY": "",
            "VAULT_READ_ONLY": False,
        }
    ).set("prod/managed-elsewhere", SECRET)
    server = GatewayServer(
        str(tmp / "gateway.db"),
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=PASSWORD,
        VAULT_LOCAL_PATH=str(tmp / "secrets.json"),
        VAULT_READ_ONLY="true",
    ).start()
    yield server
    server.stop()


def test_a_read_only_vault_lists_its_keys_with_every_change_control_disabled(read_only_gateway):
    base = read_only_gateway.url
    with browser_page() as browser:
        page = browser.page
        sign_in(page, base, PASSWORD)
        page.get_by_role("link", name="Security Vault").click()
        row = page.locator("#vault-keys tr", has_text="prod/managed-elsewhere")
        row.wait_for()
        assert "This vault is read-only" in page.locator("#read-only-note").inner_text()
        assert page.get_by_label("Secret key reference path").is_disabled()
        assert page.get_by_label("Secret value / API token").is_disabled()
        assert page.get_by_role("button", name="Store secret securely").is_disabled()
        assert row.get_by_role("button", name="Delete").is_disabled()
        screenshot(page, "portal-vault-read-only")
        csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
        refused = page.request.post(base + "/vault/delete", form={"key": "prod/managed-elsewhere", "csrf_token": csrf})
        assert refused.status == 403 and "VAULT_READ_ONLY=true" in refused.text()
        page.reload()
        row.wait_for()  # still there
        assert browser.console_errors == [] and browser.page_errors == []
