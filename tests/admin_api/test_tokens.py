"""Client tokens over the API: the value is shown once, never listed, never audited."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from janus.extensions import db
from janus.gateway.catalog import hash_token
from janus.models import ClientToken
from janus.schemas.token import FINGERPRINT_HINT
from janus.services.token_key import server_key
from janus.services.tokens import CERTIFICATE_TAKEN as CERT_TAKEN
from tests.admin_api.conftest import assert_refused, audit_rows, create, dumps

BOUND_FINGERPRINT = "0123456789abcdef" * 4
BOUND = {"cert_fingerprint": BOUND_FINGERPRINT, "cert_subject": "CN=bound-agent,O=Example"}

URL = "/api/v1/tokens"
ALLOWED = "cert_fingerprint, cert_subject, enabled, expires_at, name, rate_burst, rate_per_second, role, scopes, token"
FUTURE = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)


def test_a_token_without_a_value_gets_a_generated_mcp_value_shown_once(app, api, admin):
    response = api.post(URL, headers=admin, json={"name": "Claude", "scopes": "weather_*, billing_get_*"})
    assert response.status_code == 201
    body = response.json
    assert re.fullmatch(r"mcp_[A-Za-z0-9_-]{32}", body["token"])
    assert body | {"id": "", "created_at": "", "token": ""} == {
        "id": "",
        "name": "Claude",
        "role": "developer",
        "scopes": ["weather_*", "billing_get_*"],
        "token_hint": body["token"][:6] + "…",
        "enabled": True,
        "expires_at": None,
        "rate_per_second": None,
        "rate_burst": None,
        "last_used_at": None,
        "created_at": "",
        "token": "",
        "cert_fingerprint": None,
        "cert_subject": None,
    }
    listed = api.get(URL, headers=admin)
    assert listed.json["items"] == [{k: v for k, v in body.items() if k != "token"}]
    assert body["token"] not in listed.get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalar(select(ClientToken))
        # Keyed: the plain SHA-256 of the value (what an attacker with the database could test guesses against)
        # is not stored; the server key is not in the database.
        assert stored.token_hash != hashlib.sha256(body["token"].encode()).hexdigest()
        assert stored.token_hash == hash_token(body["token"], server_key(app))
    [row] = audit_rows(app, "token.create")
    text = dumps(row.details)
    assert body["token"] not in text and stored.token_hash not in text
    assert row.details["after"] == {k: v for k, v in body.items() if k != "token"}


def test_a_token_with_its_own_value_role_list_of_scopes_and_expiry(app, api, admin):
    value = "my-own-token-value-of-32-chars!!"
    body = create(
        api,
        admin,
        URL,
        {"name": "CI", "token": value, "role": "admin", "scopes": ["a_*", "b_?"], "expires_at": FUTURE.isoformat()},
    )
    assert body["token"] == value and body["token_hint"] == "my-own…"
    assert (body["role"], body["scopes"]) == ("admin", ["a_*", "b_?"])
    assert datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")) == FUTURE


def test_patch_and_delete_are_audited_and_never_show_the_value(app, api, admin):
    token = create(api, admin, URL, {"name": "Claude"})
    response = api.patch(f"{URL}/{token['id']}", headers=admin, json={"enabled": False, "scopes": "lch_*"})
    assert response.status_code == 200
    assert "token" not in response.json
    assert response.json == {k: v for k, v in token.items() if k != "token"} | {"enabled": False, "scopes": ["lch_*"]}
    [row] = audit_rows(app, "token.update")
    assert row.details["before"]["enabled"] is True and row.details["after"]["enabled"] is False
    assert api.delete(f"{URL}/{token['id']}", headers=admin).status_code == 204
    [row] = audit_rows(app, "token.delete")
    assert row.details["before"]["name"] == "Claude"
    assert token["token"] not in dumps([r.details for r in audit_rows(app)])
    assert api.get(URL, headers=admin).json["items"] == []


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_an_unknown_token_id_answers_404(app, api, admin, method):
    assert_refused(
        app,
        api,
        method,
        f"{URL}/nope",
        admin,
        {} if method == "PATCH" else None,
        status=404,
        message="token 'nope' not found",
    )


EXPIRY_HINT = "e.g. 2027-01-31T00:00:00Z"
CASES = [
    ({}, 400, "name is required"),
    (
        {"name": "x", "token": "short-token-23-chars-xx"},
        400,
        "a token value must be at least 24 characters (leave it out to have a secure one generated)",
    ),
    (
        {"name": "x", "token": "a token value with spaces in it"},
        400,
        "a token value must be visible ASCII characters without spaces",
    ),
    (
        {"name": "x", "token": "tøken-value-with-non-ascii-chars"},
        400,
        "a token value must be visible ASCII characters without spaces",
    ),
    ({"name": "x", "token": "existing-token-value-0123456789"}, 409, "this token value is already registered"),
    ({"name": "x", "role": "root"}, 400, "role 'root' is unknown; expected one of admin, developer"),
    ({"name": "x", "role": "viewer"}, 400, "role 'viewer' is unknown; expected one of admin, developer"),
    (
        {"name": "x", "scopes": "weather_*,bad scope"},
        400,
        "scope 'bad scope' is not a valid glob: use tool-name characters with * ? [ ]",
    ),
    (
        {"name": "x", "scopes": ["ok_*", "no/slash"]},
        400,
        "scope 'no/slash' is not a valid glob: use tool-name characters with * ? [ ]",
    ),
    (
        {"name": "x", "scopes": "weather_[abc"},
        400,
        "scope 'weather_[abc' has a '[' without a closing ']' or an empty set '[]'",
    ),
    (
        {"name": "x", "scopes": "weather_[]"},
        400,
        "scope 'weather_[]' has a '[' without a closing ']' or an empty set '[]'",
    ),
    ({"name": "x", "scopes": ",".join(f"tool_{i}_*" for i in range(101))}, 400, "at most 100 scopes; use wider globs"),
    ({"name": "x", "scopes": "a" * 129}, 400, "a scope is at most 128 characters"),
    ({"name": "x", "scopes": 5}, 400, "scopes must be comma-separated globs, e.g. 'weather_*,billing_get_*'"),
    ({"name": "x", "scopes": ["a", 1]}, 400, "scopes must be comma-separated globs, e.g. 'weather_*,billing_get_*'"),
    ({"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, 400, "expires_at must be in the future"),
    (
        {"name": "x", "expires_at": (datetime.now(UTC) - timedelta(seconds=5)).isoformat()},
        400,
        "expires_at must be in the future",
    ),
    (
        {"name": "x", "expires_at": "tomorrow"},
        400,
        f"expires_at 'tomorrow' is not an ISO 8601 date-time, {EXPIRY_HINT}",
    ),
    ({"name": "x", "expires_at": 1893456000}, 400, f"expires_at must be an ISO 8601 date-time, {EXPIRY_HINT}"),
    (
        {"name": "x", "expires_at": "9999-12-31T23:59:59-05:00"},
        400,
        "expires_at '9999-12-31T23:59:59-05:00' is out of range",
    ),
    ({"name": "x", "enabled": 1}, 400, "enabled must be true or false"),
    ({"name": "x", "hash": "h"}, 400, f"unknown field(s): hash; allowed: {ALLOWED}"),
    ({"name": "x", "cert_fingerprint": "ab" * 31}, 400, FINGERPRINT_HINT),
    ({"name": "x", "cert_fingerprint": "zz" * 32}, 400, FINGERPRINT_HINT),
    ({"name": "x", "cert_fingerprint": BOUND_FINGERPRINT.upper()}, 409, CERT_TAKEN + " fingerprint"),
    ({"name": "x", "cert_subject": "CN = bound-agent, O = Example"}, 409, CERT_TAKEN + " subject"),
    (
        {"name": "x", "cert_subject": "billing agent"},
        400,
        "cert_subject 'billing agent' is not a distinguished name; write it as RFC 4514 does, e.g. "
        "'CN=billing-agent,O=Example Corp' (openssl x509 -noout -subject -nameopt RFC2253 -in client.pem)",
    ),
]


@pytest.mark.parametrize("body, status, message", CASES, ids=lambda v: v if isinstance(v, int) else None)
def test_an_invalid_token_is_refused_with_a_specific_message_and_nothing_stored(app, api, admin, body, status, message):
    create(api, admin, URL, {"name": "existing", "token": "existing-token-value-0123456789", **BOUND})
    assert_refused(app, api, "POST", URL, admin, body, status=status, message=message)


@pytest.mark.parametrize(
    "body, status, message",
    [(b, s, m) for b, s, m in CASES if "token" not in b and "hash" not in b and b]
    + [
        (
            {"token": "new-value-for-an-old-token-xyz"},
            400,
            "unknown field(s): token; allowed: cert_fingerprint, cert_subject, enabled, expires_at, name, "
            "rate_burst, rate_per_second, role, scopes",
        ),
        ({"name": ""}, 400, "name must not be empty"),
    ],
    ids=lambda v: v if isinstance(v, int) else None,
)
def test_an_invalid_patch_is_refused_and_the_token_is_unchanged(app, api, admin, body, status, message):
    create(api, admin, URL, {"name": "bound", **BOUND})
    token = create(api, admin, URL, {"name": "existing"})
    change = {k: v for k, v in body.items() if k != "name"} or body
    assert_refused(app, api, "PATCH", f"{URL}/{token['id']}", admin, change, status=status, message=message)


def test_repeated_scopes_are_stored_once(app, api, admin):
    created = create(api, admin, URL, {"name": "dupes", "scopes": "a_*," * 20000 + "b_[xy]_*"})
    assert created["scopes"] == ["a_*", "b_[xy]_*"]


def test_a_token_is_bound_to_a_certificate_in_canonical_form_and_unbound_with_null(app, api, admin):
    """Fingerprints as openssl prints them and subjects as people type them are stored as the gateway
    computes them from a presented certificate (janus.transports.client_cert)."""
    fingerprint = ":".join(["3A"] * 32)
    body = create(
        api,
        admin,
        URL,
        {
            "name": "agent",
            "cert_fingerprint": "SHA256:" + fingerprint,
            "cert_subject": " CN = agent , O = Example Corp",
        },
    )
    assert body["cert_fingerprint"] == "3a" * 32
    assert body["cert_subject"] == "CN=agent,O=Example Corp"
    changed = api.patch(f"{URL}/{body['id']}", headers=admin, json={"cert_fingerprint": None, "cert_subject": ""})
    assert changed.status_code == 200, changed.json
    assert changed.json["cert_fingerprint"] is None and changed.json["cert_subject"] is None
    # Its own binding is no conflict with itself.
    again = api.patch(f"{URL}/{body['id']}", headers=admin, json={"cert_fingerprint": "3a" * 32})
    assert (
        again.status_code == 200
        and api.patch(f"{URL}/{body['id']}", headers=admin, json={"cert_fingerprint": "3a" * 32}).status_code == 200
    )
