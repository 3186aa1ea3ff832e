"""`flask janus …`: server-side operations that run where the database is."""
from __future__ import annotations

import os
import sys

import click
from flask import current_app


@click.group(name="janus", help="Janus gateway operations.")
def janus_group() -> None:
    pass


@janus_group.command("serve", help="Migrate, seed (SEED_DEMO_DATA) and run the gunicorn+gevent server.")
def serve_command() -> None:
    from janus.cli.gateway import run_server_command

    sys.exit(run_server_command())


@janus_group.command("stdio", help="Serve MCP over stdin/stdout (token from MCP_GATEWAY_TOKEN).")
def stdio_command() -> None:
    from janus.services.bootstrap import bootstrap
    from janus.transports.stdio import run_stdio

    app = current_app._get_current_object()
    bootstrap(app, create_admin=False)
    sys.exit(run_stdio(app, os.environ.get("MCP_GATEWAY_TOKEN") or app.config["MCP_GATEWAY_TOKEN"] or None))


@janus_group.command("bootstrap", help="Migrate the database, create the first admin, seed the demo if enabled.")
def bootstrap_command() -> None:
    from janus.services.bootstrap import bootstrap

    bootstrap(current_app._get_current_object())
    click.echo("database ready")
