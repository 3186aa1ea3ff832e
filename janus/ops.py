"""Operational endpoints: liveness, readiness and the Prometheus exposition."""
from __future__ import annotations

import logging
import os

from flask import Blueprint, Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_flask_exporter import PrometheusMetrics
from sqlalchemy import text

from janus.extensions import db
from janus.transports.http_metrics import EXCLUDED_FROM_FLASK_METRICS
from janus.version import __version__

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)

# HTTP request metrics; created once per process because prometheus_client
# registries are process-global (tests build many apps).
# The MCP transports count their own requests (janus/transports/http_metrics.py).
_http_metrics = PrometheusMetrics.for_app_factory(
    path=None, group_by="endpoint", defaults_prefix="janus",
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
    except Exception as exc:  # any driver error means "not ready", with the reason
        log.warning("readiness check failed: %s", type(exc).__name__)
        return jsonify(status="unavailable", database="unreachable", reason=type(exc).__name__), 503
    finally:
        db.session.remove()
    return jsonify(status="ok", database="reachable")


@bp.get("/metrics")
def metrics():
    # Under gunicorn each worker writes its samples to PROMETHEUS_MULTIPROC_DIR;
    # the collector sums them so any worker answers for the whole server.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        from prometheus_client import ProcessCollector

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        # process_* series are per process: these describe the worker that answered.
        ProcessCollector(registry=registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
