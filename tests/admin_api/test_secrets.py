"""No secret (password, password hash, token value or hash, vault value) leaves through the API or the audit log."""

from __future__ import annotations

from sqlalchemy import select

from janus.extensions import db
from janus.gateway.catalog import token_digest
from janus.models import ClientToken, User
from tests.admin_api.conftest import audit_rows, dumps


def test_no_secret_appears_in_any_response_or_admin_audit_row(app, api, admin):
    password, new_password = "first-long-password", "second-long-password"
    own_value, vault_value = "own-client-token-value-0123456789", "vault-value-9876543210"
    answers = []

    def send(method, url, body=None):
        response = api.open(url, method=method, headers=admin, json=body)
        assert response.status_code < 300, response.json
        answers.append(response.get_data(as_text=True))
        return response.json

    user = send("POST", "/api/v1/users", {"username": "vic", "password": password, "role": "admin"})
    send("PATCH", f"/api/v1/users/{user['id']}", {"password": new_password})
    generated = send("POST", "/api/v1/tokens", {"name": "generated"})["token"]
    own = send("POST", "/api/v1/tokens", {"name": "own", "token": own_value})
    send("PATCH", f"/api/v1/tokens/{own['id']}", {"name": "own, renamed"})
    send("PUT", "/api/v1/vault/keys/prod/key", {"value": vault_value})
    login = api.post("/api/v1/login", json={"username": "vic", "password": new_password})
    failed = api.post("/api/v1/login", json={"username": "vic", "password": password})
    answers += [login.get_data(as_text=True), failed.get_data(as_text=True)]
    for url in (
        "/api/v1/users",
        "/api/v1/tokens",
        "/api/v1/vault/keys",
        "/api/v1/audit/admin",
        "/api/v1/status",
        "/api/v1/verify",
        "/api/v1/audit/tool-calls",
    ):
        answers.append(api.get(url, headers=admin).get_data(as_text=True))
    with app.app_context():
        hashes = [*db.session.scalars(select(User.password_hash)), *db.session.scalars(select(ClientToken.token_hash))]
    assert len(hashes) == 4  # root's and vic's passwords, two tokens
    send("DELETE", f"/api/v1/tokens/{own['id']}")
    send("DELETE", "/api/v1/vault/keys/prod/key")
    send("DELETE", f"/api/v1/users/{user['id']}")

    secrets = [
        password,
        new_password,
        own_value,
        vault_value,
        token_digest(own_value),
        token_digest(generated),
        *hashes,
    ]
    audit = dumps([[row.actor, row.action, row.target_id, row.details] for row in audit_rows(app)])
    token_creations = [a for a in answers if generated in a or own_value in a]
    assert len(token_creations) == 2  # each value once: in the answer that created it
    for secret in secrets:
        assert secret not in audit
        assert not [a for a in answers if secret in a and a not in token_creations]
    assert {
        "user.create",
        "user.update",
        "token.create",
        "token.update",
        "vault.set",
        "login.success",
        "login.failure",
        "token.delete",
        "vault.delete",
        "user.delete",
    } <= {row.action for row in audit_rows(app)}
