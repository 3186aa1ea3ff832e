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
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:////") and cfg["SQLALCHEMY_DATABASE_URI"].endswith("/mcp-gateway.db")
    assert cfg["DATABASE_KIND"] == "sqlite"


def test_environment_overrides_defaults_and_test_dicts_override_the_environment():
    cfg = load({"PORT": 9100}, environ={"PORT": "9000", "SEED_DEMO_DATA": "true", "OIDC_ISSUER": "https://idp.example"})
    assert cfg["PORT"] == 9100
    assert cfg["SEED_DEMO_DATA"] is True
    assert cfg["OIDC_ISSUER"] == "https://idp.example"


@pytest.mark.parametrize("url, expected", [
    ("postgres://user:pw@db:5432/mcp?sslmode=disable", "postgresql+psycopg2://user:pw@db:5432/mcp?sslmode=disable"),
    ("postgresql://user@db/mcp", "postgresql+psycopg2://user@db/mcp"),
    ("postgresql+psycopg2://user@db/mcp", "postgresql+psycopg2://user@db/mcp"),
    ("sqlite:////var/lib/janus.db", "sqlite:////var/lib/janus.db"),
])
def test_database_url_accepts_reference_and_sqlalchemy_forms(url, expected):
    assert database_uri(url, "./ignored.db") == expected
    assert load(environ={"DATABASE_URL": url})["SQLALCHEMY_DATABASE_URI"] == expected


def test_database_url_overrides_database_path():
    cfg = load(environ={"DATABASE_URL": "postgres://u@h/d", "DATABASE_PATH": "/tmp/x.db"})
    assert cfg["DATABASE_KIND"] == "postgresql"


@pytest.mark.parametrize("env, message", [
    ({"PORT": "eighty"}, "PORT must be a number"),
    ({"SEED_DEMO_DATA": "maybe"}, "SEED_DEMO_DATA must be true or false"),
    ({"DATABASE_URL": "user:secretpw@host/db"}, "DATABASE_URL is not a database URL"),
    ({"TLS_CERT_PATH": "/etc/janus/cert.pem"}, "TLS_CERT_PATH and TLS_KEY_PATH must be set together"),
    ({"CLIENT_CA_PATH": "/etc/janus/ca.pem"}, "CLIENT_CA_PATH .mutual TLS. needs TLS_CERT_PATH"),
])
def test_bad_values_fail_with_a_message_naming_the_setting(env, message):
    with pytest.raises(ConfigError, match=message) as excinfo:
        load(environ=env)
    assert "secretpw" not in str(excinfo.value)


def test_an_unset_jwt_secret_is_random_per_start_and_flagged():
    first, second = load(environ={}), load(environ={})
    assert first["JWT_SECRET"] != second["JWT_SECRET"] and len(first["JWT_SECRET"]) >= 32
    assert first["JWT_SECRET_GENERATED"] is True
    assert load(environ={"JWT_SECRET": "s" * 40})["JWT_SECRET_GENERATED"] is False


def test_mcp_gateway_reports_configuration_errors_without_a_traceback(tmp_path):
    import subprocess

    from tests.support.stdio import MCP_GATEWAY, gateway_env

    env = gateway_env(str(tmp_path / "x.db"), PORT="eighty")
    out = subprocess.run([MCP_GATEWAY, "-stdio"], input=b"", capture_output=True, env=env, timeout=30)
    assert out.returncode == 2
    assert out.stderr.decode().strip() == "mcp-gateway: configuration error: PORT must be a number, got 'eighty'"


def test_egress_allowlist_is_a_list_of_cidrs_and_names_and_a_bad_entry_fails_the_start():
    from janus.config import ConfigError, load

    assert load(environ={})["EGRESS_ALLOWLIST"] == []
    cfg = load(environ={"EGRESS_ALLOWLIST": "10.0.0.0/8, api.example.com ,*.corp.example,::1"})
    assert cfg["EGRESS_ALLOWLIST"] == ["10.0.0.0/8", "api.example.com", "*.corp.example", "::1"]
    for bad in ("10.0.0.0/33", "http://api.example.com", "a b"):
        with pytest.raises(ConfigError, match="EGRESS_ALLOWLIST entry"):
            load(environ={"EGRESS_ALLOWLIST": bad})
