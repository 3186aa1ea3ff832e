"""The server key under which client token hashes are stored (HMAC-SHA256), and where it lives.

Every process that checks tokens must hold the same key: gunicorn workers, `mcp-gateway -stdio`
processes, replicas sharing a PostgreSQL database. So the key comes from, in this order:

1. TOKEN_HASH_KEY (base64 of 32 bytes): wins; the choice for replicas that share no file system
   and for any deployment that manages keys itself;
2. VAULT_PROVIDER=local: the 0600 key file `<VAULT_LOCAL_PATH>.token-hash.key`, beside the vault's own
   key file, created on first use (the processes of one machine share it as they share the vault);
3. aws / gcp / azure: the secret `janus-token-hash-key` in that vault, shared by every replica that
   reads the vault, created on first use under the start-up lock, read once per process.

The database keeps a fingerprint of the key (key_checks), never the key: a process holding another
key stops at start with one clear error instead of answering 401 to every client. The first
process after the upgrade to schema 0005 re-keys the rows stored as plain SHA-256 (tokens and MCP
sessions), in the same transaction that writes the fingerprint, so it happens exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from janus.config import ConfigError
from janus.extensions import db
from janus.gateway.catalog import keyed_token_hash
from janus.models import CATALOG_COUNTER, AdminAuditLog, ChangeCounter, ClientToken, KeyCheck, McpSession
from janus.services.startup_lock import startup_lock
from janus.vault import KEY_BYTES, SecretNotFound, VaultError, app_vault, decode_key, setting

log = logging.getLogger(__name__)

SETTING = "TOKEN_HASH_KEY"
VAULT_SECRET_NAME = "janus-token-hash-key"  # noqa: S105 - a name, not a key; valid as an AWS, GCP and Azure secret name
KEY_FILE_SUFFIX = ".token-hash.key"
CHECK_NAME = "token_hash"
_CHECK_LABEL = b"janus/token-hash-key-check\x00"
_EXTENSION = "janus.token_hash_key"
_lock = threading.Lock()


class TokenKeyError(ConfigError):
    """The token hash key is unusable or not the one the database's tokens were hashed with."""


def fingerprint(key: bytes) -> str:
    """Identifies the key without revealing it (a MAC of a fixed label)."""
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


def key_file_path(config) -> Path:
    from janus.vault.local import DEFAULT_PATH

    vault_path = Path(setting(config, "VAULT_LOCAL_PATH") or DEFAULT_PATH).expanduser().absolute()
    return vault_path.with_name(vault_path.name + KEY_FILE_SUFFIX)


def server_key(app: Flask | None = None, *, under_startup_lock: bool = False) -> bytes:
    """The key, resolved and checked against the database once per process, then cached."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # LocalProxy method
    key = app.extensions.get(_EXTENSION)
    if key is not None:
        return key
    with _lock:
        key = app.extensions.get(_EXTENSION)
        if key is None:
            with app.app_context():
                key = _resolve(app, create=under_startup_lock)
                if key is None:  # first start of a deployment: create it where every process will find it
                    with startup_lock():
                        key = _resolve(app, create=True)
                assert key is not None
                _ensure_database_keyed(key, _source(app.config))
            app.extensions[_EXTENSION] = key
    return key


def _source(config) -> str:
    if str(setting(config, SETTING) or "").strip():
        return f"the {SETTING} setting"
    provider = str(config.get("VAULT_PROVIDER") or "local").lower()
    if provider == "local":
        return f"the key file {key_file_path(config)}"
    return f"the secret {VAULT_SECRET_NAME!r} of the {provider} vault"


def _resolve(app: Flask, *, create: bool) -> bytes | None:
    config = app.config
    raw = str(setting(config, SETTING) or "").strip()
    try:
        if raw:
            return decode_key(raw, SETTING)
        provider = str(config.get("VAULT_PROVIDER") or "local").lower()
        if provider == "local":
            from janus.vault.local import load_or_create_key_file, read_key_file

            path = key_file_path(config)
            return load_or_create_key_file(path) if create else read_key_file(path)
        return _from_vault(app, provider, create)
    except VaultError as exc:
        raise TokenKeyError(f"the client token hash key is unusable: {exc}") from None


def _from_vault(app: Flask, provider: str, create: bool) -> bytes | None:
    vault = app_vault(app)
    try:
        return decode_key(vault.get(VAULT_SECRET_NAME), f"the vault secret {VAULT_SECRET_NAME!r}")
    except SecretNotFound:
        if not create:
            return None
    try:
        vault.set(VAULT_SECRET_NAME, base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii"))
    except VaultError as exc:
        raise TokenKeyError(
            f"the {provider} vault has no secret {VAULT_SECRET_NAME!r} (the client token hash key) and it cannot be "
            f"created there ({exc}); create it (base64 of 32 random bytes) or set {SETTING}"
        ) from None
    log.info("created the client token hash key as the secret %r of the %s vault", VAULT_SECRET_NAME, provider)
    # Read back, not the value we wrote: if another replica wrote at the same moment, its value is the key.
    return decode_key(vault.get(VAULT_SECRET_NAME), f"the vault secret {VAULT_SECRET_NAME!r}")


def _ensure_database_keyed(key: bytes, source: str) -> None:
    mark = fingerprint(key)
    for _ in range(5):
        stored = db.session.scalar(select(KeyCheck.fingerprint).where(KeyCheck.name == CHECK_NAME))
        if stored == mark:
            db.session.rollback()
            return
        if stored is not None:
            db.session.rollback()
            raise TokenKeyError(
                f"the client token hash key from {source} is not the key this database's tokens were hashed with, "
                f"so every client token would be refused. Give every process of this deployment the same key "
                f"(set {SETTING} to one value everywhere, or restore the original key file or vault secret)"
            )
        try:
            # The marker first: a second process doing the same fails on its primary key, re-keys nothing.
            db.session.add(KeyCheck(name=CHECK_NAME, fingerprint=mark))
            db.session.flush()
            count = _rekey_legacy_rows(key)
            db.session.commit()
        except (IntegrityError, OperationalError):  # another process marked first (or held the write lock)
            db.session.rollback()
            continue
        if count:
            log.warning(
                "re-keyed %d stored client token and session hash(es) from SHA-256 to HMAC-SHA256 "
                "under the key from %s",
                count,
                source,
            )
        return
    raise TokenKeyError("could not record the client token hash key in the database (it stayed busy)")


def _rekey_legacy_rows(key: bytes) -> int:
    """Until now hashes were plain SHA-256: HMAC over them is the hash the same token gets from now on."""
    count = 0
    for model in (ClientToken, McpSession):
        for row_id, digest in db.session.execute(select(model.id, model.token_hash)).all():
            db.session.execute(update(model).where(model.id == row_id).values(token_hash=keyed_token_hash(key, digest)))
            count += 1
    if count:  # running processes reload their token tables; the admin trail records the change
        db.session.execute(
            update(ChangeCounter).where(ChangeCounter.name == CATALOG_COUNTER).values(value=ChangeCounter.value + 1)
        )
        db.session.add(
            AdminAuditLog(
                actor="system",
                action="token.rekey",
                target_type="token",
                target_id=None,
                details={"rows": count, "scheme": "HMAC-SHA256 over SHA-256"},
            )
        )
    return count
