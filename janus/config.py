"""Configuration: defaults in code, the environment on top, a dict for tests.

Variable names are the reference product's public contract (README
"Configuration Settings"); keep them verbatim.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULTS: dict[str, Any] = {
    "PORT": 8899,
    "HOST": "0.0.0.0",  # noqa: S104 - a server for remote MCP clients; ALLOWED_HOSTS guards the names it answers
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
    # With CLIENT_CA_PATH: "required" (the default) refuses a TLS handshake without a client certificate
    # from that CA; "optional" accepts one when presented (a bearer still works without it).
    "MTLS_MODE": "",
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    # Portal and admin single sign-on (issue 13): the ID token's claim holding the person's groups, and
    # the comma-separated groups that make an admin or a viewer. A person in neither is refused.
    "OIDC_GROUPS_CLAIM": "groups",
    "OIDC_ADMIN_GROUPS": "",
    "OIDC_VIEWER_GROUPS": "",
    "OIDC_SCOPES": "openid profile email",  # asked of the IdP; add e.g. "groups" where the IdP needs it
    # The claim that names a new SSO user (falls back to `email`, then the IdP subject).
    "OIDC_USERNAME_CLAIM": "preferred_username",
    # The client `mcp-cli login --sso` uses for the device grant: a public client (no secret) at the IdP.
    # Unset: OIDC_CLIENT_ID (the IdP must then allow public device flows for it).
    "OIDC_CLI_CLIENT_ID": "",
    "OIDC_ONLY": False,  # true: no local password sign-ins (portal or API); break-glass in the README
    "OIDC_TIMEOUT_SECONDS": 10.0,  # each request to the IdP (discovery, JWKS, token, userinfo)
    "ADMIN_USERNAME": "admin",
    "ADMIN_PASSWORD": "",
    "SEED_DEMO_DATA": False,
    "SERVE_HTTP": True,  # false in `mcp-gateway -stdio`: no blueprints, no portal (faster start)
    "MCP_GATEWAY_TOKEN": "",
    # Operational knobs that the reference leaves implicit.
    "WEB_CONCURRENCY": 2,  # gunicorn workers
    "MAX_RESPONSE_BYTES": 1_048_576,  # upstream bodies larger than this are truncated
    "CATALOG_REFRESH_SECONDS": 0.5,  # how often a process checks for catalog changes
    "TOOLS_PAGE_SIZE": 100,
    "LOG_LEVEL": "INFO",
    # "text" (readable lines) or "json" (one object per line, with the request id, for log shippers).
    "LOG_FORMAT": "text",
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
    # Issue 10 item 14 (ReDoS): CPU seconds one tool call's argument validation may spend matching
    # the schema's `pattern`/`patternProperties` regexes, all together; past it the call is refused.
    "SCHEMA_PATTERN_BUDGET_SECONDS": 0.1,
    # Issue 10 items 1 and 12 (the HTTP edge): DNS-rebinding allow-lists and who may read /metrics.
    "ALLOWED_HOSTS": "",  # comma-separated Host names (optionally name:port, or *) served besides loopback and PUBLIC_URL's
    "METRICS_TOKEN": "",  # bearer that may read /metrics (besides an admin session); unset: admins only
    "METRICS_PUBLIC": False,  # true: /metrics needs no credentials (a scraper on a trusted network)
    # Issue 10, items 5 and 13: sign-in throttling before any password hashing.
    "LOGIN_RATE_PER_IP": 20,  # sign-in attempts per minute from one client address (per process); 0: no limit
    "TRUSTED_PROXY_HOPS": 0,  # reverse proxies in front that append X-Forwarded-For; 0: use the peer address
    # Issue 10 item 18, egress policy (janus.gateway.egress): link-local and cloud metadata addresses are
    # always refused; when this is set, connections and OAuth token URLs may only reach these
    # comma-separated CIDRs and host names ("*.example.com" for subdomains). Empty: anywhere else.
    "EGRESS_ALLOWLIST": "",
    # Slow clients and stream limits (issue 10, items 6 and 7).
    "REQUEST_READ_TIMEOUT_SECONDS": 30.0,  # a request body not fully received this long after the request began: 408
    "MAX_CONNECTIONS_PER_CLIENT": 100,  # open connections per client IP address, per worker; 0: no cap
    "SSE_MAX_QUEUED_BYTES": 8_388_608,  # bytes queued for one legacy SSE stream before it is closed as too slow
    "SSE_MAX_STREAMS_PER_TOKEN": 10,  # open legacy SSE streams per client token, across workers and replicas
    "MAX_INFLIGHT_CALLS_PER_TOKEN": 32,  # legacy SSE messages being processed per client token, per worker
    # Client token hashes (issue 10, item 11): HMAC-SHA256 under this server key, base64 of 32 bytes.
    # Unset: a 0600 key file `<VAULT_LOCAL_PATH>.token-hash.key` (local vault) or the vault secret
    # `janus-token-hash-key` (aws/gcp/azure), created on first use. Set it on replicas that share no files.
    "TOKEN_HASH_KEY": "",
    # Issue 13 part 3, an OAuth 2.1 resource server for MCP clients (janus/auth/oauth_tokens.py): /mcp,
    # /sse and /api/tools also accept JWT access tokens issued for PUBLIC_URL + "/mcp" by one of these
    # comma-separated issuer URLs (RFC 8414 or OIDC discovery; needs PUBLIC_URL). Empty: client tokens only.
    "OAUTH_ISSUERS": "",
    "OAUTH_SCOPES_CLAIM": "scope",  # claim (or dotted path) holding tool scope globs; empty: none from the token
    "OAUTH_GROUPS_CLAIM": "groups",  # claim (or dotted path) holding the identity's groups
    # group=glob[,glob…];group=…  e.g. "payments-team=accounts_*;weather-team=weather_*"
    "OAUTH_GROUP_SCOPE_MAP": "",
    "OAUTH_ADMIN_GROUPS": "",  # comma-separated groups whose members may see admin tools (their scopes permitting)
    "OAUTH_SCOPES_SUPPORTED": "",  # scopes the RFC 9728 document advertises; empty: the group map's globs
    "OAUTH_JWKS_CACHE_SECONDS": 3600.0,  # how long an issuer's key set is used before it is fetched again
    "OAUTH_JWKS_MIN_REFETCH_SECONDS": 30.0,  # an unknown kid refetches the key set at most this often
    # Issue 13 part 5, rate limits and the concurrency cap (janus/transports/rate_limits.py). Each is a
    # moving window of BURST requests over BURST/RATE seconds: at most BURST at once, RATE on average.
    "RATE_LIMIT_PER_IP": 300,  # failed authentications per minute from one client address; 0: no limit
    "RATE_LIMIT_BURST_PER_IP": 600,
    "MCP_RATE_PER_CLIENT": 50,  # JSON-RPC requests per second per client token (overridable per token); 0: none
    "MCP_BURST_PER_CLIENT": 100,
    "MCP_MAX_CONCURRENT_CALLS": 200,  # tools/call in flight, gateway-wide with REDIS_URL, else per process; 0: none
    # Counters shared by every worker and replica (redis://, rediss:// or unix://); unset: per process.
    "REDIS_URL": "",
    # Issue 14 item 3, the database under faults. Connections each worker process keeps to PostgreSQL
    # (and may open beyond that under a burst): keep replicas x workers x (pool + overflow) below the
    # server's max_connections. Ignored for SQLite.
    "DB_POOL_SIZE": 5,
    "DB_MAX_OVERFLOW": 5,
    # Where tool-call audit records wait (on disk) until they are in the database; empty: an
    # `audit-spool` directory beside DATABASE_PATH. Give it a volume that outlives the process.
    "AUDIT_SPOOL_DIR": "",
    "AUDIT_RETENTION_DAYS": "",  # tool-call audit rows older than this many days are exported, then deleted; unset: kept
    "AUDIT_EXPORT_DIR": "",  # where the prune writes what it is about to delete (required with AUDIT_RETENTION_DAYS)
    "AUDIT_EXPORT_FORMAT": "jsonl",  # jsonl | csv
    "AUDIT_PRUNE_INTERVAL_SECONDS": 3600.0,  # how often a server process tries to prune (one at a time, gateway-wide)
    # Issue 15 item 3, data-loss prevention (janus/gateway/dlp.py): mask e-mails, card numbers, JWTs, cloud
    # keys and IBANs in upstream answers. Off by default (masking e-mails breaks CRM-like tools); a
    # connection's `redaction` (true/false) overrides it either way.
    "REDACTION_ENABLED": False,
}

_BOOLS = {"SEED_DEMO_DATA", "VAULT_READ_ONLY", "SERVE_HTTP", "METRICS_PUBLIC", "OIDC_ONLY", "REDACTION_ENABLED"}
_INTS = {
    "PORT",
    "WEB_CONCURRENCY",
    "MAX_RESPONSE_BYTES",
    "TOOLS_PAGE_SIZE",
    "MAX_REQUEST_BYTES",
    "SESSION_IDLE_SECONDS",
    "LOGIN_MAX_FAILURES",
    "LOGIN_RATE_PER_IP",
    "TRUSTED_PROXY_HOPS",
    "MAX_CONNECTIONS_PER_CLIENT",
    "SSE_MAX_QUEUED_BYTES",
    "SSE_MAX_STREAMS_PER_TOKEN",
    "MAX_INFLIGHT_CALLS_PER_TOKEN",
    "RATE_LIMIT_PER_IP",
    "RATE_LIMIT_BURST_PER_IP",
    "MCP_RATE_PER_CLIENT",
    "MCP_BURST_PER_CLIENT",
    "MCP_MAX_CONCURRENT_CALLS",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
}
_FLOATS = {
    "CATALOG_REFRESH_SECONDS",
    "SSE_KEEPALIVE_SECONDS",
    "PROGRESS_INTERVAL_SECONDS",
    "SESSION_JWT_HOURS",
    "SECRET_CACHE_TTL",
    "PORTAL_SESSION_HOURS",
    "PORTAL_IDLE_MINUTES",
    "LOGIN_LOCKOUT_MINUTES",
    "SCHEMA_PATTERN_BUDGET_SECONDS",
    "REQUEST_READ_TIMEOUT_SECONDS",
    "OAUTH_JWKS_CACHE_SECONDS",
    "OAUTH_JWKS_MIN_REFETCH_SECONDS",
    "OIDC_TIMEOUT_SECONDS",
    "AUDIT_PRUNE_INTERVAL_SECONDS",
}


class ConfigError(ValueError):
    """A setting has a value Janus cannot use; the message names it."""


# Issue 10, item 15: weak secrets refuse to start.
MIN_JWT_SECRET_BYTES = 32
MIN_ADMIN_PASSWORD = 12  # the same floor as every user's password (janus.services.users.MIN_PASSWORD)
# HKDF info labels: the Flask cookie and the admin-API JWTs are signed with different keys derived
# from JWT_SECRET, so a value signed for one can never be replayed as the other.
FLASK_SESSION_KEY_LABEL = "janus/flask-session-cookie/v1"
ADMIN_JWT_KEY_LABEL = "janus/admin-api-jwt/v1"


# Set by gunicorn_conf when it drew JWT_SECRET itself. A variable's name, not a secret.
JWT_SECRET_GENERATED_ENV = "JANUS_JWT_SECRET_GENERATED"  # noqa: S105


def derive_key(secret: str, label: str) -> bytes:
    """A 32-byte key for one purpose (HKDF-SHA256 over JWT_SECRET, `label` as info)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(secret.encode("utf-8"))


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
                return "postgresql+psycopg2://" + url[len(prefix) :]
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
        cfg["ALLOWED_ORIGINS"] = [o.strip().rstrip("/").lower() for o in cfg["ALLOWED_ORIGINS"].split(",") if o.strip()]
    if isinstance(cfg["ALLOWED_HOSTS"], str):
        cfg["ALLOWED_HOSTS"] = [h.strip().lower() for h in cfg["ALLOWED_HOSTS"].split(",") if h.strip()]
    _check_allowed_hosts(cfg["ALLOWED_HOSTS"])
    cfg["MAX_CONTENT_LENGTH"] = cfg["MAX_REQUEST_BYTES"]
    cfg["EGRESS_ALLOWLIST"] = egress_allowlist(cfg["EGRESS_ALLOWLIST"])
    # Never run on a guessed secret: without JWT_SECRET each start draws its own.
    # gunicorn's config draws one for all its workers (janus/gunicorn_conf.py) and says so in the environment:
    # the workers then see a JWT_SECRET, but it is still a generated one.
    cfg["JWT_SECRET_GENERATED"] = not cfg["JWT_SECRET"] or env.get(JWT_SECRET_GENERATED_ENV) == "1"
    if not cfg["JWT_SECRET"]:
        cfg["JWT_SECRET"] = secrets.token_urlsafe(48)
    _check_secrets(cfg)
    cfg.setdefault("SECRET_KEY", derive_key(cfg["JWT_SECRET"], FLASK_SESSION_KEY_LABEL))
    # pre-ping: a connection the database dropped (a restart, a failover) is replaced before use, so
    # the first request after the database returns succeeds instead of failing on a dead socket.
    options: dict[str, Any] = {"pool_pre_ping": True}
    if cfg["DATABASE_KIND"] == "postgresql":
        # A hung database must fail calls in seconds, not hold workers forever.
        options["connect_args"] = {"connect_timeout": 5}  # statement_timeout: janus.database
        options["pool_size"], options["max_overflow"] = _pool_settings(cfg)
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    if not str(cfg["AUDIT_SPOOL_DIR"]).strip():
        cfg["AUDIT_SPOOL_DIR"] = str(Path(cfg["DATABASE_PATH"]).expanduser().resolve().parent / "audit-spool")
    _check_tls(cfg)
    _check_oidc(cfg)
    if not cfg["SCHEMA_PATTERN_BUDGET_SECONDS"] > 0:
        raise ConfigError("SCHEMA_PATTERN_BUDGET_SECONDS must be a positive number of seconds")
    _check_oauth(cfg)
    _check_rate_limits(cfg)
    cfg["LOG_FORMAT"] = str(cfg["LOG_FORMAT"]).strip().lower()
    if cfg["LOG_FORMAT"] not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be text or json, got {cfg['LOG_FORMAT']!r}")
    _check_otel(env)
    _check_audit_retention(cfg)
    return cfg


LOG_FORMATS = ("text", "json")


def _check_otel(env: Mapping[str, str]) -> None:
    """The standard OTel variables (read by the SDK itself, janus/gateway/tracing.py) that this build
    cannot honour: only the OTLP exporter over HTTP/protobuf (the OTLP default) is installed."""
    if not any(
        env.get(name, "").strip() for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.get(name, "").strip()
        if protocol and protocol != "http/protobuf":
            raise ConfigError(
                f"{name}={protocol!r} is not supported: Janus exports traces over OTLP/HTTP with protobuf "
                "('http/protobuf', the default); point the endpoint at the collector's HTTP port (4318)"
            )
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter not in ("", "otlp", "none"):
        raise ConfigError(f"OTEL_TRACES_EXPORTER={exporter!r} is not supported: use otlp, or none to turn tracing off")


def check_spool_dir(path: str) -> None:
    """AUDIT_SPOOL_DIR must be a directory this process can create files in (each call's audit record
    is written there before its answer): refuse to start otherwise, with a message saying so."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-")  # noqa: SIM115 - closed at once
        probe.close()
    except OSError as exc:
        raise ConfigError(
            f"AUDIT_SPOOL_DIR {path!r} is not a writable directory ({exc.strerror}): tool-call audit records "
            "are written there before each answer; point it at a writable volume"
        ) from None


def _pool_settings(cfg: dict[str, Any]) -> tuple[int, int]:
    size, overflow = cfg["DB_POOL_SIZE"], cfg["DB_MAX_OVERFLOW"]
    if size < 1:
        raise ConfigError(f"DB_POOL_SIZE must be at least 1 (connections per worker process), got {size}")
    if overflow < 0:
        raise ConfigError(f"DB_MAX_OVERFLOW must be 0 or more (extra connections under a burst), got {overflow}")
    return size, overflow


AUDIT_EXPORT_FORMATS = ("jsonl", "csv")


def _check_audit_retention(cfg: dict[str, Any]) -> None:
    """AUDIT_RETENTION_DAYS deletes audit rows: a typo must stop the start, not prune the wrong rows."""
    raw = cfg["AUDIT_RETENTION_DAYS"]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        cfg["AUDIT_RETENTION_DAYS"] = None
    else:
        try:
            days = int(str(raw).strip()) if not isinstance(raw, bool) else None
        except ValueError:
            days = None
        if days is None or days < 1 or (isinstance(raw, float) and raw != days):
            raise ConfigError(
                f"AUDIT_RETENTION_DAYS must be a whole number of days, 1 or more (unset: keep everything), got {raw!r}"
            )
        cfg["AUDIT_RETENTION_DAYS"] = days
    cfg["AUDIT_EXPORT_DIR"] = str(cfg["AUDIT_EXPORT_DIR"] or "").strip()
    if cfg["AUDIT_RETENTION_DAYS"] and not cfg["AUDIT_EXPORT_DIR"]:
        raise ConfigError(
            "AUDIT_RETENTION_DAYS needs AUDIT_EXPORT_DIR: the rows about to be pruned are exported there first"
        )
    fmt = str(cfg["AUDIT_EXPORT_FORMAT"] or "").strip().lower()
    if fmt not in AUDIT_EXPORT_FORMATS:
        raise ConfigError(f"AUDIT_EXPORT_FORMAT must be one of {', '.join(AUDIT_EXPORT_FORMATS)}, got {fmt!r}")
    cfg["AUDIT_EXPORT_FORMAT"] = fmt
    if not cfg["AUDIT_PRUNE_INTERVAL_SECONDS"] > 0:
        raise ConfigError("AUDIT_PRUNE_INTERVAL_SECONDS must be a positive number of seconds")


# (rate, burst, the rate's unit) of each tier: a burst must hold at least one second's worth of the rate.
RATE_TIERS = (
    ("RATE_LIMIT_PER_IP", "RATE_LIMIT_BURST_PER_IP", "minute"),
    ("MCP_RATE_PER_CLIENT", "MCP_BURST_PER_CLIENT", "second"),
)
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _check_rate_limits(cfg: dict[str, Any]) -> None:
    """A typo in a limit must not start a gateway that throttles everyone, or no one, by surprise."""
    for rate_name, burst_name, unit in RATE_TIERS:
        rate, burst = cfg[rate_name], cfg[burst_name]
        for name, value in ((rate_name, rate), (burst_name, burst)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a whole number, 0 or more, got {value!r}")
        per_second = rate / 60 if unit == "minute" else rate
        if rate and burst < max(1, per_second):
            raise ConfigError(
                f"{burst_name} ({burst}) must be at least one second's worth of {rate_name} ({rate} per {unit}): "
                "the burst is how many requests may come at once, the rate their average"
            )
    cap = cfg["MCP_MAX_CONCURRENT_CALLS"]
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise ConfigError(f"MCP_MAX_CONCURRENT_CALLS must be a whole number, 0 or more, got {cap!r}")
    url = str(cfg["REDIS_URL"] or "").strip()
    cfg["REDIS_URL"] = url
    if url and not url.startswith(REDIS_SCHEMES):
        raise ConfigError(
            f"REDIS_URL must start with {', '.join(REDIS_SCHEMES)} (e.g. redis://127.0.0.1:6379/0), "
            f"got one starting {url.split('://', 1)[0]!r}"
        )


# A Host header value: a DNS name or IPv4 address, or a bracketed IPv6 address, then an optional port.
HOST_PATTERN = re.compile(r"(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::[0-9]{1,5})?", re.IGNORECASE)


def _check_allowed_hosts(entries: list[str]) -> None:
    """Catch the usual slip (a URL where a host name belongs) at start-up, not as refused requests."""
    for entry in entries:
        if entry != "*" and not HOST_PATTERN.fullmatch(entry):
            raise ConfigError(
                f"ALLOWED_HOSTS entry {entry!r} is not a host name: write e.g. 'janus.example.com', "
                "'janus.example.com:8443', '[::1]' or '*'"
            )


def _check_secrets(cfg: dict[str, Any]) -> None:
    """A short JWT_SECRET can be brute-forced offline from one token; a short ADMIN_PASSWORD online."""
    size = len(str(cfg["JWT_SECRET"]).encode("utf-8"))
    if size < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes, got {size}; generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))' (or unset it for a random "
            "key per start)"
        )
    password = cfg["ADMIN_PASSWORD"]
    if password and len(str(password)) < MIN_ADMIN_PASSWORD:
        raise ConfigError(
            f"ADMIN_PASSWORD must be at least {MIN_ADMIN_PASSWORD} characters, got {len(str(password))} "
            "(or unset it to have one generated and printed once)"
        )
    for name in ("LOGIN_RATE_PER_IP", "TRUSTED_PROXY_HOPS", "LOGIN_MAX_FAILURES"):
        if int(cfg[name]) < 0:
            raise ConfigError(f"{name} must be 0 or more, got {cfg[name]}")


_HOST_NAME = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?")


def egress_allowlist(raw: Any) -> list[str]:
    """EGRESS_ALLOWLIST as a list of entries, each a CIDR, an address or a host name; a typo fails the start."""
    entries = raw.split(",") if isinstance(raw, str) else list(raw or ())
    found: list[str] = []
    for entry in (str(e).strip() for e in entries):
        if not entry:
            continue
        try:
            ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            if "/" in entry or ":" in entry or not _HOST_NAME.fullmatch(entry.lower()):
                raise ConfigError(
                    f"EGRESS_ALLOWLIST entry {entry!r} is not a CIDR, an address or a host name"
                ) from None
        found.append(entry)
    return found


MTLS_MODES = ("required", "optional")
# TLS 1.2 only with forward secrecy and AEAD; TLS 1.3 suites are OpenSSL's (all of them are both).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def _check_tls(cfg: dict[str, Any]) -> None:
    """Half a TLS configuration must not silently serve plain HTTP, and files that cannot be loaded must
    stop the start with a line naming the setting, not a worker traceback after the bind."""
    cert, key, ca = cfg["TLS_CERT_PATH"], cfg["TLS_KEY_PATH"], cfg["CLIENT_CA_PATH"]
    if bool(cert) != bool(key):
        raise ConfigError("TLS_CERT_PATH and TLS_KEY_PATH must be set together")
    if ca and not cert:
        raise ConfigError("CLIENT_CA_PATH (mutual TLS) needs TLS_CERT_PATH and TLS_KEY_PATH")
    mode = str(cfg["MTLS_MODE"] or "").strip().lower()
    if mode and not ca:
        raise ConfigError("MTLS_MODE needs CLIENT_CA_PATH (the CA that signs client certificates)")
    if mode and mode not in MTLS_MODES:
        raise ConfigError(f"MTLS_MODE must be required or optional, got {cfg['MTLS_MODE']!r}")
    cfg["MTLS_MODE"] = (mode or "required") if ca else ""
    if cert:
        server_tls_context(cfg)  # raises ConfigError naming the file that cannot be used


_GROUP_MAP_EXAMPLE = "e.g. 'payments-team=accounts_*;weather-team=weather_*,forecast_*'"


def _names(raw: Any, separator: str = ",") -> list[str]:
    items = raw.split(separator) if isinstance(raw, str) else list(raw or ())
    return [str(item).strip() for item in items if str(item).strip()]


def group_scope_map(raw: Any) -> dict[str, list[str]]:
    """OAUTH_GROUP_SCOPE_MAP as {group: [glob, …]}; ConfigError names the entry it cannot read."""
    if isinstance(raw, Mapping):
        return {str(group): _names(globs) for group, globs in raw.items()}
    found: dict[str, list[str]] = {}
    for entry in _names(raw, ";"):
        group, equals, globs = entry.partition("=")
        scopes = _names(globs.replace(" ", ","))
        if not equals or not group.strip() or not scopes:
            raise ConfigError(
                f"OAUTH_GROUP_SCOPE_MAP entry {entry!r} is not 'group=glob[,glob…]'; entries are separated "
                f"by ';' ({_GROUP_MAP_EXAMPLE})"
            )
        if group.strip() in found:
            raise ConfigError(f"OAUTH_GROUP_SCOPE_MAP names group {group.strip()!r} twice ({_GROUP_MAP_EXAMPLE})")
        found[group.strip()] = scopes
    return found


def _check_oauth(cfg: dict[str, Any]) -> None:
    """The resource server's settings: issuer URLs, the resource they must name, the group map."""
    cfg["OAUTH_ISSUERS"] = issuers = _names(cfg["OAUTH_ISSUERS"])
    cfg["OAUTH_ADMIN_GROUPS"] = _names(cfg["OAUTH_ADMIN_GROUPS"])
    supported = cfg["OAUTH_SCOPES_SUPPORTED"]
    cfg["OAUTH_SCOPES_SUPPORTED"] = _names(supported.replace(" ", ",") if isinstance(supported, str) else supported)
    cfg["OAUTH_GROUP_SCOPE_MAP"] = group_scope_map(cfg["OAUTH_GROUP_SCOPE_MAP"])
    cfg["OAUTH_SCOPES_CLAIM"] = str(cfg["OAUTH_SCOPES_CLAIM"] or "").strip()
    cfg["OAUTH_GROUPS_CLAIM"] = str(cfg["OAUTH_GROUPS_CLAIM"] or "").strip()
    for name in ("OAUTH_JWKS_CACHE_SECONDS", "OAUTH_JWKS_MIN_REFETCH_SECONDS"):
        if not cfg[name] >= 0:
            raise ConfigError(f"{name} must be 0 or more seconds, got {cfg[name]}")
    for issuer in issuers:
        try:
            parts = urlsplit(issuer)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError:
            raise ConfigError(f"OAUTH_ISSUERS entry {issuer!r} is not a URL") from None
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if (
            not parts.hostname
            or parts.scheme not in ("https", "http")
            or (parts.scheme == "http" and not loopback)
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ConfigError(
                f"OAUTH_ISSUERS entry {issuer!r} is not an issuer identifier: an https URL without query or "
                "fragment, exactly as the authorization server's metadata and its tokens' 'iss' spell it"
            )
    if issuers and not cfg["PUBLIC_URL"]:
        raise ConfigError(
            "OAUTH_ISSUERS needs PUBLIC_URL: access tokens must name this gateway's resource, "
            "PUBLIC_URL + '/mcp', in their audience"
        )


def server_tls_context(cfg: Mapping[str, Any], *, deferred_handshake: bool = False) -> Any:
    """The gateway's TLS server context: TLS 1.2 or newer (1.3 whenever the client has it), the
    certificate and key, and with CLIENT_CA_PATH client certificates from that CA alone (never the
    system's CAs). gunicorn builds it in each worker (janus.gunicorn_conf.ssl_context), after gevent
    patched `ssl`. `deferred_handshake`: its sockets handshake on the first read or write, or when
    JanusGeventWorker.handle asks, not inside gevent's accept loop."""
    import ssl

    cert, key, ca = cfg["TLS_CERT_PATH"], cfg["TLS_KEY_PATH"], cfg["CLIENT_CA_PATH"]
    for name, path in (("TLS_CERT_PATH", cert), ("TLS_KEY_PATH", key), ("CLIENT_CA_PATH", ca)):
        if not path:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(f"{name} {path!r} cannot be read: {exc.strerror or exc}") from None
    context = (_deferred_handshake_class(ssl.SSLContext) if deferred_handshake else ssl.SSLContext)(
        ssl.PROTOCOL_TLS_SERVER
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers(TLS12_CIPHERS)

    def no_passphrase() -> str:
        raise ConfigError(f"TLS_KEY_PATH {key!r} is encrypted: give Janus an unencrypted key (mode 0600)")

    try:
        context.load_cert_chain(certfile=cert, keyfile=key, password=no_passphrase)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"TLS_CERT_PATH {cert!r} and TLS_KEY_PATH {key!r} are not a PEM certificate and its "
            f"matching private key ({exc.reason or exc})"
        ) from None
    if ca:
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError as exc:
            raise ConfigError(f"CLIENT_CA_PATH {ca!r} holds no PEM CA certificate ({exc.reason or exc})") from None
        mode = str(cfg.get("MTLS_MODE") or "required").lower()
        context.verify_mode = ssl.CERT_OPTIONAL if mode == "optional" else ssl.CERT_REQUIRED
    return context


def _deferred_handshake_class(base: type) -> type:
    """`base` (the ssl module's SSLContext as it is now: gevent's in a patched worker) with sockets that
    do not handshake while being wrapped."""

    class DeferredHandshakeContext(base):
        def wrap_socket(self, sock, *args, **kwargs):
            kwargs["do_handshake_on_connect"] = False
            return super().wrap_socket(sock, *args, **kwargs)

    return DeferredHandshakeContext


def _group_list(raw: Any) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else list(raw or ())
    return [str(g).strip() for g in items if str(g).strip()]


def _check_oidc(cfg: dict[str, Any]) -> None:
    """Half an SSO configuration must fail the start, not every sign-in."""
    cfg["OIDC_ADMIN_GROUPS"] = _group_list(cfg["OIDC_ADMIN_GROUPS"])
    cfg["OIDC_VIEWER_GROUPS"] = _group_list(cfg["OIDC_VIEWER_GROUPS"])
    issuer = str(cfg["OIDC_ISSUER"] or "").strip().rstrip("/")
    cfg["OIDC_ISSUER"] = issuer
    if not issuer:
        if cfg["OIDC_ONLY"]:
            raise ConfigError("OIDC_ONLY=true needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET")
        return
    if not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ConfigError(f"OIDC_ISSUER must be an https:// URL (plain http only on loopback), got {issuer!r}")
    if not cfg["OIDC_CLIENT_ID"]:
        raise ConfigError("OIDC_ISSUER is set but OIDC_CLIENT_ID is not")
    if not cfg["OIDC_ADMIN_GROUPS"] and not cfg["OIDC_VIEWER_GROUPS"]:
        raise ConfigError(
            "OIDC_ISSUER is set but neither OIDC_ADMIN_GROUPS nor OIDC_VIEWER_GROUPS is: nobody could sign in "
            "(a person in no listed group is refused, never given a default role)"
        )
    if not str(cfg["OIDC_GROUPS_CLAIM"] or "").strip():
        raise ConfigError("OIDC_GROUPS_CLAIM must name a claim (default 'groups')")
    if "openid" not in str(cfg["OIDC_SCOPES"]).split():
        raise ConfigError("OIDC_SCOPES must include 'openid'")
    if not cfg["OIDC_TIMEOUT_SECONDS"] > 0:
        raise ConfigError("OIDC_TIMEOUT_SECONDS must be a positive number of seconds")
