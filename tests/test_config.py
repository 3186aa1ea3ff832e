"""Configuration: the reference's variable names and defaults, environment on top, clear errors."""

from __future__ import annotations

import pytest

from janus.config import ConfigError, database_uri, load


def test_defaults_match_the_reference_document():
    cfg = load(environ={})
    assert cfg["PORT"] == 8899
    assert cfg["DATABASE_PATH"] == "./mcp-gateway.db"
    assert cfg["VAULT_PROVIDER"] == "local"
    assert cfg["VAULT_LOCAL_PATH"] == "./secrets.json"
    assert cfg["ADMIN_USERNAME"] == "admin"
    assert cfg["SEED_DEMO_DATA"] is False
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:////") and cfg["SQLALCHEMY_DATABASE_URI"].endswith(
        "/mcp-gateway.db"
    )
    assert cfg["DATABASE_KIND"] == "sqlite"


def test_environment_overrides_defaults_and_test_dicts_override_the_environment():
    cfg = load(
        {"PORT": 9100},
        environ={
            "PORT": "9000",
            "SEED_DEMO_DATA": "true",
            "OIDC_ISSUER": "https://idp.example/",
            "OIDC_CLIENT_ID": "janus",
            "OIDC_ADMIN_GROUPS": "ops, platform ,",
            "OIDC_ONLY": "true",
        },
    )
    assert cfg["PORT"] == 9100
    assert cfg["SEED_DEMO_DATA"] is True
    assert cfg["OIDC_ISSUER"] == "https://idp.example"
    assert cfg["OIDC_ADMIN_GROUPS"] == ["ops", "platform"] and cfg["OIDC_VIEWER_GROUPS"] == []
    assert cfg["OIDC_ONLY"] is True and cfg["OIDC_GROUPS_CLAIM"] == "groups"


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"OIDC_ONLY": "true"}, "OIDC_ONLY=true needs OIDC_ISSUER"),
        ({"OIDC_ISSUER": "http://idp.example"}, "must be an https:// URL"),
        ({"OIDC_ISSUER": "https://idp.example"}, "OIDC_CLIENT_ID is not"),
        ({"OIDC_ISSUER": "https://idp.example", "OIDC_CLIENT_ID": "j"}, "nobody could sign in"),
        (
            {
                "OIDC_ISSUER": "https://idp.example",
                "OIDC_CLIENT_ID": "j",
                "OIDC_VIEWER_GROUPS": "v",
                "OIDC_SCOPES": "email",
            },
            "must include 'openid'",
        ),
    ],
    ids=["only-without-issuer", "plain-http", "no-client", "no-groups", "no-openid-scope"],
)
def test_half_an_sso_configuration_fails_the_start(environ, message):
    with pytest.raises(ConfigError, match=message):
        load(environ=environ)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgres://user:pw@db:5432/mcp?sslmode=disable", "postgresql+psycopg2://user:pw@db:5432/mcp?sslmode=disable"),
        ("postgresql://user@db/mcp", "postgresql+psycopg2://user@db/mcp"),
        ("postgresql+psycopg2://user@db/mcp", "postgresql+psycopg2://user@db/mcp"),
        ("sqlite:////var/lib/janus.db", "sqlite:////var/lib/janus.db"),
    ],
)
def test_database_url_accepts_reference_and_sqlalchemy_forms(url, expected):
    assert database_uri(url, "./ignored.db") == expected
    assert load(environ={"DATABASE_URL": url})["SQLALCHEMY_DATABASE_URI"] == expected


def test_database_url_overrides_database_path():
    cfg = load(environ={"DATABASE_URL": "postgres://u@h/d", "DATABASE_PATH": "/tmp/x.db"})
    assert cfg["DATABASE_KIND"] == "postgresql"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PORT": "eighty"}, "PORT must be a number"),
        ({"SEED_DEMO_DATA": "maybe"}, "SEED_DEMO_DATA must be true or false"),
        ({"DATABASE_URL": "user:secretpw@host/db"}, "DATABASE_URL is not a database URL"),
        ({"TLS_CERT_PATH": "/etc/janus/cert.pem"}, "TLS_CERT_PATH and TLS_KEY_PATH must be set together"),
        ({"CLIENT_CA_PATH": "/etc/janus/ca.pem"}, "CLIENT_CA_PATH .mutual TLS. needs TLS_CERT_PATH"),
        ({"ALLOWED_HOSTS": "janus.example.com/mcp"}, "ALLOWED_HOSTS entry 'janus.example.com/mcp' is not a host name"),
        ({"METRICS_PUBLIC": "sometimes"}, "METRICS_PUBLIC must be true or false"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_setting(env, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        load(environ=env)
    assert "secretpw" not in str(excinfo.value)


def test_an_unset_jwt_secret_is_random_per_start_and_flagged():
    first, second = load(environ={}), load(environ={})
    assert first["JWT_SECRET"] != second["JWT_SECRET"] and len(first["JWT_SECRET"]) >= 32
    assert first["JWT_SECRET_GENERATED"] is True
    assert load(environ={"JWT_SECRET": "s" * 40})["JWT_SECRET_GENERATED"] is False
    # gunicorn's config draws one secret for all workers and marks it: still generated, not the operator's.
    marked = load(environ={"JWT_SECRET": "s" * 40, "JANUS_JWT_SECRET_GENERATED": "1"})
    assert marked["JWT_SECRET_GENERATED"] is True and marked["JWT_SECRET"] == "s" * 40


def test_mcp_gateway_reports_configuration_errors_without_a_traceback(tmp_path):
    import subprocess

    from tests.support.stdio import MCP_GATEWAY, gateway_env

    env = gateway_env(str(tmp_path / "x.db"), PORT="eighty")
    out = subprocess.run([MCP_GATEWAY, "-stdio"], input=b"", capture_output=True, env=env, timeout=30)
    assert out.returncode == 2
    assert out.stderr.decode().strip() == "mcp-gateway: configuration error: PORT must be a number, got 'eighty'"


def test_the_edge_settings_default_to_the_safe_side():
    cfg = load(environ={})
    assert cfg["ALLOWED_HOSTS"] == [] and cfg["ALLOWED_ORIGINS"] == []  # loopback and PUBLIC_URL only
    assert cfg["METRICS_TOKEN"] == "" and cfg["METRICS_PUBLIC"] is False  # /metrics: admins only


def test_allowed_hosts_and_origins_are_lists_in_lower_case():
    cfg = load(
        environ={"ALLOWED_HOSTS": " Janus.Internal , gw.example:8443,*", "ALLOWED_ORIGINS": "https://Portal.Example/"}
    )
    assert cfg["ALLOWED_HOSTS"] == ["janus.internal", "gw.example:8443", "*"]
    assert cfg["ALLOWED_ORIGINS"] == ["https://portal.example"]


# -- issue 10, item 15: weak secrets refuse to start; purpose-bound derived keys ----------------------


@pytest.mark.parametrize(
    "env, message",
    [
        ({"JWT_SECRET": "changeme"}, "JWT_SECRET must be at least 32 bytes, got 8"),
        ({"JWT_SECRET": "x" * 31}, "JWT_SECRET must be at least 32 bytes, got 31"),
        ({"JWT_SECRET": "s" * 40, "ADMIN_PASSWORD": "admin"}, "ADMIN_PASSWORD must be at least 12 characters, got 5"),
        (
            {"JWT_SECRET": "s" * 40, "ADMIN_PASSWORD": "elevenchars"},
            "ADMIN_PASSWORD must be at least 12 characters, got 11",
        ),
        ({"LOGIN_RATE_PER_IP": "-1"}, "LOGIN_RATE_PER_IP must be 0 or more"),
        ({"TRUSTED_PROXY_HOPS": "many"}, "TRUSTED_PROXY_HOPS must be a number"),
    ],
)
def test_weak_secrets_and_bad_sign_in_limits_refuse_to_load_with_a_message(env, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        load(environ=env)
    assert "changeme" not in str(excinfo.value) and "elevenchars" not in str(excinfo.value)


def test_the_shortest_acceptable_secrets_load():
    cfg = load(environ={"JWT_SECRET": "x" * 32, "ADMIN_PASSWORD": "twelve chars"})
    assert cfg["JWT_SECRET"] == "x" * 32 and cfg["ADMIN_PASSWORD"] == "twelve chars"


def test_the_cookie_and_the_admin_tokens_are_signed_with_different_keys_derived_from_jwt_secret():
    from janus.auth import session_jwt
    from janus.config import ADMIN_JWT_KEY_LABEL, FLASK_SESSION_KEY_LABEL, derive_key

    secret = "s" * 40
    cfg = load(environ={"JWT_SECRET": secret})
    jwt_key = derive_key(secret, ADMIN_JWT_KEY_LABEL)
    assert cfg["SECRET_KEY"] == derive_key(secret, FLASK_SESSION_KEY_LABEL)
    assert len({cfg["SECRET_KEY"], jwt_key, secret.encode()}) == 3 and len(jwt_key) == 32
    assert derive_key("t" * 40, ADMIN_JWT_KEY_LABEL) != jwt_key
    # A token signed with the raw JWT_SECRET (or the cookie key) is not a valid token.
    from joserfc import jwt
    from joserfc.jwk import OctKey

    claims = {"sub": "u", "sid": "s", "cv": 1, "iss": "janus", "aud": "janus-admin", "exp": 4_102_444_800}
    for wrong in (secret.encode(), cfg["SECRET_KEY"]):
        forged = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(wrong), algorithms=["HS256"])
        with pytest.raises(session_jwt.InvalidSession):
            session_jwt.verify(secret, forged)
    good, _ = session_jwt.issue(secret, user_id="u", sid="s", credential_version=1, hours=1)
    assert session_jwt.verify(secret, good)["sub"] == "u"


@pytest.mark.parametrize("args", [["-stdio"], []], ids=["stdio", "server"])
@pytest.mark.parametrize(
    "env, message",
    [
        ({"JWT_SECRET": "short-secret"}, "JWT_SECRET must be at least 32 bytes, got 12"),
        ({"ADMIN_PASSWORD": "admin123"}, "ADMIN_PASSWORD must be at least 12 characters, got 8"),
    ],
)
def test_mcp_gateway_refuses_to_start_on_a_weak_secret_with_one_line_and_status_2(tmp_path, args, env, message):
    import subprocess

    from tests.support.stdio import MCP_GATEWAY, gateway_env

    out = subprocess.run(
        [MCP_GATEWAY, *args],
        input=b"",
        capture_output=True,
        timeout=60,
        env=gateway_env(str(tmp_path / "x.db"), PORT="1", **env),
    )
    stderr = out.stderr.decode().strip()
    assert out.returncode == 2
    assert len(stderr.splitlines()) == 1 and stderr.startswith(f"mcp-gateway: configuration error: {message}")
    assert not (tmp_path / "x.db").exists()  # refused before touching anything


def test_egress_allowlist_is_a_list_of_cidrs_and_names_and_a_bad_entry_fails_the_start():
    from janus.config import ConfigError, load

    assert load(environ={})["EGRESS_ALLOWLIST"] == []
    cfg = load(environ={"EGRESS_ALLOWLIST": "10.0.0.0/8, api.example.com ,*.corp.example,::1"})
    assert cfg["EGRESS_ALLOWLIST"] == ["10.0.0.0/8", "api.example.com", "*.corp.example", "::1"]
    for bad in ("10.0.0.0/33", "http://api.example.com", "a b"):
        with pytest.raises(ConfigError, match="EGRESS_ALLOWLIST entry"):
            load(environ={"EGRESS_ALLOWLIST": bad})
