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
        ({"MTLS_MODE": "optional"}, "MTLS_MODE needs CLIENT_CA_PATH"),
        ({"ALLOWED_HOSTS": "janus.example.com/mcp"}, "ALLOWED_HOSTS entry 'janus.example.com/mcp' is not a host name"),
        ({"METRICS_PUBLIC": "sometimes"}, "METRICS_PUBLIC must be true or false"),
    ],
)
def test_bad_values_fail_with_a_message_naming_the_setting(env, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        load(environ=env)
    assert "secretpw" not in str(excinfo.value)


def test_tls_settings_build_a_tls_1_2_plus_context_and_mtls_mode_defaults_to_required(tmp_path):
    import ssl

    from janus.config import server_tls_context
    from tests.support.certificates import Authority

    ca = Authority(tmp_path, "clients")
    server = ca.server()
    tls = {"TLS_CERT_PATH": str(server.cert), "TLS_KEY_PATH": str(server.key)}
    assert load(environ=tls)["MTLS_MODE"] == ""
    context = server_tls_context(load(environ=tls))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2 and context.verify_mode == ssl.CERT_NONE
    mutual = {**tls, "CLIENT_CA_PATH": str(ca.cert)}
    assert load(environ=mutual)["MTLS_MODE"] == "required"
    assert server_tls_context(load(environ=mutual)).verify_mode == ssl.CERT_REQUIRED
    optional = load(environ={**mutual, "MTLS_MODE": "Optional"})
    assert optional["MTLS_MODE"] == "optional" and server_tls_context(optional).verify_mode == ssl.CERT_OPTIONAL
    with pytest.raises(ConfigError, match="MTLS_MODE must be required or optional, got 'off'"):
        load(environ={**mutual, "MTLS_MODE": "off"})


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


def test_the_oauth_resource_server_settings_are_parsed_once_at_load():
    cfg = load(
        environ={
            "OAUTH_ISSUERS": "https://login.example.com/realms/acme, http://127.0.0.1:9000",
            "PUBLIC_URL": "https://janus.example.com",
            "OAUTH_GROUP_SCOPE_MAP": "payments-team=accounts_*;weather-team=weather_*, forecast_*;",
            "OAUTH_ADMIN_GROUPS": "ops, platform",
            "OAUTH_SCOPES_SUPPORTED": "weather_* accounts_*",
            "OAUTH_JWKS_MIN_REFETCH_SECONDS": "5",
        }
    )
    assert cfg["OAUTH_ISSUERS"] == ["https://login.example.com/realms/acme", "http://127.0.0.1:9000"]
    assert cfg["OAUTH_GROUP_SCOPE_MAP"] == {
        "payments-team": ["accounts_*"],
        "weather-team": ["weather_*", "forecast_*"],
    }
    assert cfg["OAUTH_ADMIN_GROUPS"] == ["ops", "platform"]
    assert cfg["OAUTH_SCOPES_SUPPORTED"] == ["weather_*", "accounts_*"]
    assert cfg["OAUTH_SCOPES_CLAIM"] == "scope" and cfg["OAUTH_GROUPS_CLAIM"] == "groups"
    assert cfg["OAUTH_JWKS_MIN_REFETCH_SECONDS"] == 5.0
    assert load(environ={})["OAUTH_ISSUERS"] == []  # the default: client tokens only


@pytest.mark.parametrize(
    "env, message",
    [
        ({"OAUTH_GROUP_SCOPE_MAP": "payments-team:accounts_*"}, "OAUTH_GROUP_SCOPE_MAP entry 'payments-team:accounts_"),
        ({"OAUTH_GROUP_SCOPE_MAP": "payments-team="}, "is not 'group=glob"),
        ({"OAUTH_GROUP_SCOPE_MAP": "=accounts_*"}, "is not 'group=glob"),
        ({"OAUTH_GROUP_SCOPE_MAP": "a=x_*;a=y_*"}, "names group 'a' twice"),
        ({"OAUTH_ISSUERS": "https://login.example.com"}, "OAUTH_ISSUERS needs PUBLIC_URL"),
        ({"OAUTH_ISSUERS": "http://login.example.com", "PUBLIC_URL": "https://j.example"}, "not an issuer identifier"),
        ({"OAUTH_ISSUERS": "https://l.example/?tenant=1", "PUBLIC_URL": "https://j.example"}, "not an issuer"),
        ({"OAUTH_ISSUERS": "login.example.com", "PUBLIC_URL": "https://j.example"}, "not an issuer identifier"),
        ({"OAUTH_JWKS_CACHE_SECONDS": "-1"}, "OAUTH_JWKS_CACHE_SECONDS must be 0 or more"),
    ],
)
def test_bad_oauth_settings_refuse_to_load_with_a_message(env, message):
    with pytest.raises(ConfigError, match=message.replace("*", r"\*").replace("?", r"\?")):
        load(environ=env)


def test_mcp_gateway_refuses_to_start_on_a_malformed_group_scope_map(tmp_path):
    import subprocess

    from tests.support.stdio import MCP_GATEWAY, gateway_env

    out = subprocess.run(
        [MCP_GATEWAY, "-stdio"],
        input=b"",
        capture_output=True,
        timeout=60,
        env=gateway_env(str(tmp_path / "x.db"), OAUTH_GROUP_SCOPE_MAP="payments-team accounts_*"),
    )
    assert out.returncode == 2
    assert "configuration error: OAUTH_GROUP_SCOPE_MAP entry 'payments-team accounts_*'" in out.stderr.decode()


def test_rate_limits_default_to_the_issue_13_values():
    cfg = load({}, environ={})
    assert (cfg["RATE_LIMIT_PER_IP"], cfg["RATE_LIMIT_BURST_PER_IP"]) == (300, 600)
    assert (cfg["MCP_RATE_PER_CLIENT"], cfg["MCP_BURST_PER_CLIENT"]) == (50, 100)
    assert cfg["MCP_MAX_CONCURRENT_CALLS"] == 200 and cfg["REDIS_URL"] == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MCP_RATE_PER_CLIENT": "fast"}, "MCP_RATE_PER_CLIENT must be a number"),
        ({"RATE_LIMIT_PER_IP": "-1"}, "RATE_LIMIT_PER_IP must be a whole number, 0 or more"),
        ({"MCP_MAX_CONCURRENT_CALLS": "-5"}, "MCP_MAX_CONCURRENT_CALLS must be a whole number"),
        ({"MCP_RATE_PER_CLIENT": "50", "MCP_BURST_PER_CLIENT": "10"}, "MCP_BURST_PER_CLIENT (10) must be at least"),
        ({"REDIS_URL": "http://user:secret@cache:6379"}, "REDIS_URL must start with redis://"),
    ],
)
def test_malformed_rate_limits_refuse_to_start(env, message):
    with pytest.raises(ConfigError) as refused:
        load({}, environ=env)
    assert message in str(refused.value)
    assert "secret" not in str(refused.value)  # a URL's password is never echoed


def test_a_redis_that_fails_at_call_time_degrades_to_per_process_counts():
    """A real closed port on 127.0.0.1: every hit fails in Redis, the process's own window still limits."""
    import socket

    from janus.transports.rate_limits import STORE_ERRORS, RateLimits

    with socket.socket() as sock:  # bound, never listening: connections are refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        cfg = load({"REDIS_URL": f"redis://127.0.0.1:{port}/0", "MCP_MAX_CONCURRENT_CALLS": 1}, environ={})
        limits = RateLimits(cfg)
        errors = STORE_ERRORS._value.get()
        from janus.gateway.catalog import TokenRecord

        item, rate, burst = limits.client_item(TokenRecord(id="t", name="t", role="developer", scopes=(), rate_burst=2))
        assert (rate, burst) == (50, 2) and item is not None
        assert [limits.counters.hit(item, "client", "t") == 0 for _ in range(3)] == [True, True, False]
        assert STORE_ERRORS._value.get() > errors
        assert limits.slots is not None
        slot = limits.slots.acquire()
        assert slot == "" and limits.slots.acquire() is None  # per process meanwhile
        limits.slots.release(slot)
        assert limits.slots.acquire() == ""


def test_pool_settings_reach_the_engine_and_nonsense_is_refused_at_startup():
    from janus.config import ConfigError, load

    cfg = load({"DATABASE_URL": "postgresql://u@127.0.0.1/db", "DB_POOL_SIZE": "3", "DB_MAX_OVERFLOW": "0"}, environ={})
    options = cfg["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["max_overflow"], options["pool_pre_ping"]) == (3, 0, True)
    with pytest.raises(ConfigError, match="DB_POOL_SIZE must be at least 1"):
        load({"DATABASE_URL": "postgresql://u@127.0.0.1/db", "DB_POOL_SIZE": "0"}, environ={})
    with pytest.raises(ConfigError, match="DB_MAX_OVERFLOW must be 0 or more"):
        load({"DATABASE_URL": "postgresql://u@127.0.0.1/db", "DB_MAX_OVERFLOW": "-1"}, environ={})


def test_the_audit_spool_defaults_to_a_directory_beside_the_database(tmp_path):
    from janus.config import load

    cfg = load({"DATABASE_PATH": str(tmp_path / "j.db")}, environ={})
    assert cfg["AUDIT_SPOOL_DIR"] == str(tmp_path.resolve() / "audit-spool")


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"AUDIT_RETENTION_DAYS": "0", "AUDIT_EXPORT_DIR": "/x"},
            "AUDIT_RETENTION_DAYS must be a whole number of days",
        ),
        ({"AUDIT_RETENTION_DAYS": "30d", "AUDIT_EXPORT_DIR": "/x"}, "AUDIT_RETENTION_DAYS must be a whole number"),
        ({"AUDIT_RETENTION_DAYS": "-3", "AUDIT_EXPORT_DIR": "/x"}, "AUDIT_RETENTION_DAYS must be a whole number"),
        ({"AUDIT_RETENTION_DAYS": "30"}, "AUDIT_RETENTION_DAYS needs AUDIT_EXPORT_DIR"),
        ({"AUDIT_EXPORT_FORMAT": "xml"}, "AUDIT_EXPORT_FORMAT must be one of jsonl, csv, got 'xml'"),
        ({"AUDIT_PRUNE_INTERVAL_SECONDS": "0"}, "AUDIT_PRUNE_INTERVAL_SECONDS must be a positive number"),
    ],
)
def test_a_bad_audit_retention_setting_fails_the_start_with_a_message(env, message):
    with pytest.raises(ConfigError, match=message):
        load(environ=env)


def test_audit_retention_is_off_by_default_and_parsed_to_days():
    assert load(environ={})["AUDIT_RETENTION_DAYS"] is None
    cfg = load(
        environ={
            "AUDIT_RETENTION_DAYS": " 90 ",
            "AUDIT_EXPORT_DIR": "/var/lib/janus/audit",
            "AUDIT_EXPORT_FORMAT": "CSV",
        }
    )
    assert (cfg["AUDIT_RETENTION_DAYS"], cfg["AUDIT_EXPORT_DIR"], cfg["AUDIT_EXPORT_FORMAT"]) == (
        90,
        "/var/lib/janus/audit",
        "csv",
    )


def test_redaction_is_off_by_default_and_read_as_a_boolean():
    assert load(environ={})["REDACTION_ENABLED"] is False
    assert load(environ={"REDACTION_ENABLED": "on"})["REDACTION_ENABLED"] is True
    with pytest.raises(ConfigError, match="REDACTION_ENABLED must be true or false, got 'emails'"):
        load(environ={"REDACTION_ENABLED": "emails"})
