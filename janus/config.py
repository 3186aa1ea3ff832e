"""Configuration: defaults in code, the environment on top, a dict for tests.

Variable names are the reference product's public contract (README
"Configuration Settings"); keep them verbatim.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

DEFAULTS: dict[str, Any] = {
    "PORT": 8899,
    "HOST": "0.0.0.0",
    "DATABASE_PATH": "./mcp-gateway.db",
    "DATABASE_URL": "",
    "VAULT_PROVIDER": "local",
    "VAULT_LOCAL_PATH": "./secrets.json",
    "VAULT_ENCRYPTION_KEY": "",  # base64 of 32 bytes; unset: a 0600 key file beside the vault
    "VAULT_READ_ONLY": False,
    "SECRET_CACHE_TTL": 30.0,  # seconds a vault read is reused: the bound on staleness after a rotation outside Janus
    "JWT_SECRET": "",
    "TLS_CERT_PATH": "",
    "TLS_KEY_PATH": "",
    "CLIENT_CA_PATH": "",
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    "ADMIN_USERNAME": "admin",
    "ADMIN_PASSWORD": "",
    "SEED_DEMO_DATA": False,
    "SERVE_HTTP": True,  # false in `mcp-gateway -stdio`: no blueprints, no flasgger (faster start)
    "MCP_GATEWAY_TOKEN": "",
    # Operational knobs that the reference leaves implicit.
    "WEB_CONCURRENCY": 2,  # gunicorn workers
    "MAX_RESPONSE_BYTES": 1_048_576,  # upstream bodies larger than this are truncated
    "CATALOG_REFRESH_SECONDS": 0.5,  # how often a process checks for catalog changes
    "TOOLS_PAGE_SIZE": 100,
    "LOG_LEVEL": "INFO",
    # HTTP transports.
    "PUBLIC_URL": "",  # external base URL (behind a proxy); default: taken from each request
    "ALLOWED_ORIGINS": "",  # comma-separated browser origins allowed besides the gateway's own
    "MAX_REQUEST_BYTES": 4_194_304,  # larger request bodies get 413
    "SSE_KEEPALIVE_SECONDS": 15.0,
    "PROGRESS_INTERVAL_SECONDS": 3.0,  # progress notifications while a streamed tools/call waits
    "SESSION_IDLE_SECONDS": 86_400,  # an HTTP session unused this long is over
    # Admin API.
    "SESSION_JWT_HOURS": 12.0,  # lifetime of a login (admin API, mcp-cli)
    # Portal sign-ins (server-side: signing out ends them for good).
    "PORTAL_SESSION_HOURS": 12.0,  # a sign-in lasts at most this long
    "PORTAL_IDLE_MINUTES": 60.0,  # and ends after this long without a request
    "LOGIN_MAX_FAILURES": 5,  # failed sign-ins of one username within LOGIN_LOCKOUT_MINUTES before it is refused
    "LOGIN_LOCKOUT_MINUTES": 15.0,
    # Client token hashes (issue 10, item 11): HMAC-SHA256 under this server key, base64 of 32 bytes.
    # Unset: a 0600 key file `<VAULT_LOCAL_PATH>.token-hash.key` (local vault) or the vault secret
    # `janus-token-hash-key` (aws/gcp/azure), created on first use. Set it on replicas that share no files.
    "TOKEN_HASH_KEY": "",
}

_BOOLS = {"SEED_DEMO_DATA", "VAULT_READ_ONLY", "SERVE_HTTP"}
_INTS = {"PORT", "WEB_CONCURRENCY", "MAX_RESPONSE_BYTES", "TOOLS_PAGE_SIZE", "MAX_REQUEST_BYTES", "SESSION_IDLE_SECONDS",
         "LOGIN_MAX_FAILURES"}
_FLOATS = {"CATALOG_REFRESH_SECONDS", "SSE_KEEPALIVE_SECONDS", "PROGRESS_INTERVAL_SECONDS", "SESSION_JWT_HOURS",
           "SECRET_CACHE_TTL", "PORTAL_SESSION_HOURS", "PORTAL_IDLE_MINUTES", "LOGIN_LOCKOUT_MINUTES"}


class ConfigError(ValueError):
    """A setting has a value Janus cannot use; the message names it."""


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _coerce(name: str, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if name in _BOOLS:
            return parse_bool(name, raw)
        if name in _INTS:
            return int(raw)
        if name in _FLOATS:
            return float(raw)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    return raw


def database_uri(database_url: str, database_path: str) -> str:
    """Map the reference's DATABASE_URL / DATABASE_PATH onto a SQLAlchemy URL.

    `postgres://` (Heroku/Go style) and `postgresql://` both mean psycopg2;
    any other SQLAlchemy URL passes through untouched.
    """
    url = (database_url or "").strip()
    if url:
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg2://" + url[len(prefix):]
        if "://" not in url:
            raise ConfigError(f"DATABASE_URL is not a database URL: {url.split('@')[-1]!r}")
        return url
    return "sqlite:///" + str(Path(database_path).expanduser().resolve())


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        cfg[name] = _coerce(name, env[name]) if name in env else default
    for name, value in (overrides or {}).items():
        cfg[name] = _coerce(name, value)

    if not cfg.get("SQLALCHEMY_DATABASE_URI"):
        cfg["SQLALCHEMY_DATABASE_URI"] = database_uri(cfg["DATABASE_URL"], cfg["DATABASE_PATH"])
    cfg["DATABASE_KIND"] = cfg["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0].split("+", 1)[0]
    if isinstance(cfg["ALLOWED_ORIGINS"], str):
        cfg["ALLOWED_ORIGINS"] = [o.strip().rstrip("/") for o in cfg["ALLOWED_ORIGINS"].split(",") if o.strip()]
    cfg["MAX_CONTENT_LENGTH"] = cfg["MAX_REQUEST_BYTES"]
    # Never run on a guessed secret: without JWT_SECRET each start draws its own.
    cfg["JWT_SECRET_GENERATED"] = not cfg["JWT_SECRET"]
    if not cfg["JWT_SECRET"]:
        cfg["JWT_SECRET"] = secrets.token_urlsafe(48)
    cfg.setdefault("SECRET_KEY", cfg["JWT_SECRET"])
    options: dict[str, Any] = {"pool_pre_ping": True}
    if cfg["DATABASE_KIND"] == "postgresql":
        # A hung database must fail calls in seconds, not hold workers forever.
        options["connect_args"] = {"connect_timeout": 5}  # statement_timeout: janus.database
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    _check_tls(cfg)
    return cfg


def _check_tls(cfg: dict[str, Any]) -> None:
    """Half a TLS configuration must not silently serve plain HTTP."""
    cert, key, ca = cfg["TLS_CERT_PATH"], cfg["TLS_KEY_PATH"], cfg["CLIENT_CA_PATH"]
    if bool(cert) != bool(key):
        raise ConfigError("TLS_CERT_PATH and TLS_KEY_PATH must be set together")
    if ca and not cert:
        raise ConfigError("CLIENT_CA_PATH (mutual TLS) needs TLS_CERT_PATH and TLS_KEY_PATH")
