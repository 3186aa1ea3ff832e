"""Pluggable secret vaults, selected by VAULT_PROVIDER.

Each provider lives in its own module and is imported only when selected, so
a process that never touches AWS never pays for importing boto3.

Settings read here and by the providers: VAULT_PROVIDER, VAULT_LOCAL_PATH,
VAULT_ENCRYPTION_KEY, VAULT_READ_ONLY. A setting missing from the config
mapping falls back to the environment, so a config built without these names
still honours what the operator exported.

An app has one vault (`app_vault`: built on first use, kept in
app.extensions["janus.vault"]), which every reader and writer of secrets in
that app shares; `create_vault` builds a new instance from a config mapping.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

PROVIDERS = {
    "local": "janus.vault.local",
    "aws": "janus.vault.aws",
    "gcp": "janus.vault.gcp",
    "azure": "janus.vault.azure",
}

KEY_BYTES = 32  # AES-256
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class VaultError(RuntimeError):
    """A vault operation failed; the message never contains a secret value."""


class SecretNotFound(VaultError):
    """No secret is stored under the requested name."""


class Vault(Protocol):
    def get(self, key: str) -> str: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...
    def list(self) -> list[str]: ...


def setting(config: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """`config[name]`, else the environment variable, else `default`."""
    if name in config:
        return config[name]
    return os.environ.get(name, default)


def read_only(config: Mapping[str, Any]) -> bool:
    raw = setting(config, "VAULT_READ_ONLY", False)
    if isinstance(raw, bool) or raw is None:
        return bool(raw)
    value = str(raw).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise VaultError(f"VAULT_READ_ONLY must be true or false, got {raw!r}")


def decode_key(raw: str | bytes, name: str) -> bytes:
    """A 32-byte key from its base64 text; errors name `name`, never the text."""
    hint = (
        f"{name} must be the base64 encoding of exactly {KEY_BYTES} bytes "
        '(generate one with: python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())")'
    )
    try:
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        text = text.strip().replace("-", "+").replace("_", "/")  # accept the URL-safe alphabet too
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(hint) from None
    if len(key) != KEY_BYTES:
        raise VaultError(hint)
    return key


class ReadOnlyVault:
    """Wraps any provider when VAULT_READ_ONLY is on: reads pass, writes refuse."""

    def __init__(self, inner: Vault) -> None:
        self._inner = inner

    def get(self, key: str) -> str:
        return self._inner.get(key)

    def list(self) -> list[str]:
        return self._inner.list()

    def set(self, key: str, value: str) -> None:
        raise VaultError("the vault is read-only (VAULT_READ_ONLY=true)")

    def delete(self, key: str) -> None:
        raise VaultError("the vault is read-only (VAULT_READ_ONLY=true)")

    def rotate_key(self, new_key: bytes | None = None) -> int:
        raise VaultError("the vault is read-only (VAULT_READ_ONLY=true)")

    def __getattr__(self, name: str) -> Any:  # provider extras such as key_location
        return getattr(self._inner, name)


APP_EXTENSION = "janus.vault"  # where an app keeps its vault (app.extensions)
_lock = threading.Lock()


def _reset_after_fork() -> None:
    # A lock held by a thread of the parent stays held in the child, where no thread will release it.
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def create_vault(config: Mapping[str, Any]) -> Vault:
    """A new instance of the provider `config` selects (VAULT_PROVIDER), read-only if VAULT_READ_ONLY says so.

    Each call builds one: code serving an app uses `app_vault`, which builds it once per app and process."""
    name = str(config.get("VAULT_PROVIDER") or "local").lower()
    if name not in PROVIDERS:
        raise VaultError(f"Unknown VAULT_PROVIDER {name!r}; expected one of {', '.join(PROVIDERS)}")
    try:
        module = importlib.import_module(PROVIDERS[name])
    except ModuleNotFoundError as exc:
        if exc.name != PROVIDERS[name]:
            raise
        raise VaultError(f"Vault provider {name!r} is not available in this build") from None
    vault: Vault = module.create(config)
    if read_only(config):
        vault = ReadOnlyVault(vault)
    return vault


class App(Protocol):
    """What `app_vault` needs of a Flask app (this package imports no Flask)."""

    @property
    def config(self) -> Mapping[str, Any]: ...

    @property
    def extensions(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class _Built:
    pid: int
    vault: Vault


def app_vault(app: App) -> Vault:
    """The app's vault, built from its config on first use, then the same instance for the app's life.

    Settings are read once, as every per-process object of an app reads them. Per process as well: a
    forked child (a gunicorn worker) must not share its parent's provider (open lock files, a cached
    key, an SDK client and its connections), so a child that finds its parent's builds its own. A
    build that fails (a provider not configured) is not kept: the next call tries again."""
    built = app.extensions.get(APP_EXTENSION)
    pid = os.getpid()
    if built is not None and built.pid == pid:
        return built.vault
    with _lock:  # two requests on a fresh worker must not build two (a cloud SDK client each)
        built = app.extensions.get(APP_EXTENSION)
        if built is None or built.pid != pid:
            built = app.extensions[APP_EXTENSION] = _Built(pid, create_vault(app.config))
    return built.vault
