"""`mcp-gateway`: run the server (default) or serve MCP over stdio (`-stdio`).

The reference's flag is the single-dash `-stdio`; `--stdio` works too.
"""

from __future__ import annotations

import argparse
import os
import sys

from janus.version import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-gateway",
        description="Janus MCP gateway. Without options: run the HTTP server (portal, admin API, MCP over HTTP).",
    )
    parser.add_argument(
        "-stdio", "--stdio", action="store_true", help="serve MCP over stdin/stdout (for Claude Desktop)"
    )
    parser.add_argument("--version", action="version", version=f"mcp-gateway {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from janus.config import ConfigError

    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        # prometheus_client opens files there as soon as a metric exists: make sure it can.
        try:
            os.makedirs(metrics_dir, exist_ok=True)
        except OSError as exc:
            print(f"mcp-gateway: cannot use PROMETHEUS_MULTIPROC_DIR {metrics_dir!r}: {exc.strerror}", file=sys.stderr)
            return 2
    try:
        if args.stdio:
            return run_stdio_command()
        return run_server_command()
    except ConfigError as exc:
        print(f"mcp-gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        # One line that names the database (without its password), not a traceback.
        from janus.config import load

        try:
            where = make_url(load()["SQLALCHEMY_DATABASE_URI"]).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - the message is best effort
            where = "(see DATABASE_URL / DATABASE_PATH)"
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"mcp-gateway: cannot use the database {where}: {reason}", file=sys.stderr)
        return 2


def run_stdio_command() -> int:
    from janus import create_app
    from janus.services.bootstrap import bootstrap
    from janus.transports.stdio import run_stdio

    app = create_app({"SERVE_HTTP": False})
    # Seeds only what is missing: this process's PORT is not where the server's mock runs.
    bootstrap(app, create_admin=False, move_demo_mock=False)
    return run_stdio(app, os.environ.get("MCP_GATEWAY_TOKEN") or app.config["MCP_GATEWAY_TOKEN"] or None)


def run_server_command() -> int:
    """Migrate and seed here, once, then become gunicorn (a fresh process: gevent patches cleanly)."""
    from janus import create_app
    from janus.cli.serve import exec_server
    from janus.config import check_spool_dir

    app = create_app()
    check_spool_dir(app.config["AUDIT_SPOOL_DIR"])  # a clear message here, not a traceback from gunicorn
    return exec_server(app)


if __name__ == "__main__":
    sys.exit(main())
