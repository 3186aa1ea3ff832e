"""Vault secrets over the API: names listed, values written and never read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.admin_api.conftest import assert_refused, audit_rows, dumps

URL = "/api/v1/vault/keys"
SECRET = "s3cr3t-value-never-shown"
BAD_KEY = (
    "key must be a non-empty name of at most 512 characters without control characters, "
    "e.g. prod/billing-service/api-key"
)


def test_a_stored_secret_is_listed_by_name_and_its_value_appears_nowhere(app, api, admin):
    response = api.put(f"{URL}/prod/billing-service/api-key", headers=admin, json={"value": SECRET})
    assert (response.status_code, response.json) == (200, {"key": "prod/billing-service/api-key"})
    listed = api.get(URL, headers=admin)
    assert listed.json == {"keys": ["prod/billing-service/api-key"]}
    [row] = audit_rows(app, "vault.set")
    assert (row.actor, row.target_type, row.target_id) == ("root", "vault_key", "prod/billing-service/api-key")
    assert SECRET not in dumps(row.details) and SECRET not in listed.get_data(as_text=True)
    assert SECRET.encode() not in Path(app.config["VAULT_LOCAL_PATH"]).read_bytes()  # encrypted at rest


def test_a_secret_is_deleted_with_204_and_audited_and_an_unknown_one_answers_404(app, api, admin):
    api.put(f"{URL}/k1", headers=admin, json={"value": SECRET})
    assert api.delete(f"{URL}/k1", headers=admin).status_code == 204
    assert [row.target_id for row in audit_rows(app, "vault.delete")] == ["k1"]
    assert api.get(URL, headers=admin).json == {"keys": []}
    assert_refused(app, api, "DELETE", f"{URL}/k1", admin, status=404, message="vault key 'k1' not found")


def test_a_key_keeps_double_slashes_and_a_long_key_is_audited_whole(app, api, admin):
    assert api.put(f"{URL}/a//b", headers=admin, json={"value": SECRET}).json == {"key": "a//b"}
    long_key = "team/" + "k" * 300
    assert api.put(f"{URL}/{long_key}", headers=admin, json={"value": SECRET}).json == {"key": long_key}
    row = audit_rows(app, "vault.set")[-1]
    assert len(row.target_id) == 64 and row.details == {"target_id": long_key}
    assert api.get(URL, headers=admin).json == {"keys": sorted(["a//b", long_key])}


@pytest.mark.parametrize(
    "key, body, message",
    [
        ("k", {}, "value is required"),
        ("k", {"value": ""}, "value must not be empty"),
        ("k", {"value": 42}, "value must be a string"),
        ("k", {"value": SECRET, "ttl": 5}, "unknown field(s): ttl; allowed: value"),
        ("bad%01key", {"value": SECRET}, BAD_KEY),
        ("bad%7Fkey", {"value": SECRET}, BAD_KEY),
        ("%20%20", {"value": SECRET}, BAD_KEY),
        ("k" * 513, {"value": SECRET}, BAD_KEY),
    ],
)
def test_an_invalid_secret_is_refused_with_a_specific_message(app, api, admin, key, body, message):
    assert_refused(app, api, "PUT", f"{URL}/{key}", admin, body, status=400, message=message)
    assert api.get(URL, headers=admin).json == {"keys": []}


def test_a_value_with_an_unpaired_surrogate_is_refused(app, api, admin):
    assert_refused(
        app,
        api,
        "PUT",
        f"{URL}/k",
        admin,
        raw='{"value": "\\ud800"}',
        status=400,
        message="value must be valid Unicode text (no unpaired surrogates)",
    )


def test_a_vault_that_cannot_be_read_answers_502_vault_error(app, api, admin):
    path = Path(app.config["VAULT_LOCAL_PATH"])
    path.write_text("this is not a vault")
    message = f"{path} is not a Janus vault file"
    assert_refused(app, api, "GET", URL, admin, status=502, message=message)
    assert_refused(app, api, "PUT", f"{URL}/k", admin, {"value": SECRET}, status=502, message=message)
    assert_refused(app, api, "DELETE", f"{URL}/k", admin, status=502, message=message)


def test_the_token_hash_key_secret_cannot_be_overwritten_or_deleted_through_janus(app, api, admin):
    """Overwriting or deleting it would stop every later start (another key than the database's) and void
    every client token: it is Janus's own, not an admin's secret."""
    message = (
        "vault key 'janus-token-hash-key' is reserved: it holds the client token hash key; "
        "manage it in the vault itself"
    )
    assert_refused(
        app, api, "PUT", f"{URL}/janus-token-hash-key", admin, {"value": SECRET}, status=400, message=message
    )
    assert_refused(app, api, "DELETE", f"{URL}/janus-token-hash-key", admin, status=400, message=message)
    assert audit_rows(app, "vault.set") == [] and audit_rows(app, "vault.delete") == []
