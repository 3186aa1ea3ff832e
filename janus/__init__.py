"""Janus: an MCP gateway that turns registered REST endpoints into MCP tools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from janus.version import __version__

if TYPE_CHECKING:  # importing `janus` stays cheap (gunicorn's master imports its config from here)
    from flask import Flask

__all__ = ["create_app", "__version__"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, CLI. No migrations, prompts or network.

    With SERVE_HTTP false (set by `mcp-gateway -stdio`) only the config and
    the database are set up: a stdio process serves no HTTP, and skipping the
    blueprints and the CLI keeps its start-up fast.
    """
    from flask import Flask

    from janus import config as config_module
    from janus import database, logs
    from janus.extensions import db
    from janus.gateway.tracing import current_trace_id
    from janus.models import track_catalog_changes
    from janus.sessions_cookie import CachedSerializerSessionInterface

    app = Flask(__name__)
    app.config.update(config_module.load(config))
    app.session_interface = CachedSerializerSessionInterface()
    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"], trace_source=current_trace_id)

    db.init_app(app)  # builds the app's engines; none has connected yet
    with app.app_context():
        for engine in db.engines.values():
            database.install_engine_hooks(engine)
    track_catalog_changes()
    if app.config["SERVE_HTTP"]:
        _register_http(app)
    return app


def _register_http(app: Flask) -> None:
    from janus import errors, portal
    from janus.admin_api import apidocs
    from janus.admin_api import bp as admin_api_bp
    from janus.cli import register_cli
    from janus.mock import bp as mock_bp
    from janus.services.errors import (
        DATABASE_RETRY_AFTER_SECONDS,
        DATABASE_UNAVAILABLE_MESSAGE,
        database_unavailable,
        unavailable_reason,
    )
    from janus.transports import streamable_http
    from janus.transports.ops import bp as ops_bp
    from janus.transports.ops import init_http_metrics
    from janus.transports.protected_resource import bp as protected_resource_bp
    from janus.transports.rest_tools import bp as rest_tools_bp
    from janus.transports.sse import bp as sse_bp

    app.register_blueprint(ops_bp)
    if app.config["SEED_DEMO_DATA"]:
        # The demo's mock upstreams are open endpoints: they exist only where the demo is wanted.
        app.register_blueprint(mock_bp)
    app.register_blueprint(sse_bp)
    app.register_blueprint(protected_resource_bp)
    app.register_blueprint(admin_api_bp)
    app.register_blueprint(apidocs.bp)  # /apidocs/ and its OpenAPI document, served by Janus itself
    app.register_blueprint(rest_tools_bp)
    # CSRF guards the portal's cookie session; the other blueprints take bearer tokens, never cookies.
    portal.init_app(app, csrf_exempt=list(app.blueprints.values()))
    init_http_metrics(app)
    errors.init_app(
        app,
        unavailable=database_unavailable,
        reason=unavailable_reason,
        message=DATABASE_UNAVAILABLE_MESSAGE,
        retry_after=DATABASE_RETRY_AFTER_SECONDS,
    )
    register_cli(app)
    # /mcp is served beside Flask, not through it (the hot path; see janus/transports/wire.py).
    streamable_http.mount(app)
