"""Operational endpoints: liveness, readiness and the Prometheus exposition.

/healthz and /readyz stay open (load balancers probe them by address). /metrics describes
the traffic (tool names, token activity, error rates): it gets the same Origin/Host
allow-lists as the MCP endpoints and needs a bearer — METRICS_TOKEN for a scraper, or an
admin's session (an admin-API JWT, as `mcp-cli metrics` sends, or a portal sign-in) —
unless the operator sets METRICS_PUBLIC=true.

A transport module, though it serves no MCP: it shares the MCP endpoints' edge policy
(janus/transports/edge.py) and leaves the requests they count themselves (http_metrics) out of Flask's metrics.
"""

from __future__ import annotations

import hmac
import logging
import os

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_login import current_user
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_flask_exporter import PrometheusMetrics
from sqlalchemy import text

from janus.auth.session_jwt import InvalidSession, verify
from janus.extensions import db
from janus.services import sign_ins
from janus.transports import edge
from janus.transports.http_common import json_response
from janus.transports.http_metrics import EXCLUDED_FROM_FLASK_METRICS
from janus.version import __version__

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)

# HTTP request metrics; created once per process because prometheus_client
# registries are process-global (tests build many apps).
# The MCP transports count their own requests (janus/transports/http_metrics.py).
_http_metrics = PrometheusMetrics.for_app_factory(
    path=None,
    group_by="endpoint",
    defaults_prefix="janus",
    excluded_paths=["^/metrics$", "^/healthz$", *EXCLUDED_FROM_FLASK_METRICS],
)


def init_http_metrics(app: Flask) -> None:
    _http_metrics.init_app(app)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok", version=__version__)


@bp.get("/readyz")
def readyz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error means "not ready", with the reason
        log.warning("readiness check failed: %s", type(exc).__name__)
        return jsonify(status="unavailable", database="unreachable", reason=type(exc).__name__), 503
    finally:
        db.session.remove()
    return jsonify(status="ok", database="reachable")


@bp.get("/metrics")
def metrics():
    refusal = edge.refusal() or _metrics_auth_refusal()
    if refusal is not None:
        return refusal
    # Under gunicorn each worker writes its samples to PROMETHEUS_MULTIPROC_DIR;
    # the collector sums them so any worker answers for the whole server.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import ProcessCollector, multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        # process_* series are per process: these describe the worker that answered.
        ProcessCollector(registry=registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _metrics_auth_refusal():
    """None when this request may read /metrics, else the 401/403 answer."""
    config = current_app.config
    if config["METRICS_PUBLIC"]:
        return None
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential:
        expected = config["METRICS_TOKEN"]
        if expected and hmac.compare_digest(credential.encode(), expected.encode()):
            return None
        try:
            claims = verify(config["JWT_SECRET"], credential)
        except InvalidSession:
            # One message for a wrong METRICS_TOKEN and a bad session: no oracle for either.
            return _metrics_unauthorized("The bearer is neither METRICS_TOKEN nor a valid admin session.")
        # The same server-side check as the admin API: logged out, new password, disabled or deleted all end it.
        user = sign_ins.resolve_api(claims["sid"], claims["sub"], claims["cv"])  # verify() checked all three
        if user is None:
            return _metrics_unauthorized("The session's user no longer exists or is disabled.")
        if user["role"] != "admin":
            return json_response(
                {"error": "forbidden", "message": f"user {user['username']!r} is not an admin; /metrics needs one"}, 403
            )
        return None
    if current_user.is_authenticated:
        if getattr(current_user, "is_admin", False):
            return None
        return json_response({"error": "forbidden", "message": "/metrics needs an admin sign-in"}, 403)
    return _metrics_unauthorized("/metrics needs 'Authorization: Bearer <METRICS_TOKEN or admin session token>'.")


def _metrics_unauthorized(message: str):
    return json_response(
        {"error": "unauthorized", "message": message}, 401, {edge.WWW_AUTHENTICATE: 'Bearer realm="janus-metrics"'}
    )
