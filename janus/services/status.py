"""The gateway's own status and the five checks of `mcp-cli verify`."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import func, inspect, select

from janus.extensions import db
from janus.models import SCHEMA_REVISION, AuditRollup, ClientToken, Connection, Endpoint, McpSession
from janus.services import audit_rollups
from janus.services.bootstrap import current_revision
from janus.version import __version__

if TYPE_CHECKING:  # the executor's module loads urllib3 and ssl: the portal's status pages do not need them
    from janus.gateway.executor import Executor

STARTED = time.time()
PROBE_TIMEOUT = 5.0
PROBE_PARALLEL = 8  # greenlets under gunicorn+gevent: a slow upstream does not hold up the others


def status() -> dict[str, Any]:
    cfg = current_app.config
    counts = {
        "connections": db.session.scalar(select(func.count(Connection.id))),
        "tools": db.session.scalar(select(func.count(Endpoint.id))),
        "tokens": db.session.scalar(select(func.count(ClientToken.id))),
        "active_sessions": db.session.scalar(select(func.count(McpSession.id)).where(McpSession.ended_at.is_(None))),
    }
    return {
        "version": __version__,
        "uptime_seconds": round(time.time() - STARTED, 1),
        "port": cfg["PORT"],
        "database": cfg["DATABASE_KIND"],
        "schema_revision": current_revision(),
        "vault_provider": cfg["VAULT_PROVIDER"],
        "vault_read_only": bool(cfg.get("VAULT_READ_ONLY")),
        "tls": bool(cfg["TLS_CERT_PATH"]),
        "mtls": bool(cfg["CLIENT_CA_PATH"]),
        "oidc": bool(cfg["OIDC_ISSUER"]),
        "counts": counts,
    }


def settings_overview() -> list[dict[str, Any]]:
    """The gateway's effective settings that matter to security, for the portal (figure 7). No secret
    values: the database URL without its password, and for SSO and TLS only whether they are on."""
    from sqlalchemy.engine import make_url

    cfg = current_app.config
    tls = bool(cfg.get("TLS_CERT_PATH") and cfg.get("TLS_KEY_PATH"))
    database = make_url(cfg["SQLALCHEMY_DATABASE_URI"])
    where = (
        database.database if database.get_backend_name() == "sqlite" else database.render_as_string(hide_password=True)
    )
    return [
        {
            "label": "HTTP/HTTPS bind",
            "value": f"{cfg['HOST']}:{cfg['PORT']}",
            "state": None,
            "note": f"{cfg['WEB_CONCURRENCY']} gunicorn gevent workers",
        },
        {"label": "Database", "value": where, "state": None, "note": cfg["DATABASE_KIND"]},
        {
            "label": "OIDC single sign-on",
            "value": cfg.get("OIDC_ISSUER") or None,
            "state": "SSO CONFIGURED" if cfg.get("OIDC_ISSUER") else "SSO DISABLED",
            "ok": bool(cfg.get("OIDC_ISSUER")),
            "note": None
            if cfg.get("OIDC_ISSUER")
            else "Set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET; "
            "until then admins sign in with a username and password",
        },
        {
            "label": "TLS",
            "value": None,
            "state": "HTTPS" if tls else "UNENCRYPTED (HTTP)",
            "ok": tls,
            "note": None if tls else "Set TLS_CERT_PATH and TLS_KEY_PATH, or terminate TLS at a proxy in front",
        },
        {
            "label": "Mutual TLS (mTLS)",
            "value": None,
            "state": f"MTLS {str(cfg.get('MTLS_MODE') or 'required').upper()}"
            if tls and cfg.get("CLIENT_CA_PATH")
            else "MTLS DISABLED",
            "ok": bool(tls and cfg.get("CLIENT_CA_PATH")),
            "note": None
            if tls and cfg.get("CLIENT_CA_PATH")
            else "Clients authenticate with their bearer token only; "
            "set CLIENT_CA_PATH (with TLS) to require certificates",
        },
    ]


def verify(executor: Executor) -> dict[str, Any]:
    """Steps 2–5 of the reference's diagnostics (step 1, reaching the server, is the client's).

    `executor` is the process's (janus.runtime), which probes the connections."""
    checks: list[dict[str, Any]] = [{"step": "admin_token", "ok": True, "detail": "Token Verified"}]
    try:
        revision = current_revision()
        tables_ok = inspect(db.engine).has_table("connections") and revision == SCHEMA_REVISION
        n_conn = db.session.scalar(select(func.count(Connection.id)))
        n_tools = db.session.scalar(select(func.count(Endpoint.id)))
        checks.append(
            {
                "step": "database",
                "ok": tables_ok,
                "detail": f"{n_conn} Connections, {n_tools} Tools Registered"
                if tables_ok
                else f"schema revision {revision!r}, expected {SCHEMA_REVISION!r}",
            }
        )
    except Exception as exc:  # noqa: BLE001 - the report must be complete even when a step fails
        checks.append({"step": "database", "ok": False, "detail": type(exc).__name__})
    try:
        from janus.vault import app_vault

        keys = app_vault(current_app).list()
        checks.append({"step": "vault", "ok": True, "detail": f"{len(keys)} Secret Keys Available"})
    except Exception as exc:  # noqa: BLE001 - any provider's failure is reported, not raised
        checks.append({"step": "vault", "ok": False, "detail": str(exc)[:200]})
    targets = health(executor)
    checks.append(
        {
            "step": "targets",
            "ok": all(t["ok"] and t["circuit"] == "closed" for t in targets),
            "detail": f"{sum(t['ok'] for t in targets)}/{len(targets)} OK",
        }
    )
    return {"checks": checks, "targets": targets}


def dashboard() -> dict[str, Any]:
    """The portal's headline numbers: catalog size, calls in the last 24 h and their mean latency.

    The 24 hours start on the minute (up to 59 s more than 24 h): they are summed from the audit
    rollups (janus.services.audit_rollups), whole hours and the minutes at either edge."""
    audit_rollups.advance()
    now_ts = int(datetime.now(UTC).timestamp())
    start = (now_ts - 24 * 3600) // 60 * 60
    calls, total_ms = db.session.execute(
        select(func.sum(AuditRollup.calls), func.sum(AuditRollup.duration_sum)).where(
            audit_rollups.covering(AuditRollup, start, now_ts // 60 * 60 + 60)
        )
    ).one()
    calls = int(calls or 0)  # PostgreSQL sums a bigint as numeric
    avg_ms = float(total_ms) / calls if calls else None
    sessions = db.session.scalar(select(func.count(McpSession.id)).where(McpSession.ended_at.is_(None)))
    return {
        "connections": db.session.scalar(select(func.count(Connection.id))),
        "tools": db.session.scalar(select(func.count(Endpoint.id))),
        "requests_24h": calls or 0,
        "avg_latency_ms": round(avg_ms, 1) if avg_ms is not None else None,
        "active_sessions": sessions or 0,
        "running_calls": _running_calls(),
        "open_circuits": _open_circuits(),  # upstream resilience (issue 15, item 4)
    }


def _open_circuits() -> list[str] | None:
    from janus.services.circuits import open_circuits

    return open_circuits()


def with_circuits(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with its circuit breaker's state ("closed", "half_open", "open"), as /metrics aggregates it
    over this server's live workers (janus.services.circuits)."""
    from janus.services.circuits import circuit_states

    states = circuit_states()
    for target in targets:
        target["circuit"] = states.get(target["name"], "closed")
    return targets


def _running_calls() -> int | None:
    from janus.gateway.metrics import in_flight

    try:
        return in_flight()
    except Exception:  # noqa: BLE001 - a metrics directory being cleaned up must not break the dashboard
        return None


def health(executor: Executor) -> list[dict[str, Any]]:
    """Every connection's reachability, probed in parallel by `executor` (the dashboard's downstream table, verify)."""
    conns = list(db.session.scalars(select(Connection).order_by(Connection.name)))
    if not conns:
        return []
    with ThreadPoolExecutor(max_workers=min(PROBE_PARALLEL, len(conns))) as pool:
        targets = list(pool.map(lambda conn: _reachability(executor, conn), conns))
    return with_circuits(targets)  # upstream resilience (issue 15, item 4)


def test_connection(executor: Executor, connection_id: str):
    """The portal's "test connection": a GET of the base URL with the connection's credentials, so it
    proves the path and the secret at once (janus.gateway.executor.Probe)."""
    from janus.services.connections import get

    return executor.probe(_spec(get(connection_id)), credentials=True)


def _spec(conn: Connection):
    from janus.gateway.specs import ConnectionSpec

    return ConnectionSpec(
        id=conn.id,
        name=conn.name,
        base_url=conn.base_url,
        auth_type=conn.auth_type,
        auth_secret_ref=conn.auth_secret_ref,
        timeout_seconds=min(conn.timeout_seconds, PROBE_TIMEOUT),
    )


# Why a probe got no answer, as the dashboard and mcp-cli verify word it (UpstreamError kinds).
_NO_ANSWER = {
    "refused": "connection refused",
    "timeout": "timed out",
    "dns": "DNS lookup failed",
    "tls": "TLS error",
    "egress": "refused by the egress policy",
}


def _reachability(executor: Executor, conn: Connection) -> dict[str, Any]:
    """The executor's probe without credentials (dashboard, verify): no secret is read for it."""
    probe = executor.probe(_spec(conn), credentials=False, excerpt_bytes=0)
    return {
        "id": conn.id,
        "name": conn.name,
        "base_url": conn.base_url,
        "enabled": conn.enabled,
        "ok": probe.ok,
        "http_status": probe.http_status,
        "reason": probe.reason if probe.http_status else "",
        "rtt_ms": probe.rtt_ms,
        "error": None if probe.http_status else _NO_ANSWER.get(probe.kind or "", probe.kind),
    }
