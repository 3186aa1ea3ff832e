from __future__ import annotations

import base64
import json

import pytest

from janus.gateway.specs import ConnectionSpec
from janus.gateway.upstream_auth import SecretError, auth_headers

SECRET = "Zx9-very-secret-Q7"


def conn(auth_type: str, ref: str | None = "billing/token") -> ConnectionSpec:
    return ConnectionSpec(
        id="c1", name="Billing", base_url="http://127.0.0.1:1", auth_type=auth_type, auth_secret_ref=ref
    )


def store(value: str):
    return lambda ref: {"billing/token": value}[ref]


def test_no_auth_needs_no_secret_and_adds_no_headers():
    def never(ref):
        raise AssertionError("the secret store must not be asked")

    assert auth_headers(conn("none", ref=None), never) == {}


def test_bearer_secret_becomes_an_authorization_header():
    assert auth_headers(conn("bearer"), store(SECRET + "\n")) == {"Authorization": f"Bearer {SECRET}"}


def test_bearer_secret_already_carrying_the_scheme_is_used_as_is():
    assert auth_headers(conn("bearer"), store(f"Bearer {SECRET}")) == {"Authorization": f"Bearer {SECRET}"}


def test_basic_secret_is_user_colon_password_base64_encoded():
    expected = base64.b64encode("alice:pä:ss".encode()).decode()
    assert auth_headers(conn("basic"), store("alice:pä:ss")) == {"Authorization": f"Basic {expected}"}


def test_custom_headers_secret_is_a_json_object_of_headers():
    secret = json.dumps({"X-Api-Key": SECRET, "X-Tenant": "acme"})
    assert auth_headers(conn("custom_headers"), store(secret)) == {"X-Api-Key": SECRET, "X-Tenant": "acme"}


@pytest.mark.parametrize(
    ("auth_type", "stored"),
    [
        ("bearer", ""),
        ("bearer", f"{SECRET}\r\nX-Evil: 1"),
        ("bearer", f"{SECRET}\x00"),
        ("bearer", f"{SECRET}☃"),
        ("basic", f"{SECRET}-without-colon"),
        ("custom_headers", f'{{"X-Key": "{SECRET}"'),
        ("custom_headers", json.dumps([SECRET])),
        ("custom_headers", json.dumps(SECRET)),
        ("custom_headers", json.dumps({"X-Key": [SECRET]})),
        ("custom_headers", json.dumps({"X-Key": 5, "Other": SECRET})),
        ("custom_headers", json.dumps({f"Bad Name {SECRET}": "v"})),
        ("custom_headers", json.dumps({f"X\r\nInjected-{SECRET}": "v"})),
        ("custom_headers", json.dumps({"X-Key": f"{SECRET}\r\nX-Evil: 1"})),
        ("custom_headers", json.dumps({"Host": SECRET})),
    ],
)
def test_malformed_secret_is_rejected_naming_connection_and_ref_but_never_the_value(auth_type, stored):
    with pytest.raises(SecretError) as caught:
        auth_headers(conn(auth_type), store(stored))
    message = str(caught.value)
    assert "'Billing'" in message and "'billing/token'" in message
    assert SECRET not in message and SECRET not in repr(caught.value)
    # Nothing chained that a traceback would print could hold the value either.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_secret_store_failure_becomes_a_secret_error_naming_connection_and_ref():
    def failing(ref):
        raise KeyError(f"{ref} holds {SECRET}")

    with pytest.raises(SecretError) as caught:
        auth_headers(conn("bearer"), failing)
    assert str(caught.value) == "Could not read the secret for connection 'Billing' (secret 'billing/token'): KeyError"


def test_missing_secret_reference_or_store_is_a_secret_error():
    with pytest.raises(SecretError, match="no secret reference"):
        auth_headers(conn("bearer", ref=None), store(SECRET))
    with pytest.raises(SecretError, match="No secret store"):
        auth_headers(conn("bearer"), None)


def test_unknown_auth_type_is_a_secret_error():
    with pytest.raises(SecretError, match="unknown auth type 'kerberos'"):
        auth_headers(conn("kerberos"), store(SECRET))


def test_oauth2_client_credentials_without_a_token_client_is_a_secret_error():
    with pytest.raises(SecretError, match="No OAuth token client is configured for connection 'Billing'"):
        auth_headers(conn("oauth2_client_credentials"), store(SECRET))
