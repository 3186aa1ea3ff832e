"""Client token hashes are keyed (HMAC-SHA256) under a server key that every process finds and the database never holds."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from janus.extensions import db, init_migrations
from janus.gateway.catalog import Principal, hash_token
from janus.models import AdminAuditLog, ClientToken, KeyCheck, McpSession
from janus.runtime import get_runtime
from janus.services import token_key
from janus.services.bootstrap import bootstrap, ensure_schema
from janus.services.token_key import TokenKeyError, server_key
from tests.conftest import make_app
from tests.support.stdio import MCP_GATEWAY, gateway_env

LEGACY_TOKEN = "mcp_client_weather_dev_552"  # pasted by an admin before the upgrade: guessable, hence the key
LIST = b'{"jsonrpc":"2.0","method":"tools/list","id":1}\n'
OTHER_KEY = base64.b64encode(bytes(range(32))).decode()


def _app(tmp_path, **overrides):
    """An app that finds its key the production way: TOKEN_HASH_KEY unset, a local vault beside the database."""
    settings = {"TOKEN_HASH_KEY": "", "VAULT_LOCAL_PATH": str(tmp_path / "secrets.json"), **overrides}
    return make_app({"DATABASE_PATH": str(tmp_path / "janus.db")}, **settings)


def _migrated(app):
    with app.app_context():
        ensure_schema()
    return app


def _key_file(tmp_path):
    return tmp_path / "secrets.json.token-hash.key"


def test_the_key_file_beside_the_vault_is_created_owner_only_and_every_process_reads_the_same_key(tmp_path):
    previous = os.umask(0o022)
    try:
        key = server_key(_migrated(_app(tmp_path)))
    finally:
        os.umask(previous)
    path = _key_file(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert base64.b64decode(path.read_text()) == key and len(key) == 32
    assert server_key(_app(tmp_path)) == key  # another process of the deployment


def test_a_key_file_that_others_may_read_is_refused_with_the_fix(tmp_path):
    server_key(_migrated(_app(tmp_path)))
    os.chmod(_key_file(tmp_path), 0o644)
    with pytest.raises(TokenKeyError) as refused:
        server_key(_app(tmp_path))
    assert str(refused.value) == (
        f"the client token hash key is unusable: key file {_key_file(tmp_path)} is accessible by group or others "
        f"(mode 0644); run: chmod 600 {_key_file(tmp_path)}"
    )


def test_the_token_hash_key_setting_wins_and_no_key_file_is_written(tmp_path):
    app = _migrated(_app(tmp_path, TOKEN_HASH_KEY=OTHER_KEY))
    assert server_key(app) == bytes(range(32))
    assert not _key_file(tmp_path).exists()


def test_a_malformed_token_hash_key_setting_names_the_setting_not_the_value(tmp_path):
    with pytest.raises(TokenKeyError) as refused:
        server_key(_migrated(_app(tmp_path, TOKEN_HASH_KEY="not-a-key-at-all")))
    assert "TOKEN_HASH_KEY must be the base64 encoding of exactly 32 bytes" in str(refused.value)
    assert "not-a-key-at-all" not in str(refused.value)


def test_a_process_with_another_key_than_the_databases_stops_with_one_clear_error(tmp_path):
    server_key(_migrated(_app(tmp_path)))  # the deployment's key file
    with pytest.raises(TokenKeyError) as refused:
        server_key(_app(tmp_path, TOKEN_HASH_KEY=OTHER_KEY))  # e.g. a replica given a different key
    assert str(refused.value).startswith(
        "the client token hash key from the TOKEN_HASH_KEY setting is not the key this database's tokens were "
        "hashed with, so every client token would be refused."
    )
    with _app(tmp_path).app_context():
        [check] = db.session.scalars(select(KeyCheck)).all()
    assert check.fingerprint != base64.b64decode(_key_file(tmp_path).read_text()).hex()[:32]  # not the key itself


def test_a_stdio_process_with_another_key_exits_2_before_serving(tmp_path):
    database = str(tmp_path / "janus.db")
    server_key(_migrated(_app(tmp_path)))
    result = subprocess.run(
        [MCP_GATEWAY, "-stdio"],
        input=LIST,
        capture_output=True,
        timeout=60,
        env=gateway_env(database, TOKEN_HASH_KEY=OTHER_KEY),
    )
    assert result.returncode == 2 and result.stdout == b""
    assert (
        b"mcp-gateway: configuration error: the client token hash key from the TOKEN_HASH_KEY setting is not"
        in result.stderr
        and b"Traceback" not in result.stderr
    )


# -- the upgrade from schema 0003 (plain SHA-256 rows) ------------------------------------------------------------


def _database_at_0003_with_a_legacy_token(tmp_path) -> None:
    from flask_migrate import upgrade

    app = _app(tmp_path)
    with app.app_context():
        init_migrations(app)
        upgrade(revision="0003_portal_sessions")
        now = datetime.now(UTC)
        digest = hashlib.sha256(LEGACY_TOKEN.encode()).hexdigest()
        db.session.execute(
            text(
                "INSERT INTO client_tokens (id, name, token_hash, token_hint, role, scopes, enabled, created_at) "
                "VALUES ('t1', 'Weather', :h, 'mcp_cl', 'developer', 'lch_*', 1, :now)"
            ),
            {"h": digest, "now": now},
        )
        db.session.execute(
            text(
                "INSERT INTO mcp_sessions (id, transport, token_hash, initialized, created_at, last_seen_at) "
                "VALUES ('s1', 'streamable', :h, 1, :now, :now)"
            ),
            {"h": digest, "now": now},
        )
        db.session.commit()
        db.engine.dispose()


def test_tokens_stored_before_the_upgrade_keep_working_and_are_rekeyed_exactly_once(tmp_path):
    _database_at_0003_with_a_legacy_token(tmp_path)
    app = _app(tmp_path)
    bootstrap(app, create_admin=False)  # migrates to head, then re-keys under the start-up lock

    catalog = get_runtime(app).catalog
    principal = Principal(catalog.hash_token(LEGACY_TOKEN))
    assert catalog.current().token(principal).name == "Weather"
    with app.app_context():
        stored = db.session.scalar(select(ClientToken.token_hash))
        session_hash = db.session.scalar(select(McpSession.token_hash))
    key = base64.b64decode(_key_file(tmp_path).read_text())
    assert stored == session_hash == hash_token(LEGACY_TOKEN, key) != hashlib.sha256(LEGACY_TOKEN.encode()).hexdigest()
    with app.app_context():
        [(actor, details)] = db.session.execute(
            select(AdminAuditLog.actor, AdminAuditLog.details).where(AdminAuditLog.action == "token.rekey")
        ).all()
    assert (actor, details["rows"]) == ("system", 2)

    again = _app(tmp_path)  # the next start (or another worker) re-keys nothing
    bootstrap(again, create_admin=False)
    with again.app_context():
        assert db.session.scalar(select(ClientToken.token_hash)) == stored


def test_a_stdio_process_accepts_a_token_stored_before_the_upgrade(tmp_path):
    _database_at_0003_with_a_legacy_token(tmp_path)
    env = gateway_env(str(tmp_path / "janus.db"), token=LEGACY_TOKEN, TOKEN_HASH_KEY="")
    result = subprocess.run([MCP_GATEWAY, "-stdio"], input=LIST, capture_output=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert b'"result"' in result.stdout and b"not a known client token" not in result.stderr
    assert "re-keyed 2 stored client token and session hash(es)" in result.stderr.decode()
    assert stat.S_IMODE(os.stat(_key_file(tmp_path)).st_mode) == 0o600


def test_with_a_cloud_vault_the_key_is_a_secret_there_created_once_and_read_by_every_replica(tmp_path, monkeypatch):
    """GCP Secret Manager (a real HTTP emulator on 127.0.0.1, the real provider); AWS and Azure take the same path."""
    from tests.support.fake_gcp_secrets import FakeSecretManager

    for name in list(os.environ):
        if name.startswith(("GCP_", "GOOGLE_", "CLOUDSDK_", "VAULT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server: no real credentials
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    with FakeSecretManager(project="janus-tests") as fake:
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "janus-tests")
        monkeypatch.setenv("GCP_SECRETS_API_ENDPOINT", fake.endpoint)
        key = server_key(_migrated(_app(tmp_path, VAULT_PROVIDER="gcp")))
        replica = _app(tmp_path, VAULT_PROVIDER="gcp")
        assert server_key(replica) == key  # reads it, creates nothing
        from janus.vault import app_vault

        vault = app_vault(replica)
        assert vault.list() == [token_key.VAULT_SECRET_NAME]
        assert base64.b64decode(vault.get(token_key.VAULT_SECRET_NAME)) == key
    assert not _key_file(tmp_path).exists()


def test_replicas_sharing_a_database_but_not_the_key_are_stopped_on_both_backends(app, db_backend, tmp_path):
    server_key(app)  # the first replica (TOKEN_HASH_KEY set) records its key's fingerprint
    other = make_app(db_backend, VAULT_LOCAL_PATH=str(tmp_path / "elsewhere" / "secrets.json"), TOKEN_HASH_KEY="")
    with pytest.raises(TokenKeyError, match="is not the key this database's tokens were hashed with"):
        server_key(other)  # a replica on another machine that made its own key file
    same = make_app(
        db_backend,
        VAULT_LOCAL_PATH=str(tmp_path / "elsewhere" / "secrets.json"),
        TOKEN_HASH_KEY=app.config["TOKEN_HASH_KEY"],
    )
    assert server_key(same) == server_key(app)
    for extra in (other, same):
        with extra.app_context():
            db.engine.dispose()
